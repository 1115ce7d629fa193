import numpy as np
import pytest

from ncf_helpers.baselines import BiasBaseline, GlobalMean, Popularity
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
    model = GlobalMean().fit([0, 1, 1], [0, 0, 1], [1.0, 2.0, 6.0], 2, 2)
    assert model.mean_ == 3.0
    np.testing.assert_array_equal(model.predict([0, 1], [1, 1]), [3.0, 3.0])
    assert GlobalMean(rating_range=(1, 2.5)).fit([0], [0], [3.0], 1, 1).predict([0], [0]) == [2.5]


def test_bias_baseline_recovers_true_biases(biased_ratings):
    users, items, ratings, n_users, n_items, b_user, b_item = biased_ratings
    model = BiasBaseline(reg_user=1e-3, reg_item=1e-3, n_iters=200).fit(
        users, items, ratings, n_users, n_items)
    # Biases are identified only up to a shift between users and items.
    shift = model.mean_ - 3.5
    np.testing.assert_allclose(model.user_bias_ + shift / 2, b_user, atol=0.05)
    np.testing.assert_allclose(model.item_bias_ + shift / 2, b_item, atol=0.05)
    assert rmse(ratings, model.predict(users, items)) < 0.01


def test_bias_baseline_beats_global_mean_on_held_out_pairs(biased_ratings):
    users, items, ratings, n_users, n_items, *_ = biased_ratings
    noisy = ratings + np.random.default_rng(1).normal(0, 0.3, len(ratings))
    train, test = slice(0, 1000), slice(1000, None)
    fit = dict(n_users=n_users, n_items=n_items)
    bias = BiasBaseline().fit(users[train], items[train], noisy[train], **fit)
    mean = GlobalMean().fit(users[train], items[train], noisy[train], **fit)
    assert (rmse(noisy[test], bias.predict(users[test], items[test]))
            < 0.8 * rmse(noisy[test], mean.predict(users[test], items[test])))


def test_bias_baseline_shrinks_rare_items_and_clips():
    # Item 1 has a single high rating: regularisation pulls it towards the mean.
    users, items = np.array([0, 1, 2, 0]), np.array([0, 0, 0, 1])
    ratings = np.array([3.0, 3.0, 3.0, 5.0])
    free = BiasBaseline(reg_user=0, reg_item=0, n_iters=50).fit(users, items, ratings, 3, 2)
    shrunk = BiasBaseline(reg_user=0, reg_item=5).fit(users, items, ratings, 3, 2)
    assert free.predict([1], [1])[0] > shrunk.predict([1], [1])[0]
    clipped = BiasBaseline(reg_user=0, reg_item=0, rating_range=(1, 4))
    clipped.fit(users, items, ratings, 3, 2)
    assert clipped.predict([0, 1], [1, 1]).max() <= 4


def test_popularity_ranks_by_count():
    items = np.array([2, 2, 2, 0, 0, 1])
    model = Popularity().fit(np.zeros(6, dtype=int), items, None, n_users=1, n_items=4)
    np.testing.assert_array_equal(model.predict([0, 0, 0, 0], [0, 1, 2, 3]), [2, 1, 3, 0])
    assert list(np.argsort(-model(np.zeros(4, int), np.arange(4)))) == [2, 0, 1, 3]


def test_baselines_are_scorers(biased_ratings):
    users, items, ratings, n_users, n_items, *_ = biased_ratings
    model = BiasBaseline().fit(users, items, ratings, n_users, n_items)
    np.testing.assert_array_equal(model(users[:5], items[:5]), model.predict(users[:5], items[:5]))


@pytest.mark.parametrize("cls", [GlobalMean, BiasBaseline, Popularity])
def test_fit_validation(cls):
    with pytest.raises(ValueError, match="same length"):
        cls().fit([0, 1], [0], [1.0, 2.0], 2, 2)
    with pytest.raises(IndexError, match=r"items must be in \[0, 2\); found 5"):
        cls().fit([0, 1], [0, 5], [1.0, 2.0], 2, 2)
    with pytest.raises(ValueError, match="empty"):
        cls().fit([], [], [], 2, 2)
    with pytest.raises(ValueError, match="not fitted"):
        cls().predict([0], [0])


def test_ratings_validation():
    with pytest.raises(ValueError, match="ratings"):
        BiasBaseline().fit([0, 1], [0, 1], [1.0, np.nan], 2, 2)
    with pytest.raises(ValueError, match="ratings"):
        GlobalMean().fit([0, 1], [0, 1], [1.0], 2, 2)
    with pytest.raises(ValueError, match="reg_user"):
        BiasBaseline(reg_user=-1).fit([0], [0], [1.0], 1, 1)


@pytest.mark.parametrize("cls", [GlobalMean, BiasBaseline, Popularity])
def test_unknown_index_raises_index_error(cls):
    model = cls().fit([0, 1], [0, 1], [1.0, 2.0], 2, 2)
    with pytest.raises(IndexError, match="user index.*found 7"):
        model.predict([7], [0])
    with pytest.raises(IndexError, match="item index.*found 2"):
        model.predict([0], [2])
