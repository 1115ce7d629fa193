"""One training loop for every model in the series.

:func:`fit` trains on the train split, scores the *validation* split after each epoch,
keeps the best weights and stops early when validation stops improving. The test split
is never seen here: evaluate it once, afterwards.
"""
import copy
import math
import os
import time

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from .losses import MSEL1L2Loss
from .metrics import model_scorer, rmse
from .sampling import add_negatives, check_ratio, iterate_batches, to_tensors
from .utils import get_device

OPTIMIZERS = ("adam", "sgd")
SCHEDULERS = (None, "plateau", "step")


def show_progress():
    """Progress bars on, unless ``NCF_PROGRESS=0`` (set by ``make`` so executed
    notebooks and test logs hold no timing text)."""
    return os.environ.get("NCF_PROGRESS", "1") != "0"


def predict(model, users, items, batch_size=65536):
    """Model outputs for index arrays, as a float64 numpy array (eval mode, no grad)."""
    return model_scorer(model, batch_size=batch_size)(np.asarray(users), np.asarray(items))


def rmse_metric(users, items, ratings):
    """A validation metric: RMSE of the model on (users, items, ratings) arrays."""
    def metric(model):
        return rmse(ratings, predict(model, users, items))
    metric.__name__ = "rmse"
    return metric


def make_optimizer(name, params, lr, weight_decay=0.0, momentum=0.0, device=None):
    """The optimizer :func:`fit` uses: ``"adam"`` (fused where supported) or ``"sgd"``."""
    device = get_device(device)
    if name == "adam":
        # The fused kernel updates all parameters in one call: about half the step
        # time at small batches, where per-tensor Python overhead dominates.
        fused = device.type in ("cpu", "cuda")
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=fused)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay, momentum=momentum)
    raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}")


def _make_scheduler(name, optimizer, kwargs):
    if name is None:
        return None
    if name == "plateau":  # the seed's verbose=True was removed from torch
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, **{"patience": 1, **kwargs})
    if name == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, **{"step_size": 5, **kwargs})
    raise ValueError(f"scheduler must be one of {SCHEDULERS}, got {name!r}")


def _check_arrays(data, name):
    if not isinstance(data, (tuple, list)) or len(data) != 3:
        raise ValueError(f"{name} must be a (users, items, targets) tuple of arrays")
    users, items, targets = (np.asarray(a) for a in data)
    if not (len(users) == len(items) == len(targets)) or len(users) == 0:
        raise ValueError(f"{name}: users, items and targets must be non-empty and of equal "
                         f"length, got {len(users)}, {len(items)}, {len(targets)}")
    return users, items, targets


def fit(model, train, val_metric, loss_fn=None, *, epochs=20, batch_size=1024, lr=1e-3,
        optimizer="adam", weight_decay=0.0, momentum=0.0, scheduler=None,
        scheduler_kwargs=None, patience=3, mode="min", sampler=None,
        negative_samples_ratio=0.0, negative_value=0.0, seed=0, device=None,
        progress=None):
    """Train ``model``; keep the weights of its best validation epoch.

    Parameters
    ----------
    model : ncf_helpers.models.RecModel
    train : tuple of arrays
        ``(users, items, targets)``: encoded indices and ratings (or 1s for implicit
        feedback).
    val_metric : callable
        ``val_metric(model) -> float`` on the validation split, e.g.
        :func:`rmse_metric`. Drives early stopping, the plateau scheduler and the
        best checkpoint. ``mode="max"`` for metrics where higher is better.
    loss_fn : RegularizedLoss, optional
        Called as ``loss_fn(pred, target, users, items)``; default MSE.
    epochs, batch_size, lr, optimizer, weight_decay, momentum
        ``optimizer`` is ``"adam"`` or ``"sgd"``.
    scheduler : {None, "plateau", "step"}
        ``scheduler_kwargs`` go to ``ReduceLROnPlateau`` or ``StepLR``.
    patience : int or None
        Stop after this many epochs without a validation improvement.
    sampler : NegativeSampler, optional
        With ``negative_samples_ratio > 0``, each epoch adds
        ``round(ratio * len(train))`` fresh negatives with target ``negative_value``.
    seed : int
        Seeds the shuffling and the negatives, so two runs are identical.
    device : str, optional
        Default: CUDA, then MPS, then CPU.
    progress : bool, optional
        tqdm bar over epochs; default :func:`show_progress`.

    Returns
    -------
    pandas.DataFrame
        One row per epoch: ``train_loss``, ``val_<metric>``, ``lr``, ``seconds``;
        ``history.attrs["best_epoch"]`` is the epoch whose weights ``model`` now holds.

    Raises
    ------
    FloatingPointError
        If the loss becomes NaN or infinite, naming the epoch and batch.
    """
    users, items, targets = _check_arrays(train, "train")
    ratio = check_ratio(negative_samples_ratio)
    if ratio > 0 and sampler is None:
        raise ValueError("negative_samples_ratio > 0 needs a sampler (NegativeSampler)")
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    device = get_device(device)
    model.to(device)
    loss_fn = loss_fn if loss_fn is not None else MSEL1L2Loss(model)
    opt = make_optimizer(optimizer, model.parameters(), lr, weight_decay, momentum, device)
    sched = _make_scheduler(scheduler, opt, scheduler_kwargs or {})
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    positives = to_tensors(users, items, targets)
    sign = 1.0 if mode == "min" else -1.0
    best, best_state, best_epoch, rows = math.inf, None, 0, []
    name = getattr(val_metric, "__name__", "metric")
    bar = tqdm(range(1, epochs + 1), desc="epochs", leave=False,
               disable=not (show_progress() if progress is None else progress))
    for epoch in bar:
        start = time.perf_counter()
        model.train()
        epoch_data = positives
        if ratio > 0:
            epoch_data = to_tensors(*add_negatives(users, items, targets, sampler, ratio, rng,
                                                   negative_value))
        total, count = 0.0, 0
        for batch, (u, i, y) in enumerate(iterate_batches(*epoch_data, batch_size,
                                                          generator=generator), 1):
            u, i, y = u.to(device), i.to(device), y.to(device)
            loss = loss_fn(model(u, i), y, u, i)
            value = loss.item()
            if not math.isfinite(value):
                raise FloatingPointError(
                    f"loss became {value} at epoch {epoch}, batch {batch}; lower the learning "
                    f"rate (now {opt.param_groups[0]['lr']:g}) or check the inputs for NaN")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += value * len(y)
            count += len(y)
        score = float(val_metric(model))
        lr_now = opt.param_groups[0]["lr"]
        if sched is not None:
            sched.step(sign * score) if scheduler == "plateau" else sched.step()
        rows.append({"epoch": epoch, "train_loss": total / count, f"val_{name}": score,
                     "lr": lr_now, "seconds": time.perf_counter() - start})
        bar.set_postfix({"train_loss": f"{total / count:.4f}", f"val_{name}": f"{score:.4f}"})
        if sign * score < best:
            best, best_epoch = sign * score, epoch
            best_state = copy.deepcopy(model.state_dict())
        elif patience is not None and epoch - best_epoch >= patience:
            break
    model.load_state_dict(best_state)
    model.eval()
    history = pd.DataFrame(rows).set_index("epoch")
    history.attrs["best_epoch"] = best_epoch
    return history
