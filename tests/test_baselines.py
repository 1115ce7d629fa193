import numpy as np
import pytest

from ncf_helpers.baselines import BiasBaseline, GlobalMean, Popularity
from ncf_helpers.checks import NotFittedError
from ncf_helpers.metrics import rmse


@pytest.fixture
def biased_ratings():
    """Noise-free ratings mu + b_user + b_item on a dense-ish random sample."""
    rng = np.random.default_rng(0)
    n_users, n_items = 50, 40
    b_user, b_item = rng.normal(0, 0.5, n_users), rng.normal(0, 0.7, n_items)
    b_user -= b_user.mean()
    b_item -= b_item.mean()
    keys = rng.choice(n_users * n_items, size=1200, replace=False)
    users, items = keys // n_items, keys % n_items
    ratings = 3.5 + b_user[users] + b_item[items]
    return users, items, ratings, n_users, n_items, b_user, b_item


def test_global_mean_predicts_the_mean():
    model = GlobalMean(2, 2).fit(([0, 1, 1], [0, 0, 1], [1.0, 2.0, 6.0]))
    assert model.mean_ == 3.0
    np.testing.assert_array_equal(model.predict([0, 1], [1, 1]), [3.0, 3.0])
    clipped = GlobalMean(1, 1, rating_range=(1, 2.5)).fit(([0], [0], [3.0]))
    assert clipped.predict([0], [0]) == [2.5]


def test_bias_baseline_recovers_true_biases(biased_ratings):
    users, items, ratings, n_users, n_items, b_user, b_item = biased_ratings
    model = BiasBaseline(n_users, n_items, reg_user=1e-3, reg_item=1e-3, n_iters=200).fit(
        (users, items, ratings))
    # Biases are identified only up to a shift between users and items.
    shift = model.mean_ - 3.5
    np.testing.assert_allclose(model.user_bias_ + shift / 2, b_user, atol=0.05)
    np.testing.assert_allclose(model.item_bias_ + shift / 2, b_item, atol=0.05)
    assert rmse(ratings, model.predict(users, items)) < 0.01


def test_bias_baseline_beats_global_mean_on_held_out_pairs(biased_ratings):
    users, items, ratings, n_users, n_items, *_ = biased_ratings
    noisy = ratings + np.random.default_rng(1).normal(0, 0.3, len(ratings))
    train, test = slice(0, 1000), slice(1000, None)
    bias = BiasBaseline(n_users, n_items).fit((users[train], items[train], noisy[train]))
    mean = GlobalMean(n_users, n_items).fit((users[train], items[train], noisy[train]))
    assert (rmse(noisy[test], bias.predict(users[test], items[test]))
            < 0.8 * rmse(noisy[test], mean.predict(users[test], items[test])))


def test_bias_baseline_shrinks_rare_items_and_clips():
    # Item 1 has a single high rating: regularisation pulls it towards the mean.
    train = (np.array([0, 1, 2, 0]), np.array([0, 0, 0, 1]), np.array([3.0, 3.0, 3.0, 5.0]))
    free = BiasBaseline(3, 2, reg_user=0, reg_item=0, n_iters=50).fit(train)
    shrunk = BiasBaseline(3, 2, reg_user=0, reg_item=5).fit(train)
    assert free.predict([1], [1])[0] > shrunk.predict([1], [1])[0]
    assert free.predict([1], [1])[0] > 4
    clipped = BiasBaseline(3, 2, reg_user=0, reg_item=0, rating_range=(1, 4)).fit(train)
    assert clipped.predict([0, 1], [1, 1]).max() == 4


def test_a_user_or_item_without_ratings_gets_the_mean():
    model = BiasBaseline(4, 5).fit(([0, 1, 1], [0, 0, 2], [5.0, 3.0, 4.0]))
    assert model.user_bias_[3] == 0 and model.item_bias_[4] == 0
    assert model.predict([3], [4])[0] == pytest.approx(model.mean_)


