"""Training losses: data loss plus L1/L2 penalties, and the original's buggy loss.

Every loss is called as ``loss_fn(pred, target, users, items)`` so training
code can swap one for another. ``users`` and ``items`` are the batch indices
the penalty needs (see :meth:`ncf_helpers.models.RecModel.penalty`).

The ranking losses :class:`BPRLoss` and :class:`SampledSoftmaxLoss` are called as
``loss_fn(positive, negative, users, items)`` with the scores of a batch of positives
and of the negatives the training engine drew for each of them.
"""
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .checks import callable_arg, finite_number, one_of


def check_shapes(pred, target):
    """Raise ``ValueError`` unless ``pred`` and ``target`` have the same shape.

    A ``(B, 1)`` prediction against a ``(B,)`` target is the original's bug:
    ``mse_loss`` broadcasts them to ``(B, B)`` and compares every prediction
    with every target.
    """
    if tuple(pred.shape) != tuple(target.shape):
        raise ValueError(f"prediction shape {tuple(pred.shape)} does not match target shape "
                         f"{tuple(target.shape)}: squeeze the model output (the original's "
                         "broadcast bug: mse_loss compares every prediction with every target)")


def _require_logits(model, loss):
    """Refuse a model whose head bounds its outputs: ratings in [1, 5] are not logits."""
    head = getattr(model, "head", "logits")
    if head != "logits":
        raise ValueError(f"{loss} needs a model with head='logits' (raw scores), but this "
                         f"{type(model).__name__} has head={head!r}, whose outputs are not "
                         "logits; build it with head='logits', or use MSEL1L2Loss for ratings")


class RegularizedLoss(nn.Module):
    """Base class: ``data_loss(pred, target) + l1 * penalty_1 + l2 * penalty_2``.

    A *pointwise* loss: one prediction against one target per row (``pairwise`` is
    False), unlike the ranking losses below.

    Parameters
    ----------
    model : RecModel
        The model whose ``penalty(users, items, p)`` is added.
    l1_weight, l2_weight : float, default 0.0
        Penalty weights. Like the data loss, the embedding-row part of the
        penalty is a batch *mean* (one row per sample), so a weight does not
        change meaning with the batch size.

    Notes
    -----
    Subclasses implement :meth:`data_loss`. A weight of 0 skips that penalty
    entirely, which saves a pass over the embeddings.
    """

    pairwise = False
    catalogue = False  # scores every item per positive (FullSoftmaxLoss)

    def __init__(self, model, l1_weight=0.0, l2_weight=0.0):
        super().__init__()
        callable_arg(getattr(model, "penalty", None), "model.penalty",
                     f"pass a RecModel, not a {type(model).__name__}")
        # Kept out of the module tree so the loss's state_dict and parameters()
        # do not duplicate the model's weights.
        object.__setattr__(self, "model", model)
        self.l1_weight = finite_number(l1_weight, "l1_weight", minimum=0)
        self.l2_weight = finite_number(l2_weight, "l2_weight", minimum=0)

    def data_loss(self, pred, target):  # pragma: no cover - abstract
        """Unregularised loss, a scalar."""
        raise NotImplementedError

    def check_targets(self, targets):
        """Raise unless every training target suits this loss (any finite number here).

        :func:`~ncf_helpers.training.fit` calls it once on the whole training set (and
        on ``negative_value``), where the data enters, rather than per batch.
        """

    def forward(self, pred, target, users=None, items=None):
        """Regularised loss for one batch.

        Parameters
        ----------
        pred, target : torch.Tensor of shape (B,)
        users, items : torch.Tensor of int, shape (B,)
            The batch indices; needed only when a penalty weight is > 0.

        Returns
        -------
        torch.Tensor
            A scalar.
        """
        return self._penalized(self.data_loss(pred, target), users, items)

    def _penalized(self, loss, users, items):
        """``loss`` plus the L1 and squared-L2 penalties of the rows the batch used."""
        if (self.l1_weight or self.l2_weight) and (users is None or items is None):
            raise ValueError("users and items are needed when l1_weight or l2_weight > 0")
        if self.l1_weight:
            loss = loss + self.l1_weight * self.model.penalty(users, items, 1)
        if self.l2_weight:
            loss = loss + self.l2_weight * self.model.penalty(users, items, 2)
        return loss

    def extra_repr(self):
        return f"l1_weight={self.l1_weight}, l2_weight={self.l2_weight}"


