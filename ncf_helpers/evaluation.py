"""Honest evaluation: train on train, choose on validation, score test once.

One protocol object per task of the series, and one function that trains and scores
any model or baseline under either of them:

* :class:`RatingProtocol` -- rating prediction on a random split: RMSE and MAE of
  predicted stars; early stopping on validation RMSE.
* :class:`RankingProtocol` -- top-K ranking with leave-last-out: HR@K and NDCG@K of the
  held-out item, ranked among 99 sampled unrated items ("sampled") and among *every*
  unrated item ("full"); early stopping on validation sampled HR@K.
* :func:`train_and_score` builds a seeded model, trains it under a protocol and
  scores its best-validation weights on validation and, once, on test;
  :func:`refit_and_score` retrains on train + validation for a chosen number of epochs;
  :func:`score_baseline` scores anything already fitted. :func:`results_table` and
  :func:`seed_summary` put the :class:`Result` objects side by side.

Metric names follow :mod:`ncf_helpers.metrics` (``rmse``, ``mae``, ``sampled_hr``,
``full_ndcg``, ...); a table prefixes them with the part, ``test_rmse`` or ``val_full_hr``.

Plus small helpers for looking inside a model: :func:`pca_2d`, :func:`primary_genre`,
:func:`top_rated`.
"""
import dataclasses
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from . import checks, metrics
from .base import Recommender
from .training import TrainConfig, fit
from .utils import DEFAULT_SEED

PARTS = ("val", "test")


def _joined(*parts):
    """``(users, items, ratings)`` of several parts, concatenated."""
    return tuple(np.concatenate(arrays) for arrays in zip(*parts))


class _Protocol:
    """The parts of a :class:`PreparedSplit` as arrays, which both protocols evaluate on."""

    default_negatives = 0.0

    def __init__(self, split):
        if not hasattr(split, "arrays") or not hasattr(split, "encoder"):
            raise TypeError(f"split must be a PreparedSplit (e.g. from original_split or "
                            f"last_item_split), got {type(split).__name__}")
        self.train, self.val, self.test = (split.arrays(part) for part in ("train", "val", "test"))
        for part in ("val", "test"):
            checks.non_empty(getattr(self, part)[0], f"the {part} part of the split",
                             "a protocol scores models on it; use a split that gives it rows")
        self.n_users, self.n_items = split.encoder.n_users, split.encoder.n_items

    def training_data(self, refit=False):
        """The ``(users, items, targets)`` to train on: train, plus validation for a refit."""
        return _joined(self.train, self.val) if refit else self.train

    def config(self, config=None):
        """``config`` (default ``TrainConfig()``) with the protocol's negatives where it
        leaves them unset."""
        config = TrainConfig() if config is None else checks.instance(config, TrainConfig,
                                                                       "config")
        if config.negatives is None:
            config = dataclasses.replace(config, negatives=self.default_negatives)
        return config


class RatingProtocol(_Protocol):
    """Rating prediction: RMSE and MAE of predicted stars on a :class:`PreparedSplit`.

    Attributes
    ----------
    train, val, test : tuple of numpy.ndarray
        ``(users, items, ratings)`` of each part.
    n_users, n_items : int
    """

    def val_metric(self):
        """The :func:`fit` metric ``rmse`` on the validation ratings (lower is better)."""
        return metrics.rmse_metric(*self.val)

    def evaluate(self, score_fn, part="test"):
        """``{"rmse", "mae"}`` of ``score_fn`` (e.g. ``model.predict``) on the ``"val"`` or
        ``"test"`` ratings."""
        users, items, ratings = getattr(self, checks.one_of(part, PARTS, "part"))
        predicted = np.asarray(metrics._scorer(score_fn)(users, items), dtype=np.float64)
        return {"rmse": metrics.rmse(ratings, predicted), "mae": metrics.mae(ratings, predicted)}