def test_popularity_ranks_by_count_with_or_without_ratings():
    items = np.array([2, 2, 2, 0, 0, 1])
    model = Popularity(1, 4).fit((np.zeros(6, dtype=int), items))
    np.testing.assert_array_equal(model.predict([0, 0, 0, 0], [0, 1, 2, 3]), [2, 1, 3, 0])
    rated = Popularity(1, 4).fit((np.zeros(6, dtype=int), items, np.full(6, 5.0)))
    np.testing.assert_array_equal(rated.counts_, model.counts_)  # ratings are ignored


def test_baselines_recommend_like_the_models():
    model = Popularity(3, 5).fit(([0, 1, 2, 2, 1, 0], [4, 4, 4, 1, 1, 3]))
    items, scores = model.recommend([0, 2], n=3, exclude=([0, 0], [4, 3]))
    # everyone gets the same order; user 0 has seen 4 and 3
    assert items.tolist() == [[1, 0, 2], [4, 1, 3]]
    assert scores.tolist() == [[2.0, 0.0, 0.0], [3.0, 2.0, 1.0]]
    items, scores = model.recommend([0], n=7)  # more than the catalogue: padded
    assert items[0, 5:].tolist() == [-1, -1] and (scores[0, 5:] == -np.inf).all()


def test_recommend_checks_its_arguments():
    model = Popularity(3, 5).fit(([0, 1], [4, 4]))
    with pytest.raises(IndexError, match=r"users must be in \[0, 3\); found 3"):
        model.recommend([3])
    with pytest.raises(ValueError, match="n must be an integer >= 1, got 0"):
        model.recommend([0], n=0)
    with pytest.raises(ValueError, match=r"exclude must be a \(users, items\) pair"):
        model.recommend([0], exclude=[0, 1, 2])
    with pytest.raises(IndexError, match=r"exclude items must be in \[0, 5\); found 5"):
        model.recommend([0], exclude=([0], [5]))
    with pytest.raises(ValueError, match="same length"):
        model.recommend([0], exclude=([0, 1], [1]))


@pytest.mark.parametrize("cls", [GlobalMean, BiasBaseline, Popularity])
def test_fit_validation(cls):
    with pytest.raises(ValueError, match="same length"):
        cls(2, 2).fit(([0, 1], [0], [1.0, 2.0]))
    with pytest.raises(ValueError, match="empty.*nothing to train on"):
        cls(2, 2).fit(([], [], []))
    with pytest.raises(ValueError, match=r"tuple of arrays, got list of length 1"):
        cls(2, 2).fit([[0, 1]])
    with pytest.raises(NotFittedError, match=rf"this {cls.__name__} is not fitted yet"):
        cls(2, 2).predict([0], [0])


@pytest.mark.parametrize("cls", [GlobalMean, BiasBaseline, Popularity])
def test_an_index_beyond_the_size_blames_the_size(cls):
    with pytest.raises(IndexError, match=rf"the training set of {cls.__name__} has item index "
                                         r"5, but the model was built for n_items=2: build it "
                                         r"with n_items=6"):
        cls(2, 2).fit(([0, 1], [0, 5], [1.0, 2.0]))


def test_ratings_validation():
    with pytest.raises(ValueError, match="targets contains NaN"):
        BiasBaseline(2, 2).fit(([0, 1], [0, 1], [1.0, np.nan]))
    with pytest.raises(ValueError, match="same length"):
        GlobalMean(2, 2).fit(([0, 1], [0, 1], [1.0]))
    with pytest.raises(ValueError, match=r"\(users, items, targets\) tuple"):
        GlobalMean(2, 2).fit(([0, 1], [0, 1]))  # only Popularity goes without ratings
    with pytest.raises(ValueError, match="reg_user"):
        BiasBaseline(1, 1, reg_user=-1)


@pytest.mark.parametrize("cls", [GlobalMean, BiasBaseline, Popularity])
def test_unknown_index_raises_index_error(cls):
    model = cls(2, 2).fit(([0, 1], [0, 1], [1.0, 2.0]))
    with pytest.raises(IndexError, match=r"users must be in \[0, 2\); found 7"):
        model.predict([7], [0])
    with pytest.raises(IndexError, match=r"items must be in \[0, 2\); found 2"):
        model.predict([0], [2])