class MSEL1L2Loss(RegularizedLoss):
    """Mean squared error plus L1 and squared-L2 penalties (the original's loss, fixed).

    Shapes are checked first, so a ``(B, 1)`` prediction raises instead of
    silently broadcasting. Integer ratings are accepted as targets.
    """

    def data_loss(self, pred, target):
        check_shapes(pred, target)
        return F.mse_loss(pred, target.to(pred.dtype))


class BCEL1L2Loss(RegularizedLoss):
    """Binary cross-entropy on logits plus L1 and squared-L2 penalties.

    For implicit feedback: ``pred`` are raw scores (a model with
    ``head="logits"``), ``target`` are labels in ``[0, 1]`` (1 = interacted,
    0 = sampled negative). A model whose head bounds its outputs (``"bounded"``,
    ``"relu"``) is refused: ratings in [1, 5] are not logits.
    """

    def __init__(self, model, l1_weight=0.0, l2_weight=0.0):
        _require_logits(model, "BCEL1L2Loss")
        super().__init__(model, l1_weight, l2_weight)

    def check_targets(self, targets):
        """Labels must lie in ``[0, 1]``: star ratings are not probabilities."""
        targets = np.asarray(targets)
        if targets.size and (targets.min() < 0 or targets.max() > 1):
            raise ValueError(f"BCE targets must lie in [0, 1], got values from {targets.min():g} "
                             f"to {targets.max():g}; use MSEL1L2Loss for star ratings, or "
                             "label interactions 1 and negatives 0")

    def data_loss(self, pred, target):
        check_shapes(pred, target)
        return F.binary_cross_entropy_with_logits(pred, target.to(pred.dtype))


class OriginalMSEL1L2Loss(RegularizedLoss):
    """The original's buggy loss, reproduced faithfully for demonstration only.

    Takes the same ``(pred, target, users, items)`` call as the fixed losses
    (``users`` and ``items`` are ignored) so it can be swapped into training.

    Bugs reproduced
    ---------------
    1. Broadcast: the original's model returned shape ``(B, 1)``. ``pred`` of shape
       ``(B,)`` is unsqueezed to match, and ``F.mse_loss((B, 1), (B,))``
       broadcasts to a ``(B, B)`` matrix: the loss is the mean of
       ``(pred_i - target_j) ** 2`` over *all* pairs. Its minimiser is every
       prediction equal to the batch mean target, so the model learns to
       predict the global mean. PyTorch warns about this; the warning is
       silenced here, as it went unnoticed in the original notebook.
    2. Norms, not squared norms: it adds ``torch.norm(w, 2)`` (the L2 norm,
       whose gradient ``w / ||w||`` has constant size and does not shrink as
       ``w`` does) and ``torch.norm(w, 1)``.
    3. All parameters: the norms are taken over every parameter -- the whole
       embedding tables, not the rows the batch used, and the biases too.
    """

    def forward(self, pred, target, users=None, items=None):
        pred_2d = pred.unsqueeze(-1) if pred.ndim == 1 else pred
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            loss = F.mse_loss(pred_2d, target.to(pred.dtype))
        params = list(self.model.parameters())
        if self.l1_weight:
            loss = loss + self.l1_weight * sum(torch.norm(p, 1) for p in params)
        if self.l2_weight:
            loss = loss + self.l2_weight * sum(torch.norm(p, 2) for p in params)
        return loss


# ---------------------------------------------------------------------------
# ranking objectives: each positive against its own negatives
# ---------------------------------------------------------------------------
class _PositivesOnlyLoss(RegularizedLoss):
    """A ranking loss on raw scores, fed positives only: the engine supplies what each
    positive is ranked against (``_against`` says what, in the error message)."""

    _against = "ranks each positive against other items"

    def __init__(self, model, l1_weight=0.0, l2_weight=0.0):
        _require_logits(model, type(self).__name__)
        super().__init__(model, l1_weight, l2_weight)

    def check_targets(self, targets):
        """Positives only (targets > 0)."""
        targets = np.asarray(targets)
        if targets.size and targets.min() <= 0:
            raise ValueError(f"{type(self).__name__} {self._against}: train on positives "
                             "only (targets > 0), got targets <= 0")


