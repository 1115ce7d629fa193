"""Ensembles of our models, their weights chosen on validation only.

The members are the NCF-family models of one split, trained on train with early
stopping (their validation scores decide the weights), and the same models refitted on
train + validation (scored on test with those weights, never refitted weights).

* **Ratings** (:func:`rating_weights`): a linear blend ``b + sum_k w_k * pred_k`` with
  ``w_k >= 0``, fitted by non-negative least squares to the validation ratings, clipped to
  the star range. Non-negative weights keep a blend of five highly correlated predictors
  from cancelling them against each other.
* **Ranking** (:func:`ranking_weights`): each member's scores are standardised per user
  (over every item), and members are added one at a time, with repetition, to the sum
  whose validation full HR@10 grows most (Caruana et al.'s ensemble selection, 2004),
  starting from the best member; it stops when no addition helps. The weights are the
  counts.
"""
import numpy as np
from scipy.optimize import nnls

RATING_RANGE = (1.0, 5.0)
MAX_STEPS = 10


def rating_weights(val_predictions, val_ratings):
    """``(intercept, weights)`` of the non-negative least-squares blend.

    ``val_predictions``: ``(n_val, n_members)``; the intercept may take any sign.
    """
    preds = np.asarray(val_predictions, dtype=np.float64)
    design = np.column_stack([preds, np.ones(len(preds)), -np.ones(len(preds))])
    coef, _ = nnls(design, np.asarray(val_ratings, dtype=np.float64))
    return float(coef[-2] - coef[-1]), coef[:-2]


def rating_blend(predictions, intercept, weights):
    """The blended predictions of ``(n, n_members)`` member predictions."""
    out = intercept + np.asarray(predictions, dtype=np.float64) @ weights
    return np.clip(out, *RATING_RANGE)


def standardized(matrix):
    """Scores standardised per user (row): mean 0, standard deviation 1."""
    matrix = np.asarray(matrix, dtype=np.float64)
    std = matrix.std(axis=1, keepdims=True)
    return (matrix - matrix.mean(axis=1, keepdims=True)) / np.where(std > 0, std, 1.0)


def score_matrix(scorer, n_users, n_items):
    """Every (user, item) score of ``scorer`` (a model or a scorer), standardised per user."""
    predict = getattr(scorer, "_predict", scorer)
    users = np.repeat(np.arange(n_users), n_items)
    items = np.tile(np.arange(n_items), n_users)
    return standardized(np.asarray(predict(users, items)).reshape(n_users, n_items))


def ranking_weights(matrices, val_value, max_steps=MAX_STEPS):
    """Ensemble selection: counts per member, chosen on ``val_value(matrix) -> float``.

    ``matrices``: the members' standardised score matrices, in member order.
    """
    values = [val_value(m) for m in matrices]
    counts = np.zeros(len(matrices))
    best = int(np.argmax(values))
    counts[best], current, total = 1, values[best], matrices[best].copy()
    for _ in range(max_steps - 1):
        trials = [val_value(total + m) for m in matrices]
        k = int(np.argmax(trials))
        if trials[k] <= current:
            break
        counts[k] += 1
        current, total = trials[k], total + matrices[k]
    return counts / counts.sum()


def ranking_blend(matrices, weights):
    """The weighted sum of the members' standardised score matrices."""
    return sum(w * m for w, m in zip(weights, matrices) if w > 0)
