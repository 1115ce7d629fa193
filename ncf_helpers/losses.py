"""Training losses: data loss plus L1/L2 penalties, and the seed's buggy loss.

Every loss is called as ``loss_fn(pred, target, users, items)`` so training
code can swap one for another. ``users`` and ``items`` are the batch indices
the penalty needs (see :meth:`ncf_helpers.models.RecModel.penalty`).
"""
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from .checks import finite_number


def check_shapes(pred, target):
    """Raise ``ValueError`` unless ``pred`` and ``target`` have the same shape.

    A ``(B, 1)`` prediction against a ``(B,)`` target is the seed's bug:
    ``mse_loss`` broadcasts them to ``(B, B)`` and compares every prediction
    with every target.
    """
    if tuple(pred.shape) != tuple(target.shape):
        raise ValueError(
            f"prediction shape {tuple(pred.shape)} does not match target shape "
            f"{tuple(target.shape)}: squeeze the model output (this is the seed's "
            "broadcast bug: mse_loss would compare every prediction with every target)"
        )


class RegularizedLoss(nn.Module):
    """Base class: ``data_loss(pred, target) + l1 * penalty_1 + l2 * penalty_2``.

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

    def __init__(self, model, l1_weight=0.0, l2_weight=0.0):
        super().__init__()
        if not callable(getattr(model, "penalty", None)):
            raise TypeError(
                f"model must have a penalty(users, items, p) method, got {type(model).__name__}")
        # Kept out of the module tree so the loss's state_dict and parameters()
        # do not duplicate the model's weights.
        object.__setattr__(self, "model", model)
        self.l1_weight = finite_number(l1_weight, "l1_weight", minimum=0)
        self.l2_weight = finite_number(l2_weight, "l2_weight", minimum=0)

    def data_loss(self, pred, target):  # pragma: no cover - abstract
        """Unregularised loss, a scalar."""
        raise NotImplementedError

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
        loss = self.data_loss(pred, target)
        if self.l1_weight or self.l2_weight:
            if users is None or items is None:
                raise ValueError("users and items are needed when l1_weight or l2_weight > 0")
        if self.l1_weight:
            loss = loss + self.l1_weight * self.model.penalty(users, items, 1)
        if self.l2_weight:
            loss = loss + self.l2_weight * self.model.penalty(users, items, 2)
        return loss

    def extra_repr(self):
        return f"l1_weight={self.l1_weight}, l2_weight={self.l2_weight}"


class MSEL1L2Loss(RegularizedLoss):
    """Mean squared error plus L1 and squared-L2 penalties (the seed's loss, fixed).

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
        head = getattr(model, "head", "logits")
        if head not in ("logits", "linear"):
            raise ValueError(f"BCEL1L2Loss needs a model with head='logits' (raw scores), but "
                             f"this {type(model).__name__} has head={head!r}, whose outputs "
                             "are not logits; build it with head='logits', or use MSEL1L2Loss")
        super().__init__(model, l1_weight, l2_weight)

    def data_loss(self, pred, target):
        check_shapes(pred, target)
        target = target.to(pred.dtype)
        if target.numel() and (target.min() < 0 or target.max() > 1):
            raise ValueError(
                f"BCE targets must lie in [0, 1], got values from {float(target.min())} "
                f"to {float(target.max())}; use MSEL1L2Loss for star ratings"
            )
        return F.binary_cross_entropy_with_logits(pred, target)


class SeedMSEL1L2Loss(RegularizedLoss):
    """The seed's buggy loss, reproduced faithfully for demonstration only.

    Takes the same ``(pred, target, users, items)`` call as the fixed losses
    (``users`` and ``items`` are ignored) so it can be swapped into training.

    Bugs reproduced
    ---------------
    1. Broadcast: the seed's model returned shape ``(B, 1)``. ``pred`` of shape
       ``(B,)`` is unsqueezed to match, and ``F.mse_loss((B, 1), (B,))``
       broadcasts to a ``(B, B)`` matrix: the loss is the mean of
       ``(pred_i - target_j) ** 2`` over *all* pairs. Its minimiser is every
       prediction equal to the batch mean target, so the model learns to
       predict the global mean. PyTorch warns about this; the warning is
       silenced here, as it went unnoticed in the seed.
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
