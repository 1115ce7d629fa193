import numpy as np
import pytest

from ncf_helpers.synthetic import SHAPES, shape_of, synthetic_ratings


def test_shape_of_names_custom_and_divisor():
    assert shape_of("ml-25m") == (162_541, 59_047, 25_000_095)
    assert shape_of("943x1682x100000") == (943, 1682, 100_000)
    assert shape_of("ml-25m/10") == (16_254, 59_047, 2_500_009)


@pytest.mark.parametrize("bad", ["ml-7m", "10x10", "axbxc", "ml-1m/0", "ml-1m/x"])
def test_shape_of_rejects_unknown(bad):
    with pytest.raises(ValueError, match="shape"):
        shape_of(bad)


def test_ml1m_shape_is_exact_distinct_and_skewed():
    n_users, n_movies, n_ratings = SHAPES["ml-1m"]
    users, movies, ratings = synthetic_ratings(n_users, n_movies, n_ratings, seed=0)
    assert len(users) == len(movies) == len(ratings) == n_ratings
    assert users.min() >= 0 and users.max() < n_users
    assert movies.min() >= 0 and movies.max() < n_movies
    keys = users.astype(np.int64) * n_movies + movies
    assert len(np.unique(keys)) == n_ratings  # distinct pairs
    assert np.all(np.diff(keys) > 0)  # sorted by user, then movie
    per_user = np.bincount(users, minlength=n_users)
    assert (per_user > 0).all()  # every user has ratings
    assert per_user.max() > 10 * np.median(per_user)  # heavy raters
    per_movie = np.sort(np.bincount(movies, minlength=n_movies))[::-1]
    assert per_movie[: n_movies // 10].sum() > 0.4 * n_ratings  # a long tail
    assert set(np.unique(ratings)) <= set(np.arange(1, 11) / 2)
    assert 3.0 < ratings.mean() < 4.0


def test_same_seed_same_data_other_seed_differs():
    a = synthetic_ratings(50, 40, 600, seed=1)
    b = synthetic_ratings(50, 40, 600, seed=1)
    c = synthetic_ratings(50, 40, 600, seed=2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[1], c[1])


def test_nearly_full_matrix_is_filled_exactly():
    users, movies, _ = synthetic_ratings(5, 4, 19, seed=0)
    assert len(np.unique(users * 4 + movies)) == 19


@pytest.mark.parametrize("args", [(0, 5, 5), (5, 5, 26), (5, 5, 2.5), (True, 5, 5)])
def test_bad_shapes_are_refused(args):
    with pytest.raises(ValueError):
        synthetic_ratings(*args)


def test_the_default_seed_is_the_package_seed():
    from ncf_helpers.utils import DEFAULT_SEED

    default = synthetic_ratings(50, 40, 600)
    assert all(np.array_equal(a, b)
               for a, b in zip(default, synthetic_ratings(50, 40, 600, seed=DEFAULT_SEED)))


@pytest.mark.parametrize("seed", [-1, 1.5, "0"])
def test_bad_seeds_are_refused(seed):
    with pytest.raises(ValueError, match=f"seed must be an integer >= 0, got {seed!r}"):
        synthetic_ratings(5, 5, 5, seed=seed)
