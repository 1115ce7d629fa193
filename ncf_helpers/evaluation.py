"""Honest evaluation: train on train, choose on validation, score test once.

One protocol object per task of the series, and one function that trains and scores
any model under either of them:

* :class:`RatingProtocol` -- rating prediction on a random split: RMSE and MAE of
  predicted stars; early stopping on validation RMSE.
* :class:`RankingProtocol` -- top-K ranking with leave-last-out: HR@K and NDCG@K of the
  held-out item, ranked among 99 sampled unrated items ("sampled") and among *every*
  unrated item ("full"); early stopping on validation sampled HR@K.
* :func:`train_and_score` trains a freshly built, seeded model under a protocol and
  scores its best-validation weights on validation and, once, on test;
  :func:`score_baseline` does the same for any fitted scorer. :func:`results_table`
  and :func:`seed_summary` put the :class:`Result` objects side by side.

Plus small helpers for looking inside a model: :func:`pca_2d`, :func:`primary_genre`,
:func:`top_rated`.
"""
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from . import checks, metrics
from .losses import BCEL1L2Loss, MSEL1L2Loss
from .sampling import NegativeSampler
from .training import fit

PARTS = ("val", "test")


def _split_arrays(split):
    if not hasattr(split, "arrays") or not hasattr(split, "encoder"):
        raise TypeError(f"split must be a PreparedSplit (e.g. from original_split or "
                        f"last_item_split), got {type(split).__name__}")
    return [split.arrays(part) for part in ("train", "val", "test")]


def _joined(*parts):
    """``(users, items, ratings)`` of several parts, concatenated."""
    return tuple(np.concatenate(arrays) for arrays in zip(*parts))


class _Protocol:
    """The parts of a :class:`PreparedSplit` as arrays, which both protocols evaluate on."""

    def __init__(self, split):
        self.train, self.val, self.test = _split_arrays(split)
        self.n_users, self.n_items = split.encoder.n_users, split.encoder.n_items


class RatingProtocol(_Protocol):
    """Rating prediction: RMSE and MAE of predicted stars on a :class:`PreparedSplit`.

    Attributes
    ----------
    train, val, test : tuple of numpy.ndarray
        ``(users, items, ratings)`` of each part.
    n_users, n_items : int
    """

    mode = "min"

    def val_metric(self):
        """A :func:`fit` metric: RMSE on the validation ratings (lower is better)."""
        return metrics.rmse_metric(*self.val)

    def loss(self, model, l1_weight=0.0, l2_weight=0.0):
        """MSE plus the L1/L2 penalty on the embedding rows a batch uses."""
        return MSEL1L2Loss(model, l1_weight, l2_weight)

    def training_data(self, refit=False):
        """The ``(users, items, ratings)`` to train on -- train, plus validation for a
        refit -- and the extra :func:`fit` arguments this task needs (none)."""
        return (_joined(self.train, self.val) if refit else self.train), {}

    def evaluate(self, score_fn, part="test"):
        """``{"RMSE", "MAE"}`` of ``score_fn`` on the ``"val"`` or ``"test"`` ratings."""
        users, items, ratings = getattr(self, checks.one_of(part, PARTS, "part"))
        predicted = np.asarray(score_fn(users, items), dtype=np.float64)
        return {"RMSE": metrics.rmse(ratings, predicted), "MAE": metrics.mae(ratings, predicted)}


