"""One training loop for every model in the series.

:func:`fit` is the loop notebook 06 writes by hand -- shuffle, batch, forward, loss,
``zero_grad``, ``backward``, ``step``, then score the *validation* split under
``no_grad`` -- plus what a real run needs: fresh negatives each epoch, early stopping
with the best weights kept, an optional scheduler, a NaN guard and a progress bar.
The test split is never seen here: evaluate it once, afterwards.
"""
import copy
import math
import os
import time

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from . import checks
from .losses import MSEL1L2Loss
from .metrics import model_scorer
from .sampling import NegativeSampler, add_negatives, check_ratio, iterate_batches, to_tensors
from .utils import get_device

OPTIMIZERS = ("adam", "sgd")
SCHEDULERS = (None, "plateau", "step")


def show_progress():
    """Progress bars on, unless ``NCF_PROGRESS=0`` (set by ``make`` so executed
    notebooks and test logs hold no timing text)."""
    return os.environ.get("NCF_PROGRESS", "1") != "0"


def predict(model, users, items, batch_size=65536):
    """Model outputs for index arrays, as a float64 numpy array (eval mode, no grad)."""
    return model_scorer(model, batch_size=batch_size)(users, items)


def make_optimizer(name, params, lr, weight_decay=0.0, momentum=0.0, device=None):
    """The optimizer :func:`fit` uses: ``"adam"`` (fused where supported) or ``"sgd"``."""
    checks.one_of(name, OPTIMIZERS, "optimizer")
    lr = checks.finite_number(lr, "lr")
    if lr <= 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    weight_decay = checks.finite_number(weight_decay, "weight_decay", minimum=0)
    if name == "adam":
        # The fused kernel updates all parameters in one call: about half the step
        # time at small batches, where per-tensor Python overhead dominates.
        fused = get_device(device).type in ("cpu", "cuda")
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=fused)
    momentum = checks.finite_number(momentum, "momentum", minimum=0)
    return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay, momentum=momentum)


def _make_scheduler(name, optimizer, kwargs):
    checks.one_of(name, SCHEDULERS, "scheduler")
    if name == "plateau":  # the original's verbose=True was removed from torch
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, **{"patience": 1, **kwargs})
    if name == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, **{"step_size": 5, **kwargs})
    return None


def _train_arrays(model, train):
    if not isinstance(train, (tuple, list)) or len(train) != 3:
        raise ValueError("train must be a (users, items, targets) tuple of arrays, "
                         f"got {type(train).__name__}")
    users = checks.index_array(train[0], "train users", model.n_users)
    items = checks.index_array(train[1], "train items", model.n_items)
    targets = checks.finite_array(train[2], "train targets", np.float32)
    checks.same_length(users=users, items=items, targets=targets)
    checks.non_empty(users, "train", "there is nothing to train on")
    return users, items, targets


def _train_epoch(model, data, loss_fn, opt, batch_size, generator, epoch):
    """One pass over ``data`` in shuffled batches; the mean training loss."""
    total = 0.0
    for batch, (u, i, y) in enumerate(iterate_batches(*data, batch_size, generator=generator), 1):
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
    return total / len(data[2])


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
        :func:`ncf_helpers.metrics.rmse_metric`. Drives early stopping, the plateau
        scheduler and the best checkpoint. ``mode="max"`` where higher is better.
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
        Default: CUDA, then MPS, then CPU. The training data is moved there once per
        epoch, not once per batch.
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
        If the loss or the validation metric becomes NaN or infinite.
    """
    users, items, targets = _train_arrays(model, train)
    checks.callable_arg(val_metric, "val_metric",
                        "build one with ncf_helpers.metrics.rmse_metric(users, items, ratings)")
    epochs = checks.positive_int(epochs, "epochs")
    batch_size = checks.positive_int(batch_size, "batch_size")
    patience = None if patience is None else checks.positive_int(patience, "patience")
    checks.one_of(mode, ("min", "max"), "mode")
    seed = checks.non_negative_int(seed, "seed")
    ratio = check_ratio(negative_samples_ratio)
    if ratio > 0:
        checks.instance(sampler, NegativeSampler, "sampler", "negative_samples_ratio > 0 needs one")
    device = get_device(device)
    model.to(device)
    loss_fn = loss_fn if loss_fn is not None else MSEL1L2Loss(model)
    if hasattr(loss_fn, "check_targets"):  # once here, not per batch inside the loss
        loss_fn.check_targets(np.append(targets, negative_value) if ratio > 0 else targets)
    opt = make_optimizer(optimizer, model.parameters(), lr, weight_decay, momentum, device)
    sched = _make_scheduler(scheduler, opt, scheduler_kwargs or {})
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    positives = [t.to(device) for t in to_tensors(users, items, targets)]
    sign = 1.0 if mode == "min" else -1.0
    name = getattr(val_metric, "__name__", "metric")
    best, best_state, best_epoch, rows = math.inf, None, 0, []
    with tqdm(total=epochs, desc="epochs", leave=False,
              disable=not (show_progress() if progress is None else progress)) as bar:
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            model.train()
            data = positives
            if ratio > 0:
                data = add_negatives(users, items, targets, sampler, ratio, rng, negative_value)
                data = [t.to(device) for t in to_tensors(*data)]
            train_loss = _train_epoch(model, data, loss_fn, opt, batch_size, generator, epoch)
            score = float(val_metric(model))
            if not math.isfinite(score):
                raise FloatingPointError(
                    f"val_metric {name!r} returned {score} at epoch {epoch}; it must return a "
                    "finite number (check the validation arrays and the model's outputs)")
            lr_now = opt.param_groups[0]["lr"]
            if sched is not None:
                sched.step(sign * score) if scheduler == "plateau" else sched.step()
            rows.append({"epoch": epoch, "train_loss": train_loss, f"val_{name}": score,
                         "lr": lr_now, "seconds": time.perf_counter() - start})
            bar.update()
            bar.set_postfix({"train_loss": f"{train_loss:.4f}", f"val_{name}": f"{score:.4f}"})
            if sign * score < best:
                best, best_epoch = sign * score, epoch
                best_state = copy.deepcopy(model.state_dict())
            elif patience is not None and epoch - best_epoch >= patience:
                # Early stopping is a normal end: shrink the bar so it closes as complete.
                bar.set_description(f"stopped early, best epoch {best_epoch}")
                bar.total = epoch
                break
    model.load_state_dict(best_state)
    model.eval()
    history = pd.DataFrame(rows).set_index("epoch")
    history.attrs["best_epoch"] = best_epoch
    return history
