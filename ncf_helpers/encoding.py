"""Contiguous indices for user and movie ids, keeping the maps both ways.

``nn.Embedding`` rows are 0..n-1, but MovieLens ids are arbitrary integers (the original
notebook used them directly as rows, with a hard-coded 1000-row table). The encoder maps ids to rows
and back, so predictions can be reported by ``movieId`` and title.
"""
import numpy as np

from .checks import fitted, integer_ids, non_empty, require_columns

_FIT_FIRST = "call IdEncoder().fit(ratings) first"


def _ids(values, name):
    """``values`` as int64 ids: an integer dtype, every value a valid id."""
    arr = integer_ids(values, name)  # names the first NaN, text or too-large id
    if np.asarray(values).dtype.kind not in "iu":
        raise TypeError(f"{name} must be integers, got dtype {np.asarray(values).dtype}; "
                        "convert with .astype('int64')")
    return arr


def _lookup(known, ids, kind):
    ids = _ids(np.atleast_1d(ids), f"{kind} ids")
    pos = np.searchsorted(known, ids)
    unknown = known[np.minimum(pos, len(known) - 1)] != ids
    if unknown.any():
        raise KeyError(f"unknown {kind} id {int(ids[unknown][0])} ({int(unknown.sum())} "
                       f"unknown in all); the encoder knows {len(known)} {kind}s")
    return pos.astype(np.int64)


class IdEncoder:
    """Map ``userId``/``movieId`` to contiguous indices 0..n-1 and back.

    Fit it on every id you will ever score (usually the full ratings frame, before
    splitting: it uses ids only, no ratings, so nothing leaks), then transform each
    split with it.

    Attributes
    ----------
    user_ids, item_ids : numpy.ndarray
        Sorted ids; ``user_ids[index]`` is the userId of row ``index``.
    """

    def fit(self, ratings, movie_ids=None):
        """Learn the ids of ``ratings`` (plus ``movie_ids``, e.g. the whole catalogue)."""
        require_columns(ratings, ["userId", "movieId"], "ratings")
        non_empty(ratings, "ratings", "an IdEncoder needs at least one rating to fit")
        items = _ids(ratings["movieId"].to_numpy(), "ratings column 'movieId'")
        if movie_ids is not None:
            items = np.concatenate([items, _ids(movie_ids, "movie_ids")])
        self.user_ids = np.unique(_ids(ratings["userId"].to_numpy(), "ratings column 'userId'"))
        self.item_ids = np.unique(items)
        return self

    @property
    def n_users(self):
        return len(fitted(self, "user_ids", _FIT_FIRST).user_ids)

    @property
    def n_items(self):
        return len(fitted(self, "item_ids", _FIT_FIRST).item_ids)

    def user_index(self, user_ids):
        """Rows of ``user_ids``; KeyError naming the first unknown id."""
        return _lookup(fitted(self, "user_ids", _FIT_FIRST).user_ids, user_ids, "user")

    def item_index(self, movie_ids):
        """Rows of ``movie_ids``; KeyError naming the first unknown id."""
        return _lookup(fitted(self, "item_ids", _FIT_FIRST).item_ids, movie_ids, "movie")

    def transform(self, ratings):
        """``(users, items)`` index arrays for the rows of a ratings frame."""
        fitted(self, "user_ids", _FIT_FIRST)
        require_columns(ratings, ["userId", "movieId"], "ratings")
        return (self.user_index(ratings["userId"].to_numpy()),
                self.item_index(ratings["movieId"].to_numpy()))

    def to_dict(self):
        fitted(self, "user_ids", _FIT_FIRST)
        return {"user_ids": self.user_ids.tolist(), "item_ids": self.item_ids.tolist()}

    @classmethod
    def from_dict(cls, state):
        if not isinstance(state, dict) or not {"user_ids", "item_ids"} <= set(state):
            raise ValueError("state must be a dict with 'user_ids' and 'item_ids', as "
                             "IdEncoder.to_dict() returns it")
        encoder = cls()
        encoder.user_ids = np.asarray(state["user_ids"], dtype=np.int64)
        encoder.item_ids = np.asarray(state["item_ids"], dtype=np.int64)
        return encoder

    def __repr__(self):
        if not hasattr(self, "user_ids"):
            return "IdEncoder(unfitted)"
        return f"IdEncoder(n_users={self.n_users}, n_items={self.n_items})"
