"""The two experimental set-ups of the series, built the same way in every notebook.

* :func:`original_split`: the original's rating task. ml-100k restricted to user and movie ids
  below 1000, a seeded 10 % random test holdout, and 10 % of the rest for validation.
* :func:`last_item_split`: the NCF paper's ranking task. Full ml-100k; each user's latest
  rating is the test item and the one before it the validation item.
"""
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .checks import non_negative_int, one_of
from .data import MovieLens, load_movielens, subset
from .encoding import IdEncoder
from .splits import train_val_test_split


@dataclass
class PreparedSplit:
    """Train/validation/test frames with the encoder fitted on all their ids."""

    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    encoder: IdEncoder
    movies: pd.DataFrame
    users: pd.DataFrame | None = None

    def __post_init__(self):
        # Encoded once: every protocol and every model reads these arrays.
        self._arrays = {}
        for part in ("train", "val", "test"):
            frame = getattr(self, part)
            users, items = self.encoder.transform(frame)
            self._arrays[part] = (users, items, frame["rating"].to_numpy(dtype=np.float32))

    def arrays(self, part):
        """``(users, items, ratings)`` numpy arrays of ``"train"``, ``"val"`` or ``"test"``
        (encoded once, when the split was made: the same arrays on every call)."""
        return self._arrays[one_of(part, ("train", "val", "test"), "part")]

    def summary(self):
        """Rows, users and movies of each part, as a small DataFrame."""
        return pd.DataFrame({
            part: {"ratings": len(f), "users": f["userId"].nunique(),
                   "movies": f["movieId"].nunique()}
            for part, f in (("train", self.train), ("val", self.val), ("test", self.test))
        }).T


def _unpack(data):
    """``ratings, movies, users`` of ``data`` (default: ml-100k)."""
    if data is None:
        return load_movielens("ml-100k")
    if not (isinstance(data, MovieLens) or isinstance(data, (tuple, list)) and len(data) == 3):
        raise TypeError(f"data must be what load_movielens returns (ratings, movies, users), "
                        f"got {type(data).__name__}; pass data=load_movielens(...), "
                        "or data=(ratings, movies, None) for frames of your own")
    return data


def original_split(seed=42, data=None, max_id=1000, test_fraction=0.1, val_fraction=0.1):
    """The original's set-up: ids below ``max_id``, random test and validation holdouts.

    Parameters
    ----------
    seed : int
        Seeds the split (the notebooks state theirs: 42).
    data : MovieLens, optional
        Already loaded data; default ``load_movielens("ml-100k")``.
    """
    ratings, movies, users = _unpack(data)
    ratings = subset(ratings, users=range(non_negative_int(max_id, "max_id")),
                     items=range(max_id))
    split = train_val_test_split(ratings, test_fraction, val_fraction, seed, method="random")
    return PreparedSplit(*split, IdEncoder().fit(ratings), movies, users)


def last_item_split(data=None):
    """The NCF paper's set-up on full ml-100k: leave the latest rating out for test,
    the one before it for validation."""
    ratings, movies, users = _unpack(data)
    split = train_val_test_split(ratings, method="last")
    return PreparedSplit(*split, IdEncoder().fit(ratings), movies, users)
