"""The original notebook's pipeline, rebuilt with its bugs, as a reference.

**For demonstration and timing only: never train a model you mean to use with it.**
Lesson 00 runs it from the data to the last epoch and marks each bug where it happens;
the benchmark times its ``Dataset`` against :mod:`ncf_helpers.sampling`. In the order
the pipeline runs:

* :data:`ORIGINAL_SETTINGS` -- the settings of the original's final training run;
* :func:`original_holdout` -- its random 10 % test holdout, drawn without a seed;
* :class:`OriginalBookDataset` -- its per-row ``Dataset`` with negative sampling;
* :class:`OriginalBookModel` and :class:`OriginalMLP` -- its two models: the package's
  :class:`~ncf_helpers.models.NCF` and :class:`~ncf_helpers.models.MLP` with the ReLU
  head, raw ids as rows of 1000-row tables, float ids in and ``(B, 1)`` out;
* the loss is :class:`ncf_helpers.losses.OriginalMSEL1L2Loss` (kept there, not here);
* :func:`original_scheduler` -- its ``ReduceLROnPlateau``, minus the ``verbose=True``
  that PyTorch no longer accepts;
* :func:`original_train_loop` -- its loop, which steps the scheduler with the *test* loss.

The bugs of :class:`OriginalBookDataset`:

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
   spin forever (``max_draws`` adds a way out, for demonstrations only).
5. *Float ids.* Users and movies come back as float32 tensors (the models cast them back
   with ``.long()``), which is exact only below 2**24.

The only changes from the original notebook: the globals ``m``, ``n`` and ``movies`` became
arguments (the original notebook passed ``movies.index.values`` as the candidates), the
unused feature counts are gone, the names say *movie*, not *book*, and the test loss is
computed under ``torch.no_grad`` (the same numbers, without building a graph).
"""
import numpy as np
import pandas as pd
import torch
from torch import nn

from .checks import fraction, require_columns
from .models import MLP, NCF

#: The settings of the original notebook's final training run, as its code set them.
#: ``batch_size_setting`` is the variable it assigned; ``batch_size`` the value its
#: ``DataLoader`` calls were written with (the variable was never passed on).
ORIGINAL_SETTINGS = {
    "max_id": 1000, "holdout_fraction": 0.1, "negative_samples_ratio": 0.0,
    "batch_size_setting": 256, "batch_size": 32, "latent_dim": 40, "layers": [80, 40, 20],
    "optimizer": "adam", "lr": 0.005, "l1_weight": 0.0, "l2_weight": 0.0,
    "scheduler": "plateau", "scheduler_kwargs": {"patience": 10, "verbose": True,
                                                 "min_lr": 1e-7},
    "epochs": 10,
}


