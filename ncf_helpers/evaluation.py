"""Honest evaluation: train on train, choose on validation, score test once.

Two protocols, one per set-up of :mod:`ncf_helpers.prepare`:

* rating prediction (:func:`train_rating_model`, :func:`rating_scores`,
  :func:`results_table`): RMSE and MAE of predicted star ratings;
* top-K ranking (:class:`RankingProtocol`, :func:`train_ranking_model`): HR@K
  and NDCG@K of the held-out item, ranked among 99 sampled unrated items
  ("sampled") and among *every* unrated item ("full").

Plus small helpers for looking inside a model: :func:`pca_2d`,
:func:`primary_genre`, :func:`top_rated`.
"""
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .losses import BCEL1L2Loss, MSEL1L2Loss
from .metrics import (full_ranking_metrics, mae, model_scorer,
                      ranking_metrics_from_candidates, rmse, sample_candidates)
from .sampling import NegativeSampler
from .training import fit, rmse_metric

__all__ = [
    "train_rating_model",
    "rating_scores",
    "results_table",
    "RankingProtocol",
    "train_ranking_model",
    "metric_ranks",
    "pca_2d",
    "primary_genre",
    "top_rated",
]


# ---------------------------------------------------------------------------
# rating prediction
# ---------------------------------------------------------------------------
def train_rating_model(model, split, l2_weight=0.0, **fit_kwargs):
    """Fit a rating model on ``split.train``, early-stopping on validation RMSE.

    Parameters
    ----------
    model : RecModel
        A rating model (``"bounded"`` or ``"linear"`` head).
    split : PreparedSplit
        E.g. :func:`ncf_helpers.prepare.seed_split`. The test part is not touched.
    l2_weight : float, default 0.0
        Weight of the squared-L2 penalty of :class:`MSEL1L2Loss`.
    **fit_kwargs
        Passed to :func:`ncf_helpers.training.fit` (epochs, batch_size, lr, ...).

    Returns
    -------
    pandas.DataFrame
        The :func:`fit` history; ``model`` holds its best-validation weights.
    """
    val_metric = rmse_metric(*split.arrays("val"))
    loss = MSEL1L2Loss(model, l2_weight=l2_weight)
    return fit(model, split.arrays("train"), val_metric, loss, mode="min", **fit_kwargs)


def rating_scores(predict_fn, users, items, ratings):
    """RMSE and MAE of ``predict_fn(users, items)`` against true ``ratings``.

    ``predict_fn`` is any scorer: a fitted baseline or ``model_scorer(model)``.

    Returns
    -------
    dict
        ``{"RMSE": float, "MAE": float}``.
    """
    predictions = np.asarray(predict_fn(users, items), dtype=np.float64)
    return {"RMSE": rmse(ratings, predictions), "MAE": mae(ratings, predictions)}


def results_table(results, sort_by, ascending=True):
    """One row per model from ``{model name: {metric: value}}``, sorted by ``sort_by``.

    Raises
    ------
    ValueError
        If ``results`` is empty or ``sort_by`` is not one of its metrics.
    """
    if not results:
        raise ValueError("results is empty: there is no model to tabulate")
    table = pd.DataFrame.from_dict(results, orient="index")
    if sort_by not in table.columns:
        raise ValueError(f"sort_by={sort_by!r} is not a metric; choose from {list(table.columns)}")
    table.index.name = "model"
    return table.sort_values(sort_by, ascending=ascending)


# ---------------------------------------------------------------------------
# top-K ranking
# ---------------------------------------------------------------------------
@dataclass
class RankingProtocol:
    """Everything a leave-last-out ranking evaluation shares across models.

    Build it with :meth:`from_split`: the candidate lists are drawn **once** (with a
    fixed seed), so every model is ranked against the same negatives.

    Attributes
    ----------
    train, val, test : tuple of numpy.ndarray
        ``(users, items, ratings)`` of each part.
    n_users, n_items : int
    val_candidates, test_candidates : numpy.ndarray of shape (n, 1 + n_negatives)
        Held-out item in column 0, sampled unrated items after it.
    k : int
        The cut-off of HR@K and NDCG@K.
    """

    train: tuple
    val: tuple
    test: tuple
    n_users: int
    n_items: int
    val_candidates: np.ndarray
    test_candidates: np.ndarray
    k: int = 10

    @classmethod
    def from_split(cls, split, n_negatives=99, k=10, seed=0):
        """Draw validation and test candidates from a leave-last-out ``split``.

        Validation negatives avoid the user's train items; test negatives avoid
        train *and* validation items (everything the user rated before the test
        item). ``seed`` seeds the test draw and ``seed + 1`` the validation draw.
        """
        train, val, test = (split.arrays(p) for p in ("train", "val", "test"))
        n_users, n_items = split.encoder.n_users, split.encoder.n_items
        val_candidates = sample_candidates(val[0], val[1], train[0], train[1], n_items,
                                           n_negatives=n_negatives, seed=seed + 1)
        known_u, known_i = cls._known(train, val)
        test_candidates = sample_candidates(test[0], test[1], known_u, known_i, n_items,
                                            n_negatives=n_negatives, seed=seed)
        return cls(train, val, test, n_users, n_items, val_candidates, test_candidates, k)

    @staticmethod
    def _known(train, val):
        return np.concatenate([train[0], val[0]]), np.concatenate([train[1], val[1]])

    def positives(self):
        """Train pairs as implicit feedback: ``(users, items, ones)``."""
        users, items, _ = self.train
        return users, items, np.ones(len(users), dtype=np.float32)

    def val_metric(self):
        """A :func:`fit` metric: sampled HR@K on the validation items (``mode="max"``)."""
        users = self.val[0]

        def metric(model):
            return ranking_metrics_from_candidates(model_scorer(model), users,
                                                   self.val_candidates, self.k)["hit_rate"]
        metric.__name__ = f"hr{self.k}"
        return metric

    def evaluate(self, score_fn):
        """Sampled and full HR@K and NDCG@K on the test items.

        Full ranking candidates are all items the user has not rated in train or
        validation.

        Returns
        -------
        dict
            ``sampled HR``, ``sampled NDCG``, ``full HR``, ``full NDCG``.
        """
        users, items, _ = self.test
        sampled = ranking_metrics_from_candidates(score_fn, users, self.test_candidates, self.k)
        known_u, known_i = self._known(self.train, self.val)
        full = full_ranking_metrics(score_fn, users, items, known_u, known_i, self.n_items,
                                    k=self.k)
        return {"sampled HR": sampled["hit_rate"], "sampled NDCG": sampled["ndcg"],
                "full HR": full["hit_rate"], "full NDCG": full["ndcg"]}


