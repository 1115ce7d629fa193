"""The one training engine of the series: ``fit(model, train, config)``.

:func:`fit` is the loop notebook 06 writes by hand -- shuffle, batch, forward, loss,
``zero_grad``, ``backward``, ``step``, then score the *validation* split under
``no_grad`` -- plus what a real run needs, each a few lines: fresh negatives each
epoch, early stopping with the best weights kept, an optional scheduler, a NaN guard
and a progress bar. Every setting lives in one :class:`TrainConfig`.

The same loop trains every model with every loss (MSE with L1/L2, BCE, BPR, sampled
softmax) on every path:

* **CPU**: the data stays in numpy, negatives come from the numpy sampler, batches are
  slices of one permutation per epoch.
* **On a device** (``config.on_device``, the default on a GPU): the training set is
  copied to the device once; negatives, the permutation and every batch are made
  there, so nothing comes back to the host inside an epoch.
* **Many processes** (launched by ``torchrun``, see :mod:`ncf_helpers.cli`): when a
  process group is initialised, the model is wrapped in ``DistributedDataParallel``
  and each process trains on its slice of every global batch, so one step is the
  step one process would take on the whole batch.

The test split is never seen here: evaluate it once, afterwards.
"""
import copy
import dataclasses
import math
import os
import sys
import time

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from . import checks
from .losses import LOSSES, RegularizedLoss, make_loss
from .sampling import (
    NegativeSampler,
    _add_negatives,
    _add_negatives_tensor,
    _batches,
    _torch_generator,
)
from .utils import DEFAULT_SEED, get_device

OPTIMIZERS = ("adam", "sgd")
SCHEDULERS = (None, "plateau", "step")


