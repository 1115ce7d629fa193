"""The original notebook's ``BookDataset``, reproduced with its bugs, as a reference.

**For timing and demonstration only: never train with it.** The notebooks and the
benchmark use it to show, with numbers, what :mod:`ncf_helpers.sampling` fixes:

1. *Per-row pandas lookups.* ``__getitem__`` does ``interactions.iloc[idx]`` and builds
   three 0-d tensors for every sample, so a ``DataLoader`` spends its time in Python.
2. *An O(n) scan per negative.* Each negative is checked by filtering the whole
   interactions frame for the user (``interactions[interactions.userId == u]``), once per
   draw, so one epoch costs O(n^2).
3. *Negatives replace positives.* With probability ``negative_samples_ratio`` a row's
   real rating is swapped for a negative of the same user, so each epoch silently drops
   about ``ratio`` of the real ratings (and the "ratio" is negatives per *row*, not per
   positive: 0.5 gives one negative per positive, not one per two).
4. *No way out.* A user who has rated every candidate movie makes the rejection loop
   spin forever (do not call it on such a user).
5. *Float ids.* Users and movies come back as float32 tensors (the models cast them back
   with ``.long()``), which is exact only below 2**24.

The only changes from the original notebook: the globals ``m``, ``n`` and ``movies`` became the
``movie_ids`` argument (the original notebook passed ``movies.index.values``), the unused feature
counts are gone, and the names say *movie*, not *book*.
"""
import numpy as np
import torch

from .checks import fraction, require_columns


class OriginalBookDataset(torch.utils.data.Dataset):
    """The original's ``BookDataset`` (bugs included; see the module docstring).

    Parameters
    ----------
    interactions : pandas.DataFrame
        With columns ``userId``, ``movieId`` and ``rating`` (raw ids, as in the original notebook).
    movie_ids : array-like of int
        Candidate movies for negatives (the original notebook used ``movies.index.values``).
    negative_samples_ratio : float
        Probability that a row is *replaced* by a negative; must be in [0, 1].

    Notes
    -----
    Randomness comes from NumPy's global generator (``np.random``), as in the original notebook, so
    seed it with ``np.random.seed`` (or ``seed_everything``) to reproduce an epoch.
    """

    def __init__(self, interactions, movie_ids, negative_samples_ratio=0.5):
        self.interactions = require_columns(interactions, ["userId", "movieId", "rating"],
                                            "interactions")
        self.movie_ids = np.asarray(movie_ids)
        self.negative_samples_ratio = fraction(negative_samples_ratio, "negative_samples_ratio",
                                               closed="both")

    def __len__(self):
        # The original notebook tried len * (1 + ratio), but then idx runs past the frame; so every
        # epoch has exactly len(interactions) rows and negatives must displace positives.
        return len(self.interactions)

    def get_positive_sample(self, idx):
        """The row's own (userId, movieId, rating), via a per-row ``iloc``."""
        row = self.interactions.iloc[idx]
        return row["userId"], row["movieId"], row["rating"]

    def get_negative_sample(self, idx):
        """The row's user with a random movie they have not rated, rating 0.

        Scans the whole frame for the user's movies on every draw (the original's O(n)).
        """
        row = self.interactions.iloc[idx]
        user_id = row["userId"]
        negative_id = np.random.choice(self.movie_ids)
        while negative_id in self.interactions[
                self.interactions["userId"] == user_id]["movieId"].values:
            negative_id = np.random.choice(self.movie_ids)
        return user_id, negative_id, 0

    def get_one_sample(self, idx):
        """A negative with probability ``negative_samples_ratio``, else the positive."""
        if np.random.random() < self.negative_samples_ratio:
            return self.get_negative_sample(idx)
        return self.get_positive_sample(idx)

    def __getitem__(self, idx):
        user, movie, rating = self.get_one_sample(idx)
        return (torch.tensor(user, dtype=torch.float32),
                torch.tensor(movie, dtype=torch.float32),
                torch.tensor(rating, dtype=torch.float32))
