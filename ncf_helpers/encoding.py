"""Contiguous indices for user and movie ids, keeping the maps both ways.

``nn.Embedding`` rows are 0..n-1, but MovieLens ids are arbitrary integers (the seed used
them directly as rows, with a hard-coded 1000-row table). The encoder maps ids to rows
and back, so predictions can be reported by ``movieId`` and title.
"""
import numpy as np


def _lookup(known, ids, kind):
    ids = np.asarray(ids)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"{kind} ids must be integers, got dtype {ids.dtype}")
    pos = np.searchsorted(known, ids)
    pos_clipped = np.minimum(pos, len(known) - 1)
    unknown = known[pos_clipped] != ids
    if unknown.any():
        first = ids[unknown].flat[0]
        raise KeyError(f"unknown {kind} id {int(first)} ({int(unknown.sum())} unknown in all); "
                       f"the encoder knows {len(known)} {kind}s")
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
        for column in ("userId", "movieId"):
            if column not in ratings.columns:
                raise ValueError(f"ratings is missing column {column!r}")
        if len(ratings) == 0:
            raise ValueError("cannot fit an IdEncoder on an empty ratings frame")
        items = ratings["movieId"].to_numpy()
        if movie_ids is not None:
            items = np.concatenate([items, np.asarray(movie_ids)])
        self.user_ids = np.unique(ratings["userId"].to_numpy()).astype(np.int64)
        self.item_ids = np.unique(items).astype(np.int64)
        return self

    @property
    def n_users(self):
        return len(self.user_ids)

    @property
    def n_items(self):
        return len(self.item_ids)

    def user_index(self, user_ids):
        """Rows of ``user_ids``; KeyError naming the first unknown id."""
        return _lookup(self.user_ids, user_ids, "user")

    def item_index(self, movie_ids):
        """Rows of ``movie_ids``; KeyError naming the first unknown id."""
        return _lookup(self.item_ids, movie_ids, "movie")

    def transform(self, ratings):
        """``(users, items)`` index arrays for the rows of a ratings frame."""
        return (self.user_index(ratings["userId"].to_numpy()),
                self.item_index(ratings["movieId"].to_numpy()))

    def to_dict(self):
        return {"user_ids": self.user_ids.tolist(), "item_ids": self.item_ids.tolist()}

    @classmethod
    def from_dict(cls, state):
        encoder = cls()
        encoder.user_ids = np.asarray(state["user_ids"], dtype=np.int64)
        encoder.item_ids = np.asarray(state["item_ids"], dtype=np.int64)
        return encoder

    def __repr__(self):
        if not hasattr(self, "user_ids"):
            return "IdEncoder(unfitted)"
        return f"IdEncoder(n_users={self.n_users}, n_items={self.n_items})"