def show_progress():
    """Whether to draw progress bars: ``NCF_PROGRESS=1`` on, ``0`` off; unset, only where
    the output is a terminal (a notebook kernel's is not: set ``TrainConfig(progress=True)``
    or ``NCF_PROGRESS=1`` there, as ``make lab`` does, for a bar)."""
    setting = os.environ.get("NCF_PROGRESS", "")
    if setting in ("0", "1"):
        return setting == "1"
    return sys.stderr.isatty()


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Every setting of one training run, checked when the config is built.

    Change a field or two with ``dataclasses.replace(config, epochs=5)``.

    Parameters
    ----------
    epochs : int, default 20
        The most epochs; early stopping may end sooner.
    batch_size : int, default 1024
        Rows per optimizer step: positives and their negatives for the pointwise
        losses, positives (each with its ``negatives``) for ``"bpr"`` and ``"softmax"``.
        Under ``torchrun`` it is the global batch, shared among the processes.
    lr : float, default 1e-3
    optimizer : {"adam", "sgd"}, default "adam"
    betas : (float, float), default (0.9, 0.999)
        Adam's moment decays.
    eps : float, default 1e-8
        Adam's epsilon.
    momentum : float, default 0.0
        SGD's momentum.
    weight_decay : float, default 0.0
        The optimizer's decay of every weight (the dense layers' regulariser).
    scheduler : {None, "plateau", "step"}
        ``ReduceLROnPlateau`` (stepped with the validation score) or ``StepLR``.
    scheduler_kwargs : dict, optional
        Passed to the scheduler, e.g. ``{"step_size": 3, "gamma": 0.3}``.
    patience : int or None, default 3
        Stop after this many epochs without a validation improvement; None never stops.
    loss : {None, "mse", "bce", "bpr", "softmax", "original_mse", "full_softmax"}
        None picks ``"bce"`` for a model with ``head="logits"``, else ``"mse"``.
        ``"full_softmax"`` scores every item for each positive and ignores ``negatives``.
    l1, l2 : float, default 0.0
        Weights of the L1 and squared-L2 penalties on the embedding rows a batch uses.
    negatives : float, optional
        Negatives per positive, drawn fresh every epoch from the items the user has no
        training interaction with. None means 0 for :func:`fit`; the evaluation
        protocols fill in their own (4 for ranking). Pointwise losses add them as rows with target
        ``negative_value``; ``"bpr"`` and ``"softmax"`` need a whole number >= 1 and
        rank each positive against its own.
    negative_value : float, default 0.0
        The target of a negative for the pointwise losses.
    seed : int, default 42
        Seeds the batch order and the negatives: two runs with one config are identical.
    device : str, optional
        Default: CUDA, then MPS, then CPU (:func:`~ncf_helpers.utils.get_device`).
    on_device : bool, optional
        Keep the data on the device and draw negatives there. Default: True on an
        accelerator, False on the CPU (where numpy draws the same negatives faster).
    amp : bool, default False
        Run the forward pass in bfloat16 (``torch.autocast``).
    max_steps : int, optional
        Stop each epoch after this many steps (benchmarks time part of an epoch).
    progress : bool, optional
        A tqdm bar over epochs; default :func:`show_progress`.
    """

    epochs: int = 20
    batch_size: int = 1024
    lr: float = 1e-3
    optimizer: str = "adam"
    betas: tuple = (0.9, 0.999)
    eps: float = 1e-8
    momentum: float = 0.0
    weight_decay: float = 0.0
    scheduler: str | None = None
    scheduler_kwargs: dict | None = None
    patience: int | None = 3
    loss: str | None = None
    l1: float = 0.0
    l2: float = 0.0
    negatives: float | None = None
    negative_value: float = 0.0
    seed: int = DEFAULT_SEED
    device: str | None = None
    on_device: bool | None = None
    amp: bool = False
    max_steps: int | None = None
    progress: bool | None = None

    def __post_init__(self):
        ints = {"epochs": 1, "batch_size": 1, "seed": 0}
        for name, minimum in ints.items():
            checks.positive_int(getattr(self, name), name, minimum)
        for name in ("patience", "max_steps"):
            if getattr(self, name) is not None:
                checks.positive_int(getattr(self, name), name)
        if checks.finite_number(self.lr, "lr") <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        for name in ("eps", "momentum", "weight_decay", "l1", "l2"):
            checks.finite_number(getattr(self, name), name, minimum=0)
        if self.negatives is not None:
            checks.finite_number(self.negatives, "negatives", minimum=0)
        checks.finite_number(self.negative_value, "negative_value")
        if not (isinstance(self.betas, (tuple, list)) and len(self.betas) == 2
                and all(0 <= checks.finite_number(b, "betas") < 1 for b in self.betas)):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas!r}")
        checks.one_of(self.optimizer, OPTIMIZERS, "optimizer")
        checks.one_of(self.scheduler, SCHEDULERS, "scheduler")
        if self.scheduler_kwargs is not None:
            checks.instance(self.scheduler_kwargs, dict, "scheduler_kwargs")
        if self.loss is not None:
            checks.one_of(self.loss, tuple(LOSSES), "loss")
            if LOSSES[self.loss].pairwise and self.negatives is not None and (
                    self.negatives < 1 or self.negatives % 1):
                raise ValueError(f"loss={self.loss!r} ranks each positive against its own "
                                 "negatives: set negatives to a whole number >= 1, got "
                                 f"{self.negatives!r}")
        for name in ("on_device", "progress"):
            if getattr(self, name) is not None:
                checks.instance(getattr(self, name), bool, name, "pass True, False or None")
        checks.instance(self.amp, bool, "amp", "pass True or False")


# ---------------------------------------------------------------------------
# the pieces of one run
# ---------------------------------------------------------------------------
def make_optimizer(config, params, device):
    """The optimizer of ``config``: Adam (fused where supported) or SGD."""
    if config.optimizer == "adam":
        # The fused kernel updates all parameters in one call: about half the step
        # time at small batches, where per-tensor Python overhead dominates.
        fused = device.type in ("cpu", "cuda")
        return torch.optim.Adam(params, lr=config.lr, betas=tuple(config.betas), eps=config.eps,
                                weight_decay=config.weight_decay, fused=fused)
    return torch.optim.SGD(params, lr=config.lr, weight_decay=config.weight_decay,
                           momentum=config.momentum)


def _make_scheduler(config, optimizer):
    kwargs = config.scheduler_kwargs or {}
    if config.scheduler == "plateau":  # the original's verbose=True was removed from torch
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, **{"patience": 1, **kwargs})
    if config.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, **{"step_size": 5, **kwargs})
    return None


def _resolve_loss(model, config, loss):
    """The loss object of a run: ``loss`` if given, else the one ``config`` names."""
    if loss is None:
        name = config.loss or ("bce" if model.head == "logits" else "mse")
        return make_loss(name, model, config.l1, config.l2)
    if isinstance(loss, type):
        raise TypeError(f"loss must be a loss object, got the class {loss.__name__}; build it "
                        f"with its model, e.g. {loss.__name__}(model), or name it in "
                        "TrainConfig(loss=...)")
    if not isinstance(loss, RegularizedLoss):
        raise TypeError(f"loss must be one of the package's losses (called as "
                        f"loss(pred, target, users, items)), got {type(loss).__name__}; for "
                        f"mean squared error use TrainConfig(loss='mse'), or subclass "
                        "ncf_helpers.losses.RegularizedLoss")
    if loss.model is not model:
        raise ValueError("loss was built for another model: its penalty would regularise "
                         "the wrong weights; build it with the model you train")
    return loss


def _check_val_metric(val_metric):
    if val_metric is None:
        return None
    checks.callable_arg(val_metric, "val_metric",
                        "build one with ncf_helpers.metrics.rmse_metric(users, items, ratings)")
    if getattr(val_metric, "mode", None) not in ("min", "max") or not hasattr(val_metric, "name"):
        raise TypeError("val_metric needs a name and a mode ('min' if lower is better): wrap "
                        "it as ncf_helpers.metrics.ValMetric('my_metric', 'max', fn)")
    return val_metric


def _world():
    """``(rank, world_size)`` of this process: (0, 1) unless a process group is running."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class _Epochs:
    """What the epochs of a run share: the data where it trains, the sampler and the
    random generators, and the way one epoch's batches are made."""

    def __init__(self, users, items, targets, model, loss_fn, config, device):
        self.pairwise, self.config = loss_fn.pairwise, config
        # A loss over the whole catalogue takes positives only, like the pairwise ones,
        # and scores every item instead of sampled negatives.
        self.catalogue = getattr(loss_fn, "catalogue", False)
        self.ratio = 0.0 if self.pairwise or self.catalogue else config.negatives
        self.sampler = None
        if config.negatives > 0 and not self.catalogue:
            self.sampler = NegativeSampler(users, items, model.n_items, n_users=model.n_users)
            self.sampler._refuse_full(np.unique(users))  # once, not per draw
        on_device = device.type != "cpu" if config.on_device is None else config.on_device
        seed = config.seed
        # Every process draws the same epoch (shuffled rows, negatives) and trains on its
        # slice of every batch.
        if on_device:  # everything below happens on the device, with its generators
            self.data = tuple(torch.as_tensor(a).to(device) for a in (users, items, targets))
            self.data = (self.data[0].long(), self.data[1].long(), self.data[2].float())
            self.order_gen = _torch_generator(seed, device)
            self.negative_gen = _torch_generator(seed + 1, device)
        else:  # numpy draws the negatives; torch shuffles on the CPU
            self.data = (users, items, targets)
            self.order_gen = torch.Generator().manual_seed(seed)
            self.negative_gen = np.random.default_rng(seed)
        self.on_device, self.device = on_device, device

    def batches(self):
        """This epoch's ``(users, items, targets)`` batches, as tensors on the device."""
        data = self.data
        if self.ratio > 0:
            add = _add_negatives_tensor if self.on_device else _add_negatives
            data = add(*data, self.sampler, self.ratio, self.negative_gen,
                       self.config.negative_value)
        if not self.on_device:
            data = [torch.as_tensor(a).to(self.device) for a in data]
            data = [data[0].long(), data[1].long(), data[2].float()]
        return _batches(*data, self.config.batch_size, generator=self.order_gen)

    def negatives_for(self, users):
        """``(len(users), negatives)`` unseen items for a batch of positives."""
        k = int(self.config.negatives)
        owners = users.repeat_interleave(k)
        if self.on_device:
            items = self.sampler._sample_tensor(owners, self.negative_gen)
        else:
            items = torch.as_tensor(self.sampler._sample(owners.cpu().numpy(), self.negative_gen),
                                    device=users.device)
        return items.view(len(users), k)