class RankingProtocol(_Protocol):
    """Everything a leave-last-out ranking evaluation shares across models.

    The candidate lists are drawn **once** (with a fixed seed), so every model is
    ranked against the same items. Validation lists avoid the user's train items; test
    lists avoid train *and* validation items (everything the user rated before the test
    item). ``seed`` seeds the test draw and ``seed + 1`` the validation draw.

    Training under this protocol treats every rating as a positive (target 1) and adds
    4 fresh negatives per positive each epoch, unless the config says otherwise.

    Parameters
    ----------
    split : PreparedSplit
        A leave-last-out split (:func:`~ncf_helpers.prepare.last_item_split`).
    n_sampled : int, default 99
        Unrated items drawn into each candidate list.
    k : int, default 10
        The cut-off of HR@K and NDCG@K.
    seed : int, default 42

    Attributes
    ----------
    train, val, test : tuple of numpy.ndarray
        ``(users, items, ratings)`` of each part.
    n_users, n_items, k : int
    val_candidates, test_candidates : numpy.ndarray of shape (n, 1 + n_sampled)
        Held-out item in column 0, sampled unrated items after it.
    """

    default_negatives = 4.0

    def __init__(self, split, n_sampled=99, k=10, seed=DEFAULT_SEED):
        super().__init__(split)
        self.k = checks.positive_int(k, "k")
        seed = checks.non_negative_int(seed, "seed")
        (train_u, train_i, _), (val_u, val_i, _) = self.train, self.val
        self.val_candidates = metrics.sample_candidates(val_u, val_i, train_u, train_i,
                                                        self.n_items, n_sampled, seed + 1)
        known_u, known_i, _ = _joined(self.train, self.val)
        self.test_candidates = metrics.sample_candidates(*self.test[:2], known_u, known_i,
                                                         self.n_items, n_sampled, seed)
        metrics._check_candidates(self.test[0], self.test_candidates, self.k)  # k fits the lists
        metrics._check_full_k(self.k, self.n_items, known_u, known_i, self.test[0])

    def config(self, config=None):
        """``config`` with 4 negatives per positive and binary cross entropy where it
        leaves them unset (a model must then output logits)."""
        config = super().config(config)
        return config if config.loss is not None else dataclasses.replace(config, loss="bce")

    def val_metric(self):
        """The :func:`fit` metric ``sampled_hr``: HR@K on the validation lists (higher is
        better)."""
        return metrics.sampled_ranking_metric(self.val[0], self.val_candidates, self.k)

    def training_data(self, refit=False):
        """Every train rating (and validation, for a refit) as a positive,
        ``(users, items, ones)``."""
        users, items, _ = super().training_data(refit)
        return users, items, np.ones(len(users), dtype=np.float32)

    def evaluate(self, score_fn, part="test"):
        """``sampled_hr``, ``sampled_ndcg``, ``full_hr`` and ``full_ndcg`` on the ``"val"``
        or ``"test"`` items.

        Full ranking candidates are every item the user had not rated before the
        held-out one (train for validation; train and validation for test).
        """
        users, items, _ = getattr(self, checks.one_of(part, PARTS, "part"))
        candidates = self.val_candidates if part == "val" else self.test_candidates
        known_u, known_i, _ = self.train if part == "val" else _joined(self.train, self.val)
        score = metrics._scorer(score_fn)
        sampled = metrics._from_candidates(score, users, candidates, self.k)
        full = metrics._full_ranking(score, users, items, known_u, known_i, self.n_items, self.k)
        return {"sampled_hr": sampled["hr"], "sampled_ndcg": sampled["ndcg"],
                "full_hr": full["hr"], "full_ndcg": full["ndcg"]}


class FullRankingProtocol(RankingProtocol):
    """:class:`RankingProtocol` that stops early on *full* HR@K of the validation items.

    Built the same way; only the fit metric changes
    (:func:`~ncf_helpers.metrics.full_ranking_metric`), so the epoch kept is the one the
    test's full HR@K would prefer, as judged on validation.
    """

    def val_metric(self):
        """The :func:`fit` metric ``full_hr``: full HR@K of the validation items (higher
        is better)."""
        return metrics.full_ranking_metric(self.val[0], self.val[1], self.train[0],
                                           self.train[1], self.n_items, self.k)


@dataclass
class Result:
    """One trained (or baseline) model, scored on validation and test.

    Attributes
    ----------
    name : str
    model : Recommender or None
        The model with its best-validation weights, or the fitted baseline (None for a
        bare scorer).
    history : pandas.DataFrame or None
        The :func:`~ncf_helpers.training.fit` history, one row per epoch.
    val, test : dict
        Metrics of the kept weights on validation and on test.
    best_epoch : int or None
    seconds : float
        Wall time of training and scoring.
    seed : int or None
    """

    name: str
    model: object
    history: pd.DataFrame | None
    val: dict
    test: dict
    best_epoch: int | None
    seconds: float
    seed: int | None = None

    def row(self):
        """This result as a flat dict for :func:`results_table`."""
        return {**{f"test_{k}": v for k, v in self.test.items()},
                **{f"val_{k}": v for k, v in self.val.items()},
                "best_epoch": self.best_epoch, "seconds": self.seconds}


def train_and_score(name, make_model, protocol, config=None):
    """Build a model from ``config.seed``, train it under ``protocol``, score it once.

    Parameters
    ----------
    name : str
        Label of the run in tables and plots.
    make_model : callable
        ``make_model() -> model``, e.g. ``lambda: NeuMF(n_users, n_items)``; a baseline
        (``lambda: BiasBaseline(n_users, n_items)``) is fitted and scored the same way.
        Torch's generator is seeded with ``config.seed`` just before the call, so the
        initial weights -- and, through :func:`fit`, the batch order and the negatives --
        follow the seed: two runs that differ only in a setting differ only there.
    protocol : RatingProtocol or RankingProtocol
    config : TrainConfig, optional
        The training settings (:func:`~ncf_helpers.training.fit`); the protocol fills in
        its negatives where ``config.negatives`` is None.

    Returns
    -------
    Result
        Validation and test metrics of the best-validation weights.
    """
    return _run(name, make_model, protocol, config, refit=False)