class RankingProtocol(_Protocol):
    """Everything a leave-last-out ranking evaluation shares across models.

    Build it with :meth:`from_split` (the same as ``RankingProtocol(split, ...)``): the
    candidate lists are drawn **once** (with a fixed seed), so every model is ranked
    against the same negatives.

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

    mode = "max"

    def __init__(self, split, n_negatives=99, k=10, seed=0):
        super().__init__(split)
        self.k = checks.positive_int(k, "k")
        (train_u, train_i, _), (val_u, val_i, _) = self.train, self.val
        self.val_candidates = metrics.sample_candidates(val_u, val_i, train_u, train_i,
                                                        self.n_items, n_negatives, seed + 1)
        known_u, known_i, _ = _joined(self.train, self.val)
        self.test_candidates = metrics.sample_candidates(*self.test[:2], known_u, known_i,
                                                         self.n_items, n_negatives, seed)

    @classmethod
    def from_split(cls, split, n_negatives=99, k=10, seed=0):
        """Draw validation and test candidates from a leave-last-out ``split``.

        Validation negatives avoid the user's train items; test negatives avoid train
        *and* validation items (everything the user rated before the test item).
        ``seed`` seeds the test draw and ``seed + 1`` the validation draw.
        """
        return cls(split, n_negatives, k, seed)

    def val_metric(self):
        """A :func:`fit` metric: sampled HR@K on the validation items (higher is better)."""
        return metrics.sampled_hit_rate_metric(self.val[0], self.val_candidates, self.k)

    def loss(self, model, l1_weight=0.0, l2_weight=0.0):
        """Binary cross entropy on logits plus the L1/L2 penalty."""
        return BCEL1L2Loss(model, l1_weight, l2_weight)

    def training_data(self, refit=False):
        """Every train rating (and validation, for a refit) as a positive,
        ``(users, items, ones)``, and fresh uniform negatives, 4 per positive, each epoch."""
        users, items, _ = _joined(self.train, self.val) if refit else self.train
        return ((users, items, np.ones(len(users), dtype=np.float32)),
                {"sampler": NegativeSampler(users, items, self.n_items),
                 "negative_samples_ratio": 4})

    def evaluate(self, score_fn, part="test"):
        """Sampled and full HR@K and NDCG@K on the ``"val"`` or ``"test"`` items.

        Full ranking candidates are every item the user had not rated before the
        held-out one (train for validation; train and validation for test).
        """
        users, items, _ = getattr(self, checks.one_of(part, PARTS, "part"))
        candidates = self.val_candidates if part == "val" else self.test_candidates
        known_u, known_i, _ = self.train if part == "val" else _joined(self.train, self.val)
        sampled = metrics.ranking_metrics_from_candidates(score_fn, users, candidates, self.k)
        full = metrics.full_ranking_metrics(score_fn, users, items, known_u, known_i,
                                            self.n_items, k=self.k)
        return {"sampled HR": sampled["hit_rate"], "sampled NDCG": sampled["ndcg"],
                "full HR": full["hit_rate"], "full NDCG": full["ndcg"]}


@dataclass
class Result:
    """One trained (or baseline) model, scored on validation and test.

    Attributes
    ----------
    name : str
    model : RecModel or None
        The model with its best-validation weights (``None`` for a baseline).
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
        return {**{f"test {k}": v for k, v in self.test.items()},
                **{f"val {k}": v for k, v in self.val.items()},
                "best epoch": self.best_epoch, "seconds": self.seconds}


class FullRankingProtocol(RankingProtocol):
    """:class:`RankingProtocol` that stops early on *full* HR@K of the validation items.

    Build it the same way, ``FullRankingProtocol.from_split(split, ...)``; only the fit
    metric changes (:func:`~ncf_helpers.metrics.full_hit_rate_metric`), so the epoch
    kept is the one the test's full HR@K would prefer, as judged on validation.
    """

    def val_metric(self):
        """A :func:`fit` metric: full HR@K on the validation items (higher is better)."""
        return metrics.full_hit_rate_metric(self.val[0], self.val[1], self.train[0],
                                            self.train[1], self.n_items, self.k)


def train_and_score(name, make_model, protocol, *, seed=42, l1_weight=0.0, l2_weight=0.0,
                    loss_fn=None, **fit_kwargs):
    """Build a model from ``seed``, train it under ``protocol``, score it once.

    Parameters
    ----------
    name : str
        Label of the run in tables and plots.
    make_model : callable
        ``make_model() -> RecModel``, e.g. ``lambda: NeuMF(n_users, n_items)``.
        Torch's generator is seeded with ``seed`` just before the call, so the initial
        weights -- and, through :func:`fit`, the batch order and the negatives --
        follow ``seed``: two runs that differ only in a setting differ only there.
    protocol : RatingProtocol or RankingProtocol
    seed : int, default 42
    l1_weight, l2_weight : float, default 0.0
        Penalty weights of the protocol's loss (ignored when ``loss_fn`` is given).
    loss_fn : callable, optional
        ``loss_fn(model) -> RegularizedLoss``, to replace the protocol's loss.
    **fit_kwargs
        Passed to :func:`~ncf_helpers.training.fit` (``epochs``, ``batch_size``,
        ``lr``, ``patience``, ``optimizer``, ``scheduler``, ...).

    Returns
    -------
    Result
        Validation and test metrics of the best-validation weights.
    """
    return _run("train_and_score", name, make_model, protocol, None, seed,
                (l1_weight, l2_weight), loss_fn, fit_kwargs)