def net_items(net):
    """``n_items`` of a model, also when it is wrapped in ``DistributedDataParallel``."""
    return getattr(net, "module", net).n_items


def _step_loss(net, loss_fn, epochs, u, i, y, amp, device):
    """The loss of one (slice of a) batch: one forward pass, pointwise or pairwise."""
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
        if epochs.catalogue:  # every item's score, (B, n_items), in one forward pass
            scores = net(u, None).float()
            return loss_fn(scores.gather(1, i[:, None]).squeeze(1), scores, u, i)
        if not epochs.pairwise:
            pred = net(u, i).float()
            return loss_fn(pred, y, u, i)
        negative = y  # the pairwise losses get each positive's negatives in place of targets
        # Positives and negatives in one forward pass: DistributedDataParallel expects one.
        scores = net(torch.cat([u, u.repeat_interleave(negative.shape[1])]),
                     torch.cat([i, negative.reshape(-1)])).float()
    return loss_fn(scores[:len(u)], scores[len(u):].view_as(negative), u, i)


def _train_epoch(net, loss_fn, opt, epochs, config, device, rank, world):
    """One pass over the batches; returns the mean training loss and the samples seen.

    The loss is summed on the device and read once at the end of the epoch: no host
    round-trip per step. Under DDP each process takes its slice of every batch and
    scales its mean loss so the averaged gradient is that of the whole batch.
    """
    total = torch.zeros((), dtype=torch.float32 if device.type == "mps" else torch.float64,
                        device=device)
    rows = 0  # the rows the losses averaged over: samples, or positives for pairwise losses
    for step, (u, i, y) in enumerate(epochs.batches(), 1):
        size = len(y)
        if epochs.pairwise:  # drawn for the whole batch, so 1 and N processes train alike
            y = epochs.negatives_for(u)
        if world > 1:
            u, i, y = (torch.tensor_split(t, world)[rank] for t in (u, i, y))
        loss = _step_loss(net, loss_fn, epochs, u, i, y, config.amp, device)
        scale = len(y) * world / size if world > 1 else 1.0
        opt.zero_grad(set_to_none=True)
        (loss * scale).backward()
        opt.step()
        if len(y):  # a slice of a last batch smaller than the world is empty: NaN loss
            total += loss.detach().to(total.dtype) * len(y)
        rows += len(y)
        if config.max_steps is not None and step >= config.max_steps:
            break
    if world > 1:
        summed = torch.stack([total, torch.tensor(float(rows), dtype=total.dtype, device=device)])
        dist.all_reduce(summed)
        total, rows = summed[0], int(summed[1])
    samples = rows * (1 + int(config.negatives)) if epochs.pairwise else rows
    if epochs.catalogue:
        samples = rows * net_items(net)
    return float(total) / max(rows, 1), samples