def refit_and_score(name, make_model, protocol, config):
    """Retrain on train + validation for exactly ``config.epochs`` epochs; score test once.

    The standard last step after tuning: hyperparameters and the number of epochs (e.g.
    the ``best_epoch`` of a :func:`train_and_score` run) were chosen on validation, so
    the validation rows are now spent and can join the training rows. There is nothing
    left to stop early on: the last weights are scored on test.

    Returns
    -------
    Result
        ``val`` is empty (validation was trained on), ``best_epoch`` is ``config.epochs``.
    """
    return _run(name, make_model, protocol, config, refit=True)


def _run(name, make_model, protocol, config, refit):
    """Train (or fit) and score, for :func:`train_and_score` and :func:`refit_and_score`."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    hint = "pass a function that builds a fresh model, e.g. lambda: GMF(n_users, n_items)"
    if isinstance(make_model, (torch.nn.Module, Recommender)):  # callable, but not a builder
        raise TypeError(f"make_model must be a function, got a {type(make_model).__name__} "
                        f"model; {hint}")
    checks.callable_arg(make_model, "make_model", hint)
    checks.instance(protocol, (RatingProtocol, RankingProtocol), "protocol")
    config = protocol.config(config)

    start = time.perf_counter()
    train = protocol.training_data(refit=refit)
    torch.manual_seed(config.seed)
    model = make_model()  # a ranking loss refuses a model whose head is not 'logits'
    checks.instance(model, Recommender, "make_model()", "it must return a model or a baseline")
    history, best_epoch = None, None
    if isinstance(model, torch.nn.Module):
        history = fit(model, train, config, None if refit else protocol.val_metric())
        best_epoch = int(history.attrs["best_epoch"])
    else:
        model.fit(train)
    val = {} if refit else protocol.evaluate(model, "val")
    test = protocol.evaluate(model, "test")
    return Result(name, model, history, val, test, best_epoch, time.perf_counter() - start,
                  config.seed)


def score_baseline(name, fitted, protocol):
    """A :class:`Result` for a fitted baseline (or any scorer), on validation and test.

    ``fitted`` is an estimator of the package (its ``predict`` is used) or any
    ``score_fn(users, items) -> scores``, such as a wrapped peer library.
    """
    if not isinstance(fitted, Recommender):
        checks.callable_arg(fitted, "fitted", "pass a fitted baseline or score_fn(users, items)")
    checks.instance(protocol, (RatingProtocol, RankingProtocol), "protocol")
    start = time.perf_counter()
    val, test = protocol.evaluate(fitted, "val"), protocol.evaluate(fitted, "test")
    model = fitted if isinstance(fitted, Recommender) else None
    return Result(name, model, None, val, test, None, time.perf_counter() - start)


def results_table(results, sort_by=None, ascending=True):
    """One row per :class:`Result`, indexed by its name.

    Columns: ``test_<metric>`` for each test metric, ``val_<metric>``, ``best_epoch``
    and ``seconds``; sorted by ``sort_by`` if given.
    """
    results = list(results)
    if not results or not all(isinstance(r, Result) for r in results):
        raise ValueError("expected a non-empty sequence of Result objects "
                         "(from train_and_score or score_baseline)")
    table = pd.DataFrame([r.row() for r in results],
                         index=pd.Index([r.name for r in results], name="model"))
    if sort_by is not None:
        checks.one_of(sort_by, list(table.columns), "sort_by")
        table = table.sort_values(sort_by, ascending=ascending)
    return table


def seed_summary(results, column="test_rmse"):
    """Mean, standard deviation and count of ``column`` per result name.

    Train the same configuration with several seeds under one name; the ``std`` is the
    seed-to-seed spread, the yardstick for calling a difference between names noise.
    """
    table = results_table(results)
    checks.one_of(column, list(table.columns), "column")
    grouped = table.groupby(level="model", sort=False)[column]
    return pd.DataFrame({"mean": grouped.mean(), "std": grouped.std(ddof=1),
                         "n": grouped.size()})


def metric_ranks(table, columns):
    """Rank of each model (1 = best, higher metric is better) under each column."""
    checks.require_columns(table, columns, "table")
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
    genres = checks.require_columns(movies, ["genres"], "movies")["genres"]
    genres = genres.fillna("").astype(str).str.split("|")
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