def train_ranking_model(model, protocol, negative_samples_ratio=4, l2_weight=0.0,
                        **fit_kwargs):
    """Fit a ``head="logits"`` model on implicit feedback with cross entropy.

    All train ratings are positives (label 1); each epoch adds
    ``negative_samples_ratio`` fresh uniformly sampled unrated items per positive
    (label 0). Early stopping and the kept weights follow the validation sampled HR@K.

    Returns
    -------
    pandas.DataFrame
        The :func:`fit` history.
    """
    if getattr(model, "head", None) not in ("logits", "linear"):
        raise ValueError("a ranking model needs head='logits' (BCE works on raw scores)")
    users, items, _ = protocol.train
    sampler = NegativeSampler(users, items, protocol.n_items)
    loss = BCEL1L2Loss(model, l2_weight=l2_weight)
    return fit(model, protocol.positives(), protocol.val_metric(), loss, mode="max",
               sampler=sampler, negative_samples_ratio=negative_samples_ratio, **fit_kwargs)


def metric_ranks(table, columns):
    """Rank of each model (1 = best, higher metric is better) under each column."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"columns {missing} are not in the table")
    return table[list(columns)].rank(ascending=False, method="min").astype(int)


# ---------------------------------------------------------------------------
# looking inside a model
# ---------------------------------------------------------------------------
def pca_2d(matrix):
    """Project rows onto their first two principal components (numpy SVD).

    Parameters
    ----------
    matrix : array-like of shape (n, d), d >= 2

    Returns
    -------
    coords : numpy.ndarray of shape (n, 2)
    explained : numpy.ndarray of shape (2,)
        Fraction of the total variance each component explains.
    """
    x = np.asarray(matrix, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 2:
        raise ValueError(f"matrix must be 2-D with at least 2 rows and 2 columns, "
                         f"got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("matrix contains NaN or infinite values")
    x = x - x.mean(axis=0)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    # Fix each component's sign (largest loading positive) so plots are reproducible.
    signs = np.sign(vt[:2, np.argmax(np.abs(vt[:2]), axis=1)].diagonal())
    signs[signs == 0] = 1
    coords = x @ (vt[:2].T * signs)
    total = (s ** 2).sum()
    explained = (s[:2] ** 2) / total if total > 0 else np.zeros(2)
    return coords, explained


def primary_genre(movies, order=None):
    """First listed genre of each movie (``genres`` like ``"Action|Sci-Fi"``).

    Parameters
    ----------
    movies : pandas.DataFrame
        With a ``genres`` column of ``|``-separated names.
    order : sequence of str, optional
        Priority list: the first genre of ``order`` a movie has wins, else
        ``"other"``. Default: the genre as listed first.

    Returns
    -------
    pandas.Series of str, index of ``movies``
    """
    if "genres" not in movies.columns:
        raise ValueError("movies must have a 'genres' column")
    genres = movies["genres"].fillna("").astype(str).str.split("|")
    if order is None:
        return genres.map(lambda g: g[0] if g and g[0] else "unknown")
    order = list(order)
    return genres.map(lambda g: next((name for name in order if name in g), "other"))


def top_rated(ratings, movies, user_id, n=10):
    """The ``n`` movies ``user_id`` rated highest (newest first among ties).

    Returns
    -------
    pandas.DataFrame
        Columns ``movieId``, ``title``, ``rating``.
    """
    mine = ratings[ratings["userId"] == user_id]
    if mine.empty:
        raise KeyError(f"user {user_id} has no ratings")
    mine = mine.sort_values(["rating", "timestamp", "movieId"], ascending=[False, False, True])
    top = mine.head(n)
    titles = movies["title"].reindex(top["movieId"]).to_numpy()
    return pd.DataFrame({"movieId": top["movieId"].to_numpy(), "title": titles,
                         "rating": top["rating"].to_numpy()})