def original_holdout(interactions, holdout_fraction=0.1, random_state=None):
    """The original's split: ``holdout_fraction`` of the rows, drawn at random, as test.

    The original called ``df.sample(frac=...)`` with no ``random_state``, so the rows came
    from an unseeded generator and every run of the notebook tested on other ratings. Pass
    ``random_state`` to stand for one such run reproducibly; ``None`` draws from NumPy's
    global generator, as the original did. There is no validation part.

    Returns
    -------
    train, test : pandas.DataFrame
        The test rows and the rest, each keeping the index of ``interactions``.
    """
    holdout_fraction = fraction(holdout_fraction, "holdout_fraction")
    test = interactions.sample(frac=holdout_fraction, replace=False, random_state=random_state)
    train = interactions[~interactions.index.isin(test.index)]
    return train, test


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
    max_draws : int, optional
        Not in the original: give up with ``RuntimeError`` after this many rejected draws
        for one negative, so a demonstration of the endless loop can end. ``None`` (the
        default) loops forever, as the original did.

    Notes
    -----
    Randomness comes from NumPy's global generator (``np.random``), as in the original notebook, so
    seed it with ``np.random.seed`` (or ``seed_everything``) to reproduce an epoch.
    """

    def __init__(self, interactions, movie_ids, negative_samples_ratio=0.5, max_draws=None):
        self.interactions = require_columns(interactions, ["userId", "movieId", "rating"],
                                            "interactions")
        self.movie_ids = np.asarray(movie_ids)
        self.negative_samples_ratio = fraction(negative_samples_ratio, "negative_samples_ratio",
                                               closed="both")
        self.max_draws = max_draws

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
        draws = 1
        while negative_id in self.interactions[
                self.interactions["userId"] == user_id]["movieId"].values:
            if self.max_draws is not None and draws >= self.max_draws:
                raise RuntimeError(f"gave up after {draws:,} draws: every movie drawn for user "
                                   f"{user_id:g} was one they rated (the original would loop "
                                   "forever)")
            negative_id = np.random.choice(self.movie_ids)
            draws += 1
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


class _OriginalModel:
    """What the original's models did differently from the package's, and nothing else:

    * the head is ``ReLU`` (``head="relu"``), built by the subclasses;
    * the embeddings start from PyTorch's default ``N(0, 1)`` (the package's from ``N(0, 0.05)``);
    * ``forward`` takes the ``Dataset``'s float ids, casts them with ``.long()`` and uses
      them directly as rows, and returns shape ``(B, 1)``, the shape that makes
      ``mse_loss`` against ``(B,)`` targets broadcast to ``(B, B)``.

    The layers are the package's (``tower``, ``output``): the same computation as the
    original's ``fc_layers``, ``affine_output`` and ``logistic``.
    """

    def _original_init(self):
        for table in self.tables("user") + self.tables("item"):
            nn.init.normal_(table.weight)

    def forward(self, user_input, item_input):
        return super().forward(user_input.long(), item_input.long()).unsqueeze(-1)


class OriginalBookModel(_OriginalModel, NCF):
    """The original's ``BookModel`` (model variant 1): raw ids as rows, ReLU head, ``(B, 1)``.

    Parameters
    ----------
    m, n : int, default 1000
        Rows of the user and movie tables: the original hard-coded 1000 for both, the ids
        of its subset being below 1000.
    embedding_dim : int, default 40
    cf_layer_neurons : sequence of int, default (128, 128)
    """

    def __init__(self, m=1000, n=1000, embedding_dim=40, cf_layer_neurons=(128, 128)):
        super().__init__(m, n, embedding_dim=embedding_dim, layers=cf_layer_neurons,
                         head="relu")
        self._original_init()


class OriginalMLP(_OriginalModel, MLP):
    """The original's ``MLP`` (model variant 2), from its dict: ReLU head, ``(B, 1)``.

    Parameters
    ----------
    config : dict
        ``num_users``, ``num_items`` (the original: 1000 each), ``latent_dim`` and
        ``layers`` (``layers[0] == 2 * latent_dim``), as in the original notebook.
    """

    def __init__(self, config):
        super().__init__(config, head="relu")
        self._original_init()


def original_scheduler(optimizer, **kwargs):
    """The original's ``ReduceLROnPlateau(optimizer, patience=10, verbose=True, min_lr=1e-7)``.

    ``verbose`` was removed from PyTorch's schedulers, so the original's call raises
    ``TypeError`` today; this builds the same scheduler without it. ``kwargs`` override
    the original's other settings.
    """
    settings = {k: v for k, v in ORIGINAL_SETTINGS["scheduler_kwargs"].items() if k != "verbose"}
    return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, **{**settings, **kwargs})


def original_train_loop(model, loss_fn, optimizer, scheduler, train_loader, test_loader,
                        epochs=10):
    """The original's training loop, its bugs kept.

    Each epoch trains on every batch of ``train_loader`` (``zero_grad``, forward, loss,
    ``backward``, ``step``), averages the batch losses, then averages the loss of the
    *test* batches and steps ``scheduler`` with it: the test set steers the learning rate,
    and it is the only held-out score there is. ``loss_fn`` is called as
    ``loss_fn(prediction, rating)`` with the model's ``(B, 1)`` prediction.

    Returns
    -------
    pandas.DataFrame
        One row per epoch (from 1): ``train_loss`` and ``test_loss`` (means of the batch
        losses, as the original computed them) and ``lr`` (after the scheduler's step).
    """
    rows = []
    for epoch in range(1, epochs + 1):
        model.train()
        train_loss = 0.0
        for users, items, ratings in train_loader:
            optimizer.zero_grad()
            loss = loss_fn(model(users, items), ratings)
            loss.backward()
            optimizer.step()
            train_loss += loss.item()
        train_loss /= len(train_loader)
        test_loss = 0.0
        with torch.no_grad():
            for users, items, ratings in test_loader:
                test_loss += loss_fn(model(users, items), ratings).item()
        test_loss /= len(test_loader)
        scheduler.step(test_loss)
        rows.append({"epoch": epoch, "train_loss": train_loss, "test_loss": test_loss,
                     "lr": optimizer.param_groups[0]["lr"]})
    return pd.DataFrame(rows).set_index("epoch")