class SampledRankingLoss(_PositivesOnlyLoss):
    """Base class of the losses that compare each positive with its own negatives.

    Pairwise and listwise losses need each negative tied to its positive, which the
    shuffled positive-plus-negative batches of BCE cannot give. So the training
    engine (:func:`~ncf_helpers.training.fit`) feeds them batches of **positives
    only**, draws ``config.negatives`` unseen items per positive with the package's
    :class:`~ncf_helpers.sampling.NegativeSampler`, scores both in one forward pass and
    calls ``loss_fn(positive, negative, users, items)`` with the ``(B,)`` positive and
    ``(B, negatives)`` negative scores.

    Parameters
    ----------
    model : RecModel
        With ``head="logits"`` (raw scores).
    l1_weight, l2_weight : float, default 0.0
        Penalty on the embedding rows of the positive pairs.
    """

    pairwise = True
    _against = "draws its own negatives"

    def ranking_loss(self, positive, negative):  # pragma: no cover - abstract
        """Loss from ``(B,)`` positive and ``(B, negatives)`` negative scores."""
        raise NotImplementedError

    def forward(self, positive, negative, users=None, items=None):
        """Regularised ranking loss of one batch of positives (see the class docstring)."""
        if negative.ndim != 2 or negative.shape[0] != positive.shape[0]:
            raise ValueError(f"negative scores must have shape (B, negatives) with "
                             f"B = {positive.shape[0]}, got {tuple(negative.shape)}")
        return self._penalized(self.ranking_loss(positive, negative), users, items)


class BPRLoss(SampledRankingLoss):
    """Bayesian personalised ranking: ``-log sigmoid(s(u, i) - s(u, j))``.

    Rendle et al. (2009): each observed item ``i`` of user ``u`` should score above an
    item ``j`` the user has not interacted with; the loss is averaged over the
    negatives of every positive. Only score *differences* matter, which is what a
    ranking needs; BCE also spends effort on calibrating absolute scores.
    """

    def ranking_loss(self, positive, negative):
        return -F.logsigmoid(positive[:, None] - negative).mean()


class SampledSoftmaxLoss(SampledRankingLoss):
    """Sampled softmax: cross entropy of the positive among itself and its negatives.

    ``-s(u, i) + log(exp s(u, i) + sum_j exp s(u, j))``: the softmax over the whole
    catalogue, estimated with the sampled negatives (uniform proposals need no log-q
    correction: it is the same constant for every item). With many negatives the
    gradient concentrates on the negatives that score highest -- the hard ones that
    decide a full top-10 list.
    """

    def ranking_loss(self, positive, negative):
        logits = torch.cat([positive[:, None], negative], dim=1)
        return (torch.logsumexp(logits, dim=1) - positive).mean()


class FullSoftmaxLoss(_PositivesOnlyLoss):
    """Softmax cross entropy of each positive over the **whole catalogue**.

    ``-s(u, i) + log sum_j exp s(u, j)`` with ``j`` every item (the positive and the
    user's other rated items included, as in the multinomial likelihood of Liang et al.,
    2018): the exact objective that :class:`SampledSoftmaxLoss` estimates from a few
    sampled negatives. Nothing is sampled: :func:`~ncf_helpers.training.fit` feeds it
    batches of positives only, scores every item for each (``model(users, None)``, shape
    ``(B, n_items)``; a model with a matrix-product ``score_all`` does this in one
    product) and calls ``loss_fn(positive, scores, users, items)``. ``negatives`` in the
    config are ignored.

    Not ``pairwise`` (nothing is paired): :attr:`catalogue` is what tells the engine.

    Parameters
    ----------
    model : RecModel
        With ``head="logits"``.
    l1_weight, l2_weight : float, default 0.0
        Penalty on the embedding rows of the positive pairs.
    """

    catalogue = True
    _against = "ranks each positive against every item"

    def forward(self, positive, scores, users=None, items=None):
        """Regularised loss of a batch: ``(B,)`` positive scores, ``(B, n_items)`` all."""
        if scores.ndim != 2 or scores.shape[0] != positive.shape[0]:
            raise ValueError(f"scores must have shape (B, n_items) with B = "
                             f"{positive.shape[0]}, got {tuple(scores.shape)}")
        loss = (torch.logsumexp(scores, dim=1) - positive).mean()
        return self._penalized(loss, users, items)


# The losses :class:`~ncf_helpers.training.TrainConfig` names.
LOSSES = {"mse": MSEL1L2Loss, "bce": BCEL1L2Loss, "bpr": BPRLoss, "softmax": SampledSoftmaxLoss,
          "original_mse": OriginalMSEL1L2Loss, "full_softmax": FullSoftmaxLoss}


def make_loss(name, model, l1_weight=0.0, l2_weight=0.0):
    """The loss ``name`` (a key of :data:`LOSSES`) for ``model``, with its penalties."""
    return LOSSES[one_of(name, tuple(LOSSES), "loss")](model, l1_weight, l2_weight)
