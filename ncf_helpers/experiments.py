"""One-line training experiments on a :class:`~ncf_helpers.prepare.PreparedSplit`.

:func:`run_experiment` trains one configuration with :func:`~ncf_helpers.training.fit`
(early stopping on the validation ratings), then scores the kept weights once on the
validation and the test ratings. :func:`results_table` collects several runs into one
frame. :func:`sampled_auc_metric` is a simple validation metric for implicit feedback.
"""
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .metrics import rmse
from .sampling import NegativeSampler
from .training import fit, predict, rmse_metric

__all__ = ["Experiment", "run_experiment", "results_table", "sampled_auc_metric"]


@dataclass
class Experiment:
    """The outcome of :func:`run_experiment`.

    Attributes
    ----------
    name : str
    history : pandas.DataFrame
        The :func:`fit` history (one row per epoch).
    val_rmse, test_rmse : float
        RMSE of the best-validation weights on the real validation / test ratings.
    epochs : int
        The best epoch, chosen on validation (the weights the model kept).
    """

    name: str
    history: pd.DataFrame
    val_rmse: float
    test_rmse: float
    epochs: int

    def row(self):
        """This run as a dict for :func:`results_table`."""
        return {"experiment": self.name, "val RMSE": self.val_rmse,
                "test RMSE": self.test_rmse, "epochs": self.epochs}


def run_experiment(name, model, split, loss_fn=None, *, seed=42, **fit_kwargs):
    """Train ``model`` on ``split``'s train ratings and score it on val and test.

    Early stopping and any plateau scheduler use the RMSE on the validation ratings;
    the test ratings are scored once, after training.

    Parameters
    ----------
    name : str
        Label of the run in tables and plots.
    model : ncf_helpers.models.RecModel
        A freshly built model; it is trained in place.
    split : ncf_helpers.prepare.PreparedSplit
    loss_fn : RegularizedLoss, optional
        Default MSE (see :func:`fit`).
    seed : int, default 42
        Seeds the batch order and any negatives.
    **fit_kwargs
        Passed to :func:`fit` (``epochs``, ``lr``, ``optimizer``, ``scheduler``,
        ``sampler``, ``negative_samples_ratio``, ...).

    Returns
    -------
    Experiment
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if "val_metric" in fit_kwargs or "train" in fit_kwargs:
        raise TypeError("run_experiment builds train and val_metric from split; "
                        "call fit directly for another metric")
    val, test = split.arrays("val"), split.arrays("test")
    history = fit(model, split.arrays("train"), rmse_metric(*val), loss_fn, seed=seed,
                  **fit_kwargs)
    scores = [rmse(r, predict(model, u, i)) for u, i, r in (val, test)]
    return Experiment(name, history, scores[0], scores[1], int(history.attrs["best_epoch"]))


def results_table(experiments):
    """One row per :class:`Experiment`, indexed by its name."""
    experiments = list(experiments)
    if not experiments or not all(isinstance(e, Experiment) for e in experiments):
        raise ValueError("results_table needs a non-empty sequence of Experiment objects")
    return pd.DataFrame([e.row() for e in experiments]).set_index("experiment")


def sampled_auc_metric(users, items, known_users, known_items, n_items, seed=0, name="auc"):
    """Validation metric for implicit feedback: a sampled pairwise AUC.

    Each held-out positive ``(u, i)`` is paired with one item ``j`` that ``u`` never
    interacted with (drawn once, with ``seed``, so every epoch is scored on the same
    pairs). The metric is the fraction of pairs with ``score(u, i) > score(u, j)``,
    ties counting one half: 0.5 is guessing, 1.0 is a perfect ordering.

    Parameters
    ----------
    users, items : array-like of int
        The held-out positives (e.g. the validation split).
    known_users, known_items : array-like of int
        Every known interaction (train, val and test), so a held-out positive is
        never drawn as a negative.
    n_items : int
    seed : int, default 0
    name : str, default "auc"
        Sets ``metric.__name__``, hence the history column ``val_<name>``.

    Returns
    -------
    callable
        ``metric(model) -> float``; use ``mode="max"`` in :func:`fit`.
    """
    users, items = np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64)
    if users.shape != items.shape or users.ndim != 1 or len(users) == 0:
        raise ValueError("users and items must be non-empty 1-D arrays of equal length")
    sampler = NegativeSampler(known_users, known_items, n_items)
    negatives = sampler.sample(users, np.random.default_rng(seed))

    def metric(model):
        pos, neg = predict(model, users, items), predict(model, users, negatives)
        return float(np.mean(pos > neg) + 0.5 * np.mean(pos == neg))

    metric.__name__ = name
    return metric