def refit_and_score(name, make_model, protocol, epochs, *, seed=42, l1_weight=0.0,
                    l2_weight=0.0, loss_fn=None, **fit_kwargs):
    """Retrain on train + validation for a fixed number of epochs; score test once.

    The standard last step after tuning: hyperparameters and ``epochs`` (e.g. the
    ``best_epoch`` of a :func:`train_and_score` run) were chosen on validation, so the
    validation rows are now spent and can join the training rows. There is nothing
    left to stop early on: training runs exactly ``epochs`` epochs and the last
    weights are scored on test.

    Parameters
    ----------
    name, make_model, protocol, seed, l1_weight, l2_weight, loss_fn, **fit_kwargs
        As in :func:`train_and_score`. For a :class:`RankingProtocol` the positives
        are the train and validation items and the default negatives avoid both.
        A ``loss_fn`` that samples its own negatives should be built on train +
        validation too.
    epochs : int
        Training epochs, chosen on validation.

    Returns
    -------
    Result
        ``val`` is empty (validation was trained on), ``best_epoch`` is ``epochs``;
        the history has ``train_loss``, ``lr`` and ``seconds`` per epoch.
    """
    epochs = checks.positive_int(epochs, "epochs")
    return _run("refit_and_score", name, make_model, protocol, epochs, seed,
                (l1_weight, l2_weight), loss_fn, fit_kwargs)


def _run(caller, name, make_model, protocol, refit_epochs, seed, penalties, loss_fn,
         fit_kwargs):
    """Train and score for :func:`train_and_score`, or for :func:`refit_and_score`
    when ``refit_epochs`` is given."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    hint = "pass a function that builds a fresh model, e.g. lambda: GMF(n_users, n_items)"
    if isinstance(make_model, torch.nn.Module):  # a model is callable too, but not a builder
        raise TypeError(f"make_model must be a function, got a {type(make_model).__name__} "
                        f"model; {hint}")
    checks.callable_arg(make_model, "make_model", hint)
    checks.instance(protocol, (RatingProtocol, RankingProtocol), "protocol")
    reserved = ("train", "val_metric", "mode", "seed") + (("patience",) if refit_epochs else ())
    for key in reserved:
        if key in fit_kwargs:
            raise TypeError(f"{caller} sets {key!r} itself; call fit for another one")
    seed = checks.non_negative_int(seed, "seed")

    start = time.perf_counter()
    train, defaults = protocol.training_data(refit=refit_epochs is not None)
    torch.manual_seed(seed)
    model = make_model()  # a ranking loss refuses a model whose head is not 'logits'
    loss = loss_fn(model) if loss_fn is not None else protocol.loss(model, *penalties)
    kwargs = {**defaults, **fit_kwargs}
    if refit_epochs is None:
        history = fit(model, train, protocol.val_metric(), loss, mode=protocol.mode,
                      seed=seed, **kwargs)
        best_epoch = int(history.attrs["best_epoch"])
        val = protocol.evaluate(metrics.model_scorer(model), "val")
    else:
        metric = _keep_last_epoch()
        history = fit(model, train, metric, loss, mode="min", epochs=refit_epochs,
                      patience=None, seed=seed, **kwargs)
        history = history.drop(columns=f"val_{metric.__name__}")
        best_epoch, val = refit_epochs, {}
    test = protocol.evaluate(metrics.model_scorer(model), "test")
    return Result(name, model, history, val, test, best_epoch, time.perf_counter() - start,
                  seed)


def _keep_last_epoch():
    """A fit metric that improves every epoch, so :func:`fit` keeps the last weights."""
    epochs_done = iter(range(1, 1 << 62))

    def refit(model):
        return -float(next(epochs_done))

    return refit


def score_baseline(name, score_fn, protocol):
    """A :class:`Result` for a fitted baseline (or any scorer), on validation and test."""
    checks.callable_arg(score_fn, "score_fn")
    checks.instance(protocol, (RatingProtocol, RankingProtocol), "protocol")
    start = time.perf_counter()
    val, test = protocol.evaluate(score_fn, "val"), protocol.evaluate(score_fn, "test")
    return Result(name, None, None, val, test, None, time.perf_counter() - start)


def results_table(results, sort_by=None, ascending=True):
    """One row per :class:`Result`, indexed by its name.

    Columns: ``test <metric>`` for each test metric, ``val <metric>``, ``best epoch``
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


def seed_summary(results, column="test RMSE"):
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
