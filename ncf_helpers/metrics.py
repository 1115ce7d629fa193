"""Evaluation metrics: rating error (RMSE, MAE) and top-K ranking quality.

Ranking metrics work from the *rank* of each held-out item in a user's ranked
list (0-based: rank 0 is the top). With binary relevance and ``K = k``:

* **HR@K** (hit rate, key ``hr``): 1 if at least one held-out item is in the top K,
  else 0.
* **NDCG@K**: DCG / IDCG with the log2 discount of the NCF paper,
  ``DCG = sum over held-out items with rank r < K of 1 / log2(r + 2)`` and IDCG the
  DCG of a perfect list (all held-out items on top). With one held-out item this
  is ``1 / log2(r + 2)`` if ``r < K`` else 0.
* **precision@K**: hits / K.
* **recall@K**: hits / n_relevant (the number of held-out items of the user).
* **MAP@K**: average precision at K, ``sum over hits of precision@(r + 1)``,
  divided by ``min(K, n_relevant)`` so a perfect list scores 1.

Every metric is averaged over users (or, in the sampled protocol, over test pairs).

Ties are broken **pessimistically**: a held-out item is ranked below every other
candidate with an equal score. A scorer that cannot tell items apart (a constant)
therefore scores 0, rather than being rewarded for the order of the candidates.

A *scorer* is any callable ``score_fn(users, items) -> scores`` taking two int64
arrays of equal length and returning one float per pair, higher meaning better: the
``predict`` method of any model or baseline of the package is one.

Names: every function returns its metrics under the same keys, ``rmse``, ``mae``, ``hr``,
``ndcg``, ``precision``, ``recall``, ``map`` and ``auc``; the cut-off ``k`` is an
argument, stated once by whoever chooses it.
"""
import numpy as np

from . import checks
from .sampling import NegativeSampler, sorted_unique
from .utils import DEFAULT_SEED


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def _check_pairs(users, items, what, n_items=None, empty=None):
    """``what`` users and items as index arrays of equal length; with ``empty`` (a hint
    of what to do), refuse none at all."""
    users = checks.index_array(users, f"{what} users")
    items = checks.index_array(items, f"{what} items", n_items)
    checks.same_length(**{f"{what} users": users, f"{what} items": items})
    if empty is not None:
        checks.non_empty(users, f"{what} users", empty)
    return users, items


def _check_candidates(users, candidates, k):
    """Index arrays of ``users`` and of their ``(n, 1 + n_sampled)`` ``candidates``;
    ``k`` must leave something out of the top k, or every held-out item is a hit."""
    candidates = np.asarray(candidates)
    if candidates.ndim != 2 or candidates.shape[1] < 2:
        raise ValueError(f"candidates must have shape (n_test, 1 + n_sampled), got "
                         f"{candidates.shape}; build them with sample_candidates")
    users = checks.index_array(users, "users")
    checks.same_length(users=users, candidates=candidates)
    checks.index_array(candidates.ravel(), "candidates")
    if k >= candidates.shape[1]:
        raise ValueError(f"k={k} is not smaller than the {candidates.shape[1]} candidates of "
                         "each list, so every held-out item would be in the top k (HR = 1); "
                         f"use k < {candidates.shape[1]} or draw more candidates")
    return users, candidates


