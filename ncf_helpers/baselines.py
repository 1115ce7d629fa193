"""Non-neural baselines, fitted on the same train split as the neural models.

Every baseline follows one small interface::

    model = BiasBaseline().fit(users, items, ratings, n_users, n_items)
    model.predict(users, items)   # -> np.ndarray of float
    model(users, items)           # same thing: a baseline is also a scorer

``users`` and ``items`` are 0-based int64 index arrays (see ``data.py``).
"""
import numpy as np

from . import checks


class _Baseline:
    """Input validation and the scorer interface shared by the baselines."""

    rating_range = None  # no clipping

    def __call__(self, users, items):
        return self.predict(users, items)

    def _validate_fit(self, users, items, ratings, n_users, n_items, need_ratings=True):
        if self.rating_range is not None:
            checks.bounds(self.rating_range, "rating_range")
        self.n_users_ = checks.positive_int(n_users, "n_users")
        self.n_items_ = checks.positive_int(n_items, "n_items")
        users = checks.index_array(users, "users", self.n_users_)
        items = checks.index_array(items, "items", self.n_items_)
        checks.non_empty(users, f"the training set of {type(self).__name__}")
        arrays = {"users": users, "items": items}
        if need_ratings or ratings is not None:  # Popularity ignores ratings, if it has them
            arrays["ratings"] = checks.finite_array(ratings, "ratings")
        checks.same_length(**arrays)
        return users, items, arrays.get("ratings")

    def _validate_predict(self, users, items):
        checks.fitted(self, "n_items_")
        users = checks.index_array(users, "user index", self.n_users_)
        items = checks.index_array(items, "item index", self.n_items_)
        checks.same_length(users=users, items=items)
        return users, items

    def _clip(self, predictions):
        return predictions if self.rating_range is None else np.clip(predictions,
                                                                    *self.rating_range)


class GlobalMean(_Baseline):
    """Predict the mean training rating for every (user, item) pair.

    The floor any rating model must beat.

    Parameters
    ----------
    rating_range : (float, float), optional
        Clip predictions to this range, e.g. ``(1, 5)`` for MovieLens.

    Attributes
    ----------
    mean_ : float
        The mean training rating.
    """

    def __init__(self, rating_range=None):
        self.rating_range = rating_range

    def fit(self, users, items, ratings, n_users, n_items):
        """Learn the mean rating. Returns ``self``."""
        _, _, ratings = self._validate_fit(users, items, ratings, n_users, n_items)
        self.mean_ = float(ratings.mean())
        return self

    def predict(self, users, items):
        """Predicted ratings, one per (user, item) pair."""
        users, _ = self._validate_predict(users, items)
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

    def __init__(self, reg_user=5.0, reg_item=3.0, n_iters=10, rating_range=None):
        self.reg_user = reg_user
        self.reg_item = reg_item
        self.n_iters = n_iters
        self.rating_range = rating_range

    def fit(self, users, items, ratings, n_users, n_items):
        """Learn the global mean and the user and item biases. Returns ``self``."""
        reg_user = checks.finite_number(self.reg_user, "reg_user", minimum=0)
        reg_item = checks.finite_number(self.reg_item, "reg_item", minimum=0)
        n_iters = checks.positive_int(self.n_iters, "n_iters")
        users, items, ratings = self._validate_fit(users, items, ratings, n_users, n_items)

        mu = ratings.mean()
        residual = ratings - mu
        # A user or item without ratings gets 0 / (reg + 0); guard reg == 0 too.
        user_denom = np.maximum(np.bincount(users, minlength=self.n_users_) + reg_user, 1e-12)
        item_denom = np.maximum(np.bincount(items, minlength=self.n_items_) + reg_item, 1e-12)
        b_user = np.zeros(self.n_users_)
        for _ in range(n_iters):
            b_item = np.bincount(items, residual - b_user[users], self.n_items_) / item_denom
            b_user = np.bincount(users, residual - b_item[items], self.n_users_) / user_denom

        self.mean_, self.user_bias_, self.item_bias_ = float(mu), b_user, b_item
        return self

    def predict(self, users, items):
        """Predicted ratings ``mu + b_user + b_item``, one per (user, item) pair."""
        users, items = self._validate_predict(users, items)
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

    def fit(self, users, items, ratings=None, n_users=None, n_items=None):
        """Count the training interactions of every item. Returns ``self``.

        ``n_users`` and ``n_items`` are required; ``ratings`` is accepted (and
        ignored) so every baseline fits with the same call.
        """
        _, items, _ = self._validate_fit(users, items, ratings, n_users, n_items,
                                         need_ratings=False)
        self.counts_ = np.bincount(items, minlength=self.n_items_)
        return self

    def predict(self, users, items):
        """Popularity score (train interaction count) of each item; users are ignored."""
        _, items = self._validate_predict(users, items)
        return self.counts_[items].astype(np.float64)