def fit(model, train, config=None, val_metric=None, loss=None):
    """Train ``model`` on ``train``; keep the weights of its best validation epoch.

    Parameters
    ----------
    model : ncf_helpers.models.RecModel
    train : tuple of arrays
        ``(users, items, targets)``: encoded indices and ratings (or 1s for implicit
        feedback).
    config : TrainConfig, optional
        Every setting of the run; default ``TrainConfig()``.
    val_metric : ValMetric, optional
        ``val_metric(model) -> float`` on the validation split, with a ``name`` and a
        ``mode`` (e.g. :func:`ncf_helpers.metrics.rmse_metric`). Drives early stopping,
        the plateau scheduler and the weights kept. Without it, training runs exactly
        ``config.epochs`` epochs and keeps the last weights (a refit).
    loss : RegularizedLoss, optional
        A loss object built with ``model``, instead of the one ``config.loss`` names.

    Returns
    -------
    pandas.DataFrame
        One row per epoch: ``train_loss``, ``val_<metric>``, ``lr``, ``samples``,
        ``train_seconds`` and ``seconds``; ``history.attrs["best_epoch"]`` is the epoch
        whose weights ``model`` now holds.

    Raises
    ------
    FloatingPointError
        If the training loss or the validation metric becomes NaN or infinite.
    """
    config = TrainConfig() if config is None else checks.instance(
        config, TrainConfig, "config", "build one with TrainConfig(epochs=..., lr=...)")
    checks.instance(model, torch.nn.Module, "model")
    if config.negatives is None:
        config = dataclasses.replace(config, negatives=0.0)
    users, items, targets = checks.interactions(train, model.n_users, model.n_items, "train")
    val_metric = _check_val_metric(val_metric)
    if config.scheduler == "plateau" and val_metric is None:
        raise ValueError("scheduler='plateau' steps with the validation score: pass a "
                         "val_metric, or use scheduler='step'")
    device = get_device(config.device)
    model.to(device)
    loss_fn = _resolve_loss(model, config, loss)
    catalogue = getattr(loss_fn, "catalogue", False)
    if loss_fn.pairwise and (config.negatives < 1 or config.negatives % 1):
        raise ValueError(f"{type(loss_fn).__name__} ranks each positive against its own "
                         "negatives: set TrainConfig(negatives=...) to a whole number >= 1")
    # Checked once here, where the data enters, not per batch inside the loss.
    loss_fn.check_targets(np.append(targets, config.negative_value)
                          if config.negatives > 0 and not (loss_fn.pairwise or catalogue)
                          else targets)
    rank, world = _world()
    epochs = _Epochs(users, items, targets, model, loss_fn, config, device)
    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device] if device.type == "cuda" else None)
    opt = make_optimizer(config, net.parameters(), device)
    sched = _make_scheduler(config, opt)
    sign = 1.0 if val_metric is None or val_metric.mode == "min" else -1.0
    best, best_state, best_epoch, rows = math.inf, None, 0, []
    progress = show_progress() if config.progress is None else config.progress
    with tqdm(total=config.epochs, desc="epochs", leave=False, disable=not progress) as bar:
        for epoch in range(1, config.epochs + 1):
            start = time.perf_counter()
            model.train()
            train_loss, samples = _train_epoch(net, loss_fn, opt, epochs, config, device,
                                               rank, world)
            train_seconds = time.perf_counter() - start
            if not math.isfinite(train_loss):
                raise FloatingPointError(
                    f"the training loss became {train_loss} in epoch {epoch}; lower the "
                    f"learning rate (now {opt.param_groups[0]['lr']:g}) or check the inputs "
                    "for NaN")
            row = {"epoch": epoch, "train_loss": train_loss}
            score = None
            if val_metric is not None:
                score = val_metric(model)
                if not math.isfinite(score):
                    raise FloatingPointError(
                        f"val_metric {val_metric.name!r} returned {score} at epoch {epoch}; it "
                        "must return a finite number (check the validation arrays and the "
                        "model's outputs)")
                row[f"val_{val_metric.name}"] = score
            row.update(lr=opt.param_groups[0]["lr"], samples=samples,
                       train_seconds=train_seconds, seconds=time.perf_counter() - start)
            rows.append(row)
            if sched is not None:
                sched.step(sign * score) if config.scheduler == "plateau" else sched.step()
            bar.update()
            bar.set_postfix({k: f"{v:.4f}" for k, v in row.items()
                             if k == "train_loss" or k.startswith("val_")})
            if score is None:
                best_epoch = epoch
            elif sign * score < best:
                best, best_epoch = sign * score, epoch
                best_state = copy.deepcopy(model.state_dict())
            elif config.patience is not None and epoch - best_epoch >= config.patience:
                # Early stopping is a normal end: shrink the bar so it closes as complete.
                bar.set_description(f"stopped early, best epoch {best_epoch}")
                bar.total = epoch
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    history = pd.DataFrame(rows).set_index("epoch")
    history.attrs["best_epoch"] = best_epoch
    return history
