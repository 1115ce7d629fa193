"""Non-neural baselines, fitted on the same train split as the neural models.

Every baseline follows the package's contract (:mod:`ncf_helpers.base`)::

    model = BiasBaseline(n_users, n_items).fit((users, items, ratings))
    model.predict(users, items)        # -> np.ndarray of float
    model.recommend(users, n=10, exclude=(train_users, train_items))

``users`` and ``items`` are 0-based int64 index arrays (see ``encoding.py``).
"""
import numpy as np

from . import checks
from .base import Recommender


class _Baseline(Recommender):
    """Sizes, the check of the training data and clipping, shared by the baselines."""

    def __init__(self, n_users, n_items, rating_range=None):
        self.n_users = checks.positive_int(n_users, "n_users")
        self.n_items = checks.positive_int(n_items, "n_items")
        self.rating_range = None if rating_range is None else checks.bounds(rating_range,
                                                                             "rating_range")

    def _train(self, train, need_ratings=True):
        users, items, ratings = checks.interactions(train, self.n_users, self.n_items,
                                                    f"the training set of {type(self).__name__}",
                                                    need_targets=need_ratings)
        return users, items, ratings

    def predict(self, users, items):
        checks.fitted(self, "fitted_", "call fit(train) first")
        return super().predict(users, items)

    def _clip(self, predictions):
        return predictions if self.rating_range is None else np.clip(predictions,
                                                                    *self.rating_range)


class GlobalMean(_Baseline):
    """Predict the mean training rating for every (user, item) pair.

    The floor any rating model must beat.

    Parameters
    ----------
    n_users, n_items : int
    rating_range : (float, float), optional
        Clip predictions to this range, e.g. ``(1, 5)`` for MovieLens.

    Attributes
    ----------
    mean_ : float
        The mean training rating.
    """

    def fit(self, train):
        """Learn the mean rating of ``train = (users, items, ratings)``. Returns ``self``."""
        _, _, ratings = self._train(train)
        self.mean_ = float(ratings.mean())
        self.fitted_ = True
        return self

    def _predict(self, users, items):
        return self._clip(np.full(len(users), self.mean_))


class BiasBaseline(_Baseline):
    """Baseline predictor ``mu + b_user + b_item`` with regularised biases.

    Koren's baseline predictors: the biases minimise

    ``sum (r - mu - b_u - b_i)^2 + reg_user * sum b_u^2 + reg_item * sum b_i^2``,

    fitted by alternating closed-form ridge updates (each is exact given the
    other). A user or item with few ratings is shrunk towards zero, i.e. towards
    the global mean ``mu``.

    Parameters
    ----------
    n_users, n_items : int
    reg_user, reg_item : float, default 5.0 and 3.0
        Shrinkage of user and item biases, in units of "pseudo-ratings". The
        defaults were tuned on ml-100k (RMSE about 0.942 averaged over five random
        90/10 splits; anything from 3 to 10 is within 0.001).
    n_iters : int, default 10
        Alternating rounds (items then users); a few are enough to converge.
    rating_range : (float, float), optional
        Clip predictions to this range, e.g. ``(1, 5)`` for MovieLens.

    Attributes
    ----------
    mean_ : float
        Global mean rating ``mu``.
    user_bias_ : np.ndarray, shape (n_users,)
    item_bias_ : np.ndarray, shape (n_items,)
    """

    def __init__(self, n_users, n_items, reg_user=5.0, reg_item=3.0, n_iters=10,
                 rating_range=None):
        super().__init__(n_users, n_items, rating_range)
        self.reg_user = checks.finite_number(reg_user, "reg_user", minimum=0)
        self.reg_item = checks.finite_number(reg_item, "reg_item", minimum=0)
        self.n_iters = checks.positive_int(n_iters, "n_iters")

    def fit(self, train):
        """Learn the global mean and the user and item biases of
        ``train = (users, items, ratings)``. Returns ``self``."""
        reg_user, reg_item, n_iters = self.reg_user, self.reg_item, self.n_iters
        users, items, ratings = self._train(train)

        mu = ratings.mean()
        residual = ratings - mu
        # A user or item without ratings gets 0 / (reg + 0); guard reg == 0 too.
        user_denom = np.maximum(np.bincount(users, minlength=self.n_users) + reg_user, 1e-12)
        item_denom = np.maximum(np.bincount(items, minlength=self.n_items) + reg_item, 1e-12)
        b_user = np.zeros(self.n_users)
        for _ in range(n_iters):
            b_item = np.bincount(items, residual - b_user[users], self.n_items) / item_denom
            b_user = np.bincount(users, residual - b_item[items], self.n_users) / user_denom

        self.mean_, self.user_bias_, self.item_bias_ = float(mu), b_user, b_item
        self.fitted_ = True
        return self

    def _predict(self, users, items):
        return self._clip(self.mean_ + self.user_bias_[users] + self.item_bias_[items])


class Popularity(_Baseline):
    """Rank items by how often they appear in the training set.

    A non-personalised ranking baseline: every user gets the same scores, so the
    user index only has to be valid. Ratings are ignored (every interaction counts).

    Attributes
    ----------
    counts_ : np.ndarray of int64, shape (n_items,)
        Training interactions per item.
    """

    def __init__(self, n_users, n_items):
        super().__init__(n_users, n_items)

    def fit(self, train):
        """Count the training interactions of every item. Returns ``self``.

        ``train`` is ``(users, items)`` or ``(users, items, ratings)``; ratings are
        ignored, so every baseline fits with the same call.
        """
        _, items, _ = self._train(train, need_ratings=False)
        self.counts_ = np.bincount(items, minlength=self.n_items)
        self.fitted_ = True
        return self

    def _predict(self, users, items):
        return self.counts_[items].astype(np.float64)