def _check_full_k(k, n_items, train_users, train_items, test_users):
    """Refuse a ``k`` that puts every candidate of some test user in the top k."""
    keys = sorted_unique(train_users * n_items + train_items)
    rated = np.bincount(keys // n_items, minlength=int(test_users.max()) + 1)[test_users]
    fewest = int(n_items - rated.max())
    if k >= fewest:
        user = int(test_users[np.argmax(rated)])
        raise ValueError(f"k={k} but user {user} has only {fewest} candidate items (every item "
                         "not rated in train), so the held-out item would always be in the top "
                         f"k; use k < {fewest}")


def _scorer(estimator_or_fn):
    """The unchecked scores of a package estimator, else the callable itself."""
    return getattr(estimator_or_fn, "_predict", estimator_or_fn)


_SCORER_HINT = "pass score_fn(users, items) -> scores, e.g. model.predict"


# ---------------------------------------------------------------------------
# rating error
# ---------------------------------------------------------------------------
def _check_ratings(y_true, y_pred):
    y_true = checks.finite_array(np.ravel(y_true), "y_true")
    y_pred = checks.finite_array(np.ravel(y_pred), "y_pred")
    if not checks.same_length(y_true=y_true, y_pred=y_pred):
        raise ValueError("y_true and y_pred are empty")
    return y_true, y_pred


def rmse(y_true, y_pred):
    """Root mean squared error between true and predicted ratings.

    Parameters
    ----------
    y_true, y_pred : array-like of float, same non-zero length, all finite

    Returns
    -------
    float
    """
    y_true, y_pred = _check_ratings(y_true, y_pred)
    return float(np.sqrt(np.mean((y_true - y_pred) ** 2)))


def mae(y_true, y_pred):
    """Mean absolute error between true and predicted ratings.

    Parameters
    ----------
    y_true, y_pred : array-like of float, same non-zero length, all finite

    Returns
    -------
    float
    """
    y_true, y_pred = _check_ratings(y_true, y_pred)
    return float(np.mean(np.abs(y_true - y_pred)))


# ---------------------------------------------------------------------------
# ranking metrics from ranks
# ---------------------------------------------------------------------------
def ranking_metrics_from_ranks(ranks, groups, k=10):
    """HR, NDCG, precision, recall and MAP at ``k`` from held-out item ranks.

    Parameters
    ----------
    ranks : array-like of int, shape (n_relevant_total,)
        0-based position of each held-out item in its user's ranked list. Ranks of
        one user's items must be distinct (they are positions in one list).
    groups : array-like, shape (n_relevant_total,)
        The user each rank belongs to (any labels; one group = one ranked list).
    k : int
        List length cut-off.

    Returns
    -------
    dict
        ``hr``, ``ndcg``, ``precision``, ``recall``, ``map`` (means over groups) and
        ``n_users`` (the number of groups). See the module docstring for the
        definitions.
    """
    k = checks.positive_int(k, "k")
    ranks = checks.index_array(ranks, "ranks")
    groups = np.ravel(groups)
    checks.same_length(ranks=ranks, groups=groups)
    if ranks.size == 0:
        raise ValueError("no ranks given: there is nothing to evaluate")
    _, group = np.unique(groups, return_inverse=True)
    group = group.ravel()
    order = np.lexsort((ranks, group))
    if np.any((group[order][1:] == group[order][:-1]) & (ranks[order][1:] == ranks[order][:-1])):
        raise ValueError("ranks of one user's held-out items must be distinct")
    return _from_ranks(ranks, group, k)


def _from_ranks(ranks, group, k):
    """:func:`ranking_metrics_from_ranks` for checked int64 ranks and group numbers
    ``0..n_groups-1``."""
    # Sort by (user, rank): the position within the user's block is then the number
    # of that user's held-out items ranked strictly above, which MAP needs.
    order = np.lexsort((ranks, group))
    ranks, group = ranks[order], group[order]
    position = np.arange(len(ranks)) - np.searchsorted(group, group, side="left")

    hit = ranks < k
    n_groups = group.max() + 1
    n_relevant = np.bincount(group, minlength=n_groups)
    hits = np.bincount(group, weights=hit, minlength=n_groups)

    discount = 1.0 / np.log2(np.arange(k) + 2.0)
    dcg = np.bincount(group[hit], weights=discount[ranks[hit]], minlength=n_groups)
    idcg = np.cumsum(discount)[np.minimum(n_relevant, k) - 1]

    precision_at_hit = (position[hit] + 1) / (ranks[hit] + 1)
    ap = np.bincount(group[hit], weights=precision_at_hit, minlength=n_groups)
    ap = ap / np.minimum(n_relevant, k)

    return {
        "hr": float(np.mean(hits > 0)),
        "ndcg": float(np.mean(dcg / idcg)),
        "precision": float(np.mean(hits / k)),
        "recall": float(np.mean(hits / n_relevant)),
        "map": float(np.mean(ap)),
        "n_users": int(n_groups),
    }


# ---------------------------------------------------------------------------
# sampled protocol (NCF: 1 held-out item + 99 sampled negatives)
# ---------------------------------------------------------------------------
def sample_candidates(test_users, test_items, train_users, train_items, n_items,
                      n_sampled=99, seed=DEFAULT_SEED):
    """Draw the candidate list of every test pair for the sampled ranking protocol.

    For each test ``(user, item)`` pair, ``n_sampled`` distinct items are drawn
    uniformly among the items the user has *not* rated: not in the user's train
    pairs and not one of the user's test items. Compute the candidates once and
    reuse them for every model so all models are ranked against the same items.

    Parameters
    ----------
    test_users, test_items : array-like of int, shape (n_test,)
        Held-out pairs (the NCF protocol holds out one item per user).
    train_users, train_items : array-like of int, shape (n_train,)
        Training pairs; their items are never drawn for that user.
    n_items : int
        Number of items; item indices lie in ``[0, n_items)``.
    n_sampled : int, default 99
        Unrated items in each list, next to the held-out one (the NCF paper's 99).
    seed : int, default 42
        Seed of ``np.random.default_rng``; the same seed gives the same candidates.

    Returns
    -------
    np.ndarray of int64, shape (n_test, 1 + n_sampled)
        Column 0 holds the held-out item, the other columns the sampled items.

    Raises
    ------
    ValueError
        If a test user has fewer than ``n_sampled`` unrated items.
    """
    n_items = checks.positive_int(n_items, "n_items")
    n_negatives = checks.positive_int(n_sampled, "n_sampled")
    test_users, test_items = _check_pairs(test_users, test_items, "test", n_items,
                                          empty="there is nothing to evaluate")
    train_users, train_items = _check_pairs(train_users, train_items, "train", n_items)
    rng = np.random.default_rng(seed)

    # Every (user, item) pair the user has interacted with: never a negative.
    rated = NegativeSampler(np.concatenate([train_users, test_users]),
                            np.concatenate([train_items, test_items]), n_items)
    is_forbidden = rated.contains
    n_rated = rated.seen_per_user
    n_unrated = n_items - n_rated[test_users]
    if np.any(n_unrated < n_negatives):
        user = test_users[np.argmax(n_unrated < n_negatives)]
        raise ValueError(f"user {user} has only {n_items - n_rated[user]} unrated items, "
                         f"fewer than n_sampled={n_negatives}")

    def bad_entries(rows):
        """Mask of entries in ``rows`` that are rated or repeat an earlier entry."""
        cand = negatives[rows]
        bad = is_forbidden(test_users[rows, None], cand)
        order = np.argsort(cand, axis=1, kind="stable")
        sorted_cand = np.take_along_axis(cand, order, axis=1)
        repeat = np.zeros_like(bad)
        np.put_along_axis(repeat, order[:, 1:], sorted_cand[:, 1:] == sorted_cand[:, :-1], axis=1)
        return bad | repeat

    # Rejection sampling: redraw rejected entries until every row is clean. Heavy
    # users whose rows keep failing fall back to the exact method below.
    n_test = len(test_users)
    negatives = rng.integers(0, n_items, size=(n_test, n_negatives))
    rows = np.arange(n_test)
    for _ in range(50):
        bad = bad_entries(rows)
        dirty = bad.any(axis=1)
        rows, bad = rows[dirty], bad[dirty]
        if rows.size == 0:
            break
        block = negatives[rows]
        block[bad] = rng.integers(0, n_items, size=int(bad.sum()))
        negatives[rows] = block

    # Exact fallback: rank every unrated item by a random key and keep the smallest.
    chunk = max(1, 2**22 // n_items)
    for start in range(0, rows.size, chunk):
        r = rows[start:start + chunk]
        keys = rng.random((len(r), n_items))
        keys[is_forbidden(test_users[r, None], np.arange(n_items)[None, :])] = np.inf
        negatives[r] = np.argpartition(keys, n_negatives - 1, axis=1)[:, :n_negatives]

    return np.column_stack([test_items, negatives])


def ranking_metrics_from_candidates(score_fn, test_users, candidates, k=10):
    """HR@K and NDCG@K of a scorer over precomputed candidate lists.

    Each row of ``candidates`` is one ranking case: the held-out item (column 0)
    is ranked among the row's sampled items, ties counted against it.

    Parameters
    ----------
    score_fn : callable
        ``score_fn(users, items) -> scores`` (higher = better), e.g. ``model.predict``.
    test_users : array-like of int, shape (n_test,)
    candidates : np.ndarray of int, shape (n_test, 1 + n_sampled)
        As returned by :func:`sample_candidates`.
    k : int, default 10
        Must be smaller than the number of candidates of a list.

    Returns
    -------
    dict
        ``hr`` and ``ndcg`` (means over test pairs) and ``n_test``.
    """
    checks.callable_arg(score_fn, "score_fn", _SCORER_HINT)
    k = checks.positive_int(k, "k")
    test_users, candidates = _check_candidates(test_users, candidates, k)
    return _from_candidates(_scorer(score_fn), test_users, candidates.astype(np.int64), k)


def _from_candidates(score_fn, test_users, candidates, k):
    """:func:`ranking_metrics_from_candidates` for checked arrays."""
    users = np.repeat(test_users, candidates.shape[1])
    scores = checks.scores_array(score_fn(users, candidates.ravel()),
                                 len(users)).reshape(candidates.shape)
    # Pessimistic rank: every sampled item scoring at least as high is ranked above.
    ranks = np.sum(scores[:, 1:] >= scores[:, :1], axis=1)
    found = _from_ranks(ranks, np.arange(len(ranks)), k)
    return {"hr": found["hr"], "ndcg": found["ndcg"], "n_test": len(ranks)}


# ---------------------------------------------------------------------------
# full protocol (rank against every unrated item)
# ---------------------------------------------------------------------------
def _user_slice(sorted_users, chunk):
    """Slice of ``sorted_users`` spanning the sorted users ``chunk[0]..chunk[-1]``."""
    return slice(np.searchsorted(sorted_users, chunk[0], side="left"),
                 np.searchsorted(sorted_users, chunk[-1], side="right"))


def full_ranking_metrics(score_fn, test_users, test_items, train_users, train_items,
                         n_items, k=10, chunk_size=256):
    """Ranking metrics at ``k`` with every item the user has not rated as a candidate.

    Each test user's scores for all ``n_items`` items are computed (``chunk_size``
    users at a time), the user's train items are removed from the list, and the
    user's held-out items are located in the ranking. A user may have several
    held-out items (duplicates are counted once); ties are broken against them.
    A held-out item's rank is counted directly (candidates scoring at least as
    high), which gives the same metrics as sorting the full list, without the sort.

    Parameters
    ----------
    score_fn : callable
        ``score_fn(users, items) -> scores`` (higher = better), e.g. ``model.predict``.
    test_users, test_items : array-like of int, shape (n_test,)
    train_users, train_items : array-like of int, shape (n_train,)
    n_items : int
    k : int, default 10
        Must be smaller than every test user's number of candidates.
    chunk_size : int, default 256
        Users scored per call; memory is about ``chunk_size * n_items`` floats.

    Returns
    -------
    dict
        ``hr``, ``ndcg``, ``precision``, ``recall``, ``map`` (means over test users)
        and ``n_users``.
    """
    checks.callable_arg(score_fn, "score_fn", _SCORER_HINT)
    n_items = checks.positive_int(n_items, "n_items")
    k = checks.positive_int(k, "k")
    chunk_size = checks.positive_int(chunk_size, "chunk_size")
    test_users, test_items = _check_pairs(test_users, test_items, "test", n_items,
                                          empty="there is nothing to evaluate")
    train_users, train_items = _check_pairs(train_users, train_items, "train", n_items)
    _check_full_k(k, n_items, train_users, train_items, test_users)
    return _full_ranking(_scorer(score_fn), test_users, test_items, train_users, train_items,
                         n_items, k, chunk_size)


def _full_ranking(score_fn, test_users, test_items, train_users, train_items, n_items, k=10,
                  chunk_size=256):
    """:func:`full_ranking_metrics` for checked arrays."""
    # Sort both splits by user so a chunk of users maps to contiguous slices.
    test_keys = sorted_unique(test_users * n_items + test_items)
    test_users, test_items = test_keys // n_items, test_keys % n_items
    by_user = np.argsort(train_users, kind="stable")
    train_users, train_items = train_users[by_user], train_items[by_user]
    users = sorted_unique(test_users)
    row_of = np.full(max(users.max(), train_users.max(initial=0)) + 1, -1)
    all_items = np.arange(n_items)
    pair_block = max(1, 2**22 // n_items)  # bounds the (pairs x n_items) comparison

    held_out_scores, others_ahead = [], []
    for start in range(0, len(users), chunk_size):
        chunk = users[start:start + chunk_size]
        row_of[chunk] = np.arange(len(chunk))
        scores = score_fn(np.repeat(chunk, n_items), np.tile(all_items, len(chunk)))
        scores = checks.scores_array(scores, len(chunk) * n_items).reshape(len(chunk), n_items)

        # The chunk's pairs lie in one slice of each user-sorted split; the train
        # slice may also hold users without test pairs (row -1), which are skipped.
        test_slice = _user_slice(test_users, chunk)
        t_rows, t_items = row_of[test_users[test_slice]], test_items[test_slice]
        train_slice = _user_slice(train_users, chunk)
        rows, cols = row_of[train_users[train_slice]], train_items[train_slice]
        t_scores = scores[t_rows, t_items]
        held_out_scores.append(t_scores)

        # Drop train items (not candidates) and held-out items (counted below) from
        # the rows, then count the other candidates scoring at least as high.
        scores[rows[rows >= 0], cols[rows >= 0]] = -np.inf
        scores[t_rows, t_items] = -np.inf
        for p in range(0, len(t_rows), pair_block):
            block = slice(p, p + pair_block)
            others_ahead.append(np.sum(scores[t_rows[block]] >= t_scores[block, None], axis=1))
        row_of[chunk] = -1

    # Add the user's held-out items ranked ahead: higher score, or an equal score
    # and a lower item index, so one user's ranks stay distinct.
    held_out_scores = np.concatenate(held_out_scores)
    by_score = np.lexsort((test_items, -held_out_scores, test_users))
    sorted_users = test_users[by_score]
    held_out_ahead = np.empty_like(test_users)
    held_out_ahead[by_score] = (np.arange(len(sorted_users))
                                - np.searchsorted(sorted_users, sorted_users, side="left"))
    ranks = np.concatenate(others_ahead) + held_out_ahead
    return _from_ranks(ranks.astype(np.int64), np.unique(test_users, return_inverse=True)[1], k)


# ---------------------------------------------------------------------------
# validation metrics for training: metric(model) -> float, with a name and a mode
# ---------------------------------------------------------------------------
_NOTHING_TO_VALIDATE = "there is nothing to validate on"


class ValMetric:
    """A validation metric for :func:`~ncf_helpers.training.fit`: ``metric(model) -> float``.

    Parameters
    ----------
    name : str
        Recorded by ``fit`` as the history column ``val_<name>``.
    mode : {"min", "max"}
        Whether lower (RMSE) or higher (HR, AUC) is better; ``fit`` keeps the best epoch.
    fn : callable
        ``fn(model) -> float``.
    """

    def __init__(self, name, mode, fn):
        self.name = checks.instance(name, str, "name")
        self.mode = checks.one_of(mode, ("min", "max"), "mode")
        self.fn = checks.callable_arg(fn, "fn")

    def __call__(self, model):
        return float(self.fn(model))

    def __repr__(self):
        return f"ValMetric({self.name!r}, {self.mode!r})"


def rmse_metric(users, items, ratings):
    """Validation metric ``"rmse"`` (lower is better) of a rating model on
    ``(users, items, ratings)``."""
    users, items = _check_pairs(users, items, "validation", empty=_NOTHING_TO_VALIDATE)
    ratings = checks.finite_array(ratings, "validation ratings")
    checks.same_length(users=users, ratings=ratings)
    return ValMetric("rmse", "min", lambda model: rmse(ratings, model._predict(users, items)))


def sampled_auc_metric(users, items, known_users, known_items, n_items, seed=DEFAULT_SEED,
                       name="auc"):
    """Validation metric for implicit feedback: a sampled pairwise AUC (higher is better).

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
    seed : int, default 42
    name : str, default "auc"
        The history column is ``val_<name>``.

    Returns
    -------
    ValMetric
    """
    users, items = _check_pairs(users, items, "validation", n_items, _NOTHING_TO_VALIDATE)
    negatives = NegativeSampler(known_users, known_items, n_items).sample(
        users, np.random.default_rng(seed))

    def metric(model):
        pos, neg = model._predict(users, items), model._predict(users, negatives)
        return np.mean(pos > neg) + 0.5 * np.mean(pos == neg)

    return ValMetric(name, "max", metric)


def sampled_ranking_metric(users, candidates, k=10, metric="hr"):
    """Validation metric ``"sampled_<metric>"``: HR@``k`` (or NDCG@``k``) over
    precomputed candidate lists.

    ``candidates`` are as :func:`sample_candidates` returns them for the validation
    pairs (held-out item in column 0). Higher is better.
    """
    k = checks.positive_int(k, "k")
    metric = checks.one_of(metric, ("hr", "ndcg"), "metric")
    users, candidates = _check_candidates(users, candidates, k)
    candidates = candidates.astype(np.int64)
    return ValMetric(f"sampled_{metric}", "max", lambda model: _from_candidates(
        model._predict, users, candidates, k)[metric])


def full_ranking_metric(users, items, known_users, known_items, n_items, k=10, metric="hr",
                        chunk_size=256):
    """Validation metric ``"full_<metric>"``: HR@``k`` (or NDCG@``k``) of the held-out
    ``(users, items)``, each ranked among every item its user has not interacted with in
    ``(known_users, known_items)`` (the train split), as in :func:`full_ranking_metrics`.

    Dearer than :func:`sampled_ranking_metric` (every item is scored for every
    validation user, about a second on ml-100k) but it is the metric the test reports,
    and sampled HR can rank models and epochs differently. Higher is better.
    """
    k = checks.positive_int(k, "k")
    n_items = checks.positive_int(n_items, "n_items")
    metric = checks.one_of(metric, ("hr", "ndcg", "precision", "recall", "map"), "metric")
    chunk_size = checks.positive_int(chunk_size, "chunk_size")
    users, items = _check_pairs(users, items, "validation", n_items, _NOTHING_TO_VALIDATE)
    known_users, known_items = _check_pairs(known_users, known_items, "known", n_items)
    _check_full_k(k, n_items, known_users, known_items, users)
    return ValMetric(f"full_{metric}", "max", lambda model: _full_ranking(
        model._predict, users, items, known_users, known_items, n_items, k, chunk_size)[metric])
