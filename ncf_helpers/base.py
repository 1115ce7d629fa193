"""The contract every recommender of the package shares: ``fit``, ``predict``, ``recommend``.

The neural models (:mod:`ncf_helpers.models`) and the baselines
(:mod:`ncf_helpers.baselines`) are built the same way and answer the same calls::

    model = GMF(n_users, n_items)             # or BiasBaseline(n_users, n_items)
    model.fit(train)                           # train = (users, items, ratings); returns model
    model.predict(users, items)                # one float64 score per (user, item) pair
    model.recommend(users, n=10, exclude=train[:2])   # top-n item indices and their scores

Every estimator knows its ``n_users`` and ``n_items`` from the start, and indices are
checked once, where they enter ``predict`` and ``recommend``; the package's own loops
call the unchecked ``_predict``.
"""
import numpy as np

from . import checks

# Scores computed per call of _predict when recommending: bounds the memory to about
# this many float64 values, whatever the catalogue size.
_SCORES_PER_CHUNK = 2**22


class Recommender:
    """Mixin: ``predict`` and ``recommend`` on top of a subclass's ``_predict``.

    Subclasses set ``n_users`` and ``n_items`` and implement ``fit`` (returning
    ``self``) and ``_predict(users, items)`` for checked int64 index arrays.
    """

    def predict(self, users, items):
        """Scores of ``(users[k], items[k])`` pairs (ratings or logits: higher is better).

        Parameters
        ----------
        users, items : array-like of int, shape (n,)
            0-based indices, as :class:`~ncf_helpers.encoding.IdEncoder` gives them.

        Returns
        -------
        numpy.ndarray of float64, shape (n,)
        """
        users = checks.index_array(users, "users", self.n_users)
        items = checks.index_array(items, "items", self.n_items)
        checks.same_length(users=users, items=items)
        return self._predict(users, items)

    def _predict(self, users, items):  # pragma: no cover - abstract
        raise NotImplementedError

    def recommend(self, users, n=10, exclude=None):
        """The ``n`` best-scoring items for each user, best first.

        Parameters
        ----------
        users : array-like of int, shape (n_users_asked,)
        n : int, default 10
        exclude : tuple of two int arrays, optional
            ``(users, items)`` pairs never to recommend, usually the training pairs
            (what a user has already rated).

        Returns
        -------
        items : numpy.ndarray of int64, shape (n_users_asked, n)
            Ties are broken towards the lower item index. A user with fewer than ``n``
            items left after ``exclude`` gets ``-1`` in the empty places.
        scores : numpy.ndarray of float64, shape (n_users_asked, n)
            ``-inf`` in the empty places.
        """
        users = checks.index_array(users, "users", self.n_users)
        n = checks.positive_int(n, "n")
        seen = None
        if exclude is not None:
            if not (isinstance(exclude, (tuple, list)) and len(exclude) == 2):
                raise ValueError("exclude must be a (users, items) pair of index arrays, "
                                 f"got {type(exclude).__name__}")
            ex_users = checks.index_array(exclude[0], "exclude users", self.n_users)
            ex_items = checks.index_array(exclude[1], "exclude items", self.n_items)
            checks.same_length(exclude_users=ex_users, exclude_items=ex_items)
            seen = (ex_users, ex_items)
        return self._recommend(users, n, seen)

    def _recommend(self, users, n, seen=None):
        """:meth:`recommend` for checked arrays."""
        n_items, width = self.n_items, min(n, self.n_items)
        top_items = np.full((len(users), n), -1, dtype=np.int64)
        top_scores = np.full((len(users), n), -np.inf)
        if seen is not None:
            order = np.argsort(seen[0], kind="stable")
            seen_users, seen_items = seen[0][order], seen[1][order]
        chunk = max(1, _SCORES_PER_CHUNK // n_items)
        for start in range(0, len(users), chunk):
            block = users[start:start + chunk]
            scores = checks.scores_array(
                self._predict(np.repeat(block, n_items), np.tile(np.arange(n_items), len(block))),
                len(block) * n_items, f"{type(self).__name__}.predict").reshape(len(block), n_items)
            if seen is not None:
                lo = np.searchsorted(seen_users, block, side="left")
                hi = np.searchsorted(seen_users, block, side="right")
                counts = hi - lo
                rows = np.repeat(np.arange(len(block)), counts)
                # positions lo[k]..hi[k]-1 of every user k, without a Python loop
                flat = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts - lo, counts)
                scores[rows, seen_items[flat]] = -np.inf
            # A stable sort keeps the tie rule (lower index first) at the cut-off too.
            best = np.argsort(-scores, axis=1, kind="stable")[:, :width]
            best_scores = np.take_along_axis(scores, best, axis=1)
            empty = ~np.isfinite(best_scores)
            best[empty] = -1
            top_items[start:start + len(block), :width] = best
            top_scores[start:start + len(block), :width] = best_scores
        return top_items, top_scores
