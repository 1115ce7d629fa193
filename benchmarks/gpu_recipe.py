"""NVIDIA's NCF recipe for PyTorch, trained by the package's one engine, next to NVIDIA's figures.

    python -m benchmarks.gpu_recipe --device cuda          # TF32, then bf16 autocast
    python -m benchmarks.gpu_recipe --device cuda --store  # into results/gpu/recipe.csv
    python -m benchmarks.gpu_recipe --device cuda --epochs 20 --validate  # time to HR@10
    python -m benchmarks.gpu_recipe --shape ml-20m/200 --batch-size 8192 --max-steps 3  # CPU

**The recipe** is the default configuration of NVIDIA's ``ncf.py``
(DeepLearningExamples, ``PyTorch/Recommendation/NCF``): NeuMF with 64 predictive factors
and MLP layers 256-256-128-64, dropout 0.5, 4 negatives per positive drawn fresh every
epoch, batches of 2**20 = 1,048,576 samples, Adam with lr 0.0045, betas (0.25, 0.5), eps
1e-8, BCE on logits, ml-20m with each user's latest rating held out. Here it runs through
:func:`ncf_helpers.training.fit` with ``on_device=True`` (the data, the negative draws and
every batch stay on the device). NVIDIA's ``--layers`` lists the MLP *input* first --
the user and item MLP embeddings concatenated, 128 each -- then the hidden widths, so:

==========================  ======================================================
NVIDIA ``neumf.py``         ``ncf_helpers.models.NeuMF``
==========================  ======================================================
``mf_dim=64``               ``gmf_dim=64``
``mlp_layer_sizes[0]=256``  ``mlp_dim=128`` (the tower's input is ``2 * mlp_dim``)
``256 -> 128 -> 64``        ``layers=(256, 128, 64)``
``final: Linear(64+64, 1)`` ``output: Linear(gmf_dim + layers[-1], 1)``
no bias terms               ``use_bias=False``
``dropout=0.5``             ``dropout=0.5`` (after each ReLU, as NVIDIA's)
==========================  ======================================================

plus NVIDIA's initialisation (:func:`nvidia_init`). 31,832,577 parameters at ml-20m.

**Data**: the GroupLens ml-20m release when ``data/ml-20m/ratings.csv`` is present, else
a synthetic set of its shape (:mod:`ncf_helpers.synthetic`: same users, movies and
ratings, one random rating per user held out). ``--shape ml-20m/200`` scales it down.

**What is measured**, for each precision: ``tf32``, fp32 weights and activations with
TF32 matmuls -- on CUDA the script sets ``torch.backends.cuda.matmul.allow_tf32`` and
``torch.backends.cudnn.allow_tf32`` (for both runs), as NVIDIA's A100 runs had them by
default; ``amp``, ``TrainConfig(amp=True)``: bfloat16 autocast, no loss scaler needed
(NVIDIA's AMP is float16 with a ``GradScaler``). On a CPU the plain run is labelled fp32.

* samples/s of each epoch's training loop (``fit``'s ``train_seconds``: the epoch's
  negative draw, shuffle and steps, synchronised by the loss read at its end; validation
  excluded); the headline is the mean over the epochs after the first (CUDA warm-up).
  With ``--max-steps`` the whole epoch's negative draw is charged to the steps taken, so
  the CPU-sized run's rate says little;
* one extra *probe* epoch, reported apart because watching slows it: GPU busy time (the
  union of the kernel and copy intervals that ``torch.profiler`` records, over the
  epoch's wall time), the reads of tensor values into Python that the engine makes (each
  a host round-trip on a GPU; counted per ``file:line``) and, on CUDA, every synchronising
  call (``torch.cuda.set_sync_debug_mode``);
* the allocator's peak memory over the whole ``fit`` (the process's peak resident set on
  the CPU);
* with validation (default for the real ml-20m): HR@10 of the held-out items among 100
  sampled unrated ones, as NVIDIA scores it, and the training plus validation time until
  it first reaches 0.959 (NVIDIA's clock also counts loading the data onto the GPU).

NVIDIA samples its training negatives approximately (a drawn item may be a positive); the
engine's are exact (every draw checked against the known pairs), which costs some work.

Rows are appended to ``build/gpu_recipe.csv`` (``--store``: the stored table,
``benchmarks/results/gpu/recipe.csv``), one per precision, with NVIDIA's figures beside.
"""
import argparse
import collections
import contextlib
import csv
import math
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from benchmarks.machine import cpu_model
from ncf_helpers.data import REPO_DATA_DIR, load_movielens
from ncf_helpers.encoding import IdEncoder
from ncf_helpers.metrics import sample_candidates, sampled_ranking_metric
from ncf_helpers.models import NeuMF
from ncf_helpers.synthetic import shape_of, synthetic_ratings
from ncf_helpers.training import TrainConfig, fit
from ncf_helpers.utils import get_device, peak_memory_mib, reset_peak_memory

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "build" / "gpu_recipe.csv"
RESULTS = Path(__file__).resolve().parent / "results" / "gpu" / "recipe.csv"  # --store

# NVIDIA's ncf.py defaults (DeepLearningExamples, PyTorch/Recommendation/NCF/ncf.py).
RECIPE = {"factors": 64, "layers": (256, 256, 128, 64), "dropout": 0.5, "negatives": 4,
          "batch_size": 2**20, "lr": 0.0045, "betas": (0.25, 0.5), "eps": 1e-8}
VAL_SAMPLED = 100  # NVIDIA ranks each held-out item among 100 sampled negatives
HR_TARGET = 0.959

# NVIDIA's published figures for one A100 40GB, batch 1,048,576, PyTorch 21.04-py3 NGC
# container: DeepLearningExamples PyTorch/Recommendation/NCF/README.md (last changed in
# commit 05ee986, 2023-04-24), tables "Training performance: NVIDIA DGX A100 (8x A100
# 40GB)" (samples/s averaged over an epoch) and "Training accuracy: NVIDIA DGX A100 (8x
# A100 40GB)" (best HR@10 and the time to reach it, means of 20 seeds), rows "1 GPU".
NVIDIA_SOURCE = ("NVIDIA DeepLearningExamples PyTorch/Recommendation/NCF README, "
                 "DGX A100 tables, 1x A100 40GB")
NVIDIA = {"tf32": {"samples_per_s": 22.59e6, "hr10": 0.958925, "seconds_to_hr": 140.771},
          "amp": {"samples_per_s": 34.08e6, "hr10": 0.958892, "seconds_to_hr": 94.2386}}

FIELDS = ["date", "device", "data", "precision", "tf32", "users", "items", "train_positives",
          "batch_size", "negatives", "epochs_timed", "max_steps", "steps_per_epoch",
          "samples_per_epoch", "samples_per_s", "epoch_seconds", "samples_per_s_epoch1",
          "probe_samples_per_s", "probe_seconds", "gpu_busy_seconds", "gpu_busy_fraction",
          "host_reads_probe", "host_reads_where", "cuda_syncs_probe", "cuda_syncs_where",
          "steps_probe", "peak_mib", "train_loss", "hr10", "seconds_to_hr",
          "nvidia_samples_per_s", "ratio_to_nvidia", "nvidia_hr10", "nvidia_seconds_to_hr",
          "torch", "command"]


def log(message):
    print(f"[gpu_recipe {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ model and data
def recipe_model(n_users, n_items):
    """NeuMF as NVIDIA's ``NeuMF(mf_dim=64, mlp_layer_sizes=[256, 256, 128, 64],
    dropout=0.5)``, with NVIDIA's initialisation."""
    layers = RECIPE["layers"]
    model = NeuMF(n_users, n_items, gmf_dim=RECIPE["factors"], mlp_dim=layers[0] // 2,
                  layers=layers[1:], dropout=RECIPE["dropout"], use_bias=False,
                  head="logits")
    return nvidia_init(model)


def nvidia_init(model):
    """NVIDIA's initialisation: embeddings N(0, 0.01), tower weights Glorot-uniform, the
    output's LeCun-uniform; biases keep torch's default, as in NVIDIA's ``neumf.py``."""
    with torch.no_grad():
        for table in (model.gmf_user, model.gmf_item, model.mlp_user, model.mlp_item):
            table.weight.normal_(0.0, 0.01)
        for layer in model.tower:
            if isinstance(layer, torch.nn.Linear):
                torch.nn.init.xavier_uniform_(layer.weight)
        limit = math.sqrt(3.0 / model.output.in_features)
        model.output.weight.uniform_(-limit, limit)
    return model


def recipe_data(shape="ml-20m", data_dir=None, synthetic=False, seed=0):
    """Positives to train on and one held-out item per user.

    Returns
    -------
    train : (users, items) of int64 arrays
    held_out : (users, items), one pair per user
    n_users, n_items : int
    label : str
        Where the data came from.
    """
    folder = Path(data_dir) if data_dir else REPO_DATA_DIR / "ml-20m"
    if shape == "ml-20m" and not synthetic and (folder / "ratings.csv").exists():
        ratings = load_movielens("ml-20m", folder).ratings
        encoder = IdEncoder().fit(ratings)
        users, items = encoder.transform(ratings)
        n_users, n_items = encoder.n_users, encoder.n_items
        order = np.lexsort((ratings["timestamp"].to_numpy(), users))  # by user, then time
        label = "ml-20m (GroupLens), latest rating per user held out"
    else:
        n_users, n_items, n_ratings = shape_of(shape)
        users, items, _ = synthetic_ratings(n_users, n_items, n_ratings, seed=seed)
        # In random order within each user, so the last one is a random held-out rating.
        order = np.lexsort((np.random.default_rng(seed).random(len(users)), users))
        label = f"synthetic {shape} (seed {seed}), random rating per user held out"
    users, items = np.asarray(users, np.int64)[order], np.asarray(items, np.int64)[order]
    last = np.r_[users[1:] != users[:-1], True]
    return (users[~last], items[~last]), (users[last], items[last]), n_users, n_items, label


def recipe_config(precision, device, epochs, batch_size=RECIPE["batch_size"], max_steps=None,
                  seed=0):
    """The :class:`TrainConfig` of the recipe: BCE, 4 negatives, NVIDIA's Adam, on the device."""
    return TrainConfig(epochs=epochs, batch_size=batch_size, lr=RECIPE["lr"],
                       betas=RECIPE["betas"], eps=RECIPE["eps"], patience=None, loss="bce",
                       negatives=float(RECIPE["negatives"]), seed=seed, device=str(device),
                       on_device=True, amp=precision == "amp", max_steps=max_steps,
                       progress=False)


@contextlib.contextmanager
def tf32(enabled):
    """TF32 matmuls and convolutions on (as NVIDIA's A100 runs had by default), restored
    afterwards. No effect off CUDA."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


# ------------------------------------------------------------------ watching an epoch
_READS = ("item", "tolist", "cpu", "__bool__", "__float__", "__int__")


@contextlib.contextmanager
def counting_host_reads():
    """Count the reads of tensor values into Python, by the ``file:line`` that made them.

    ``.item()``, ``.tolist()``, ``.cpu()``, ``bool``, ``float`` and ``int`` of a tensor
    each wait for the device on a GPU. Calls made inside torch itself are left out: the
    count is the calling code's (the engine's, the sampler's). Works on any device, so
    the CPU tests check what a GPU run would sync on.
    """
    counts = collections.Counter()
    torch_dir = os.path.dirname(torch.__file__)

    def counted(original):
        def read(self, *args, **kwargs):
            caller = sys._getframe(1)
            where = caller.f_code.co_filename
            if not where.startswith(torch_dir):
                counts[f"{_short(where)}:{caller.f_lineno}"] += 1
            return original(self, *args, **kwargs)
        return read

    own = {name: name in torch.Tensor.__dict__ for name in _READS}
    originals = {name: getattr(torch.Tensor, name) for name in _READS}
    for name, original in originals.items():
        setattr(torch.Tensor, name, counted(original))
    try:
        yield counts
    finally:
        for name, original in originals.items():
            if own[name]:
                setattr(torch.Tensor, name, original)
            else:
                delattr(torch.Tensor, name)


def _short(path):
    """``ncf_helpers/training.py`` from an absolute path inside the checkout."""
    path = Path(path)
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name


@contextlib.contextmanager
def counting_cuda_syncs(device):
    """Count every synchronising CUDA call (``torch.cuda.set_sync_debug_mode``) by the
    Python ``file:line`` it came from; yields None off CUDA."""
    if device.type != "cuda":
        yield None
        return
    counts = collections.Counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            yield counts
        finally:
            torch.cuda.set_sync_debug_mode("default")
            for w in caught:
                if "synchroniz" in str(w.message):
                    counts[f"{_short(w.filename)}:{w.lineno}"] += 1


def busy_seconds(intervals):
    """Total length of the union of ``(start, end)`` intervals (overlaps counted once)."""
    total, end = 0.0, -math.inf
    for start, stop in sorted(intervals):
        if stop > end:
            total += stop - max(start, end)
            end = stop
    return total


def _device_intervals(profiler):
    """``(start, end)`` in seconds of every kernel, copy and memset the profiler saw."""
    return [(e.time_range.start / 1e6, e.time_range.end / 1e6) for e in profiler.events()
            if e.device_type == torch.autograd.DeviceType.CUDA]


class EpochProbe:
    """A ``val_metric`` for :func:`fit` that watches one epoch: called after every epoch,
    it starts watching after epoch ``epoch - 1`` (and its validation) and stops after
    epoch ``epoch`` (before its validation), so the window is that epoch's training.

    ``inner`` (a :class:`ValMetric` or None) is the validation it passes through.
    """

    def __init__(self, inner, epoch, device):
        self.inner, self.epoch, self.device = inner, epoch, device
        self.name, self.mode = (inner.name, inner.mode) if inner else ("none", "max")
        self.calls, self.stack, self.found = 0, None, {}

    def __call__(self, model):
        self.calls += 1
        if self.calls == self.epoch:
            self._stop()
        score = self.inner(model) if self.inner else 0.0
        if self.calls == self.epoch - 1:
            self._start()
        return score

    def _start(self):
        self.stack = contextlib.ExitStack()
        self.profiler = None
        if self.device.type == "cuda":
            self.profiler = self.stack.enter_context(torch.profiler.profile(
                activities=[torch.profiler.ProfilerActivity.CUDA]))
        self.reads = self.stack.enter_context(counting_host_reads())
        self.syncs = self.stack.enter_context(counting_cuda_syncs(self.device))
        self.start = time.perf_counter()

    def _stop(self):
        seconds = time.perf_counter() - self.start
        self.stack.close()  # stops counting, then the profiler
        busy = math.nan
        if self.profiler is not None:
            try:
                busy = busy_seconds(_device_intervals(self.profiler))
            except Exception as error:  # a profiler without CUPTI: report no figure
                log(f"no GPU busy time: {type(error).__name__}: {error}")
        self.found = {"seconds": seconds, "busy_seconds": busy, "reads": dict(self.reads),
                      "syncs": None if self.syncs is None else dict(self.syncs)}


def _where(counts):
    return "; ".join(f"{k} x{v}" for k, v in sorted(counts.items())) if counts else ""


# ------------------------------------------------------------------ one run
def run(precision, data, device, epochs=3, batch_size=RECIPE["batch_size"], max_steps=None,
        validate=False, seed=0, probe=True):
    """Train the recipe once in ``precision`` (``"tf32"`` or ``"amp"``); one result row."""
    (train_u, train_i), (val_u, val_i), n_users, n_items, label = data
    metric = None
    if validate:
        candidates = sample_candidates(val_u, val_i, train_u, train_i, n_items,
                                       n_sampled=VAL_SAMPLED, seed=seed)
        metric = sampled_ranking_metric(val_u, candidates, k=10)
    probe_epoch = epochs + 1 if probe else None
    watcher = EpochProbe(metric, probe_epoch, device) if probe else metric
    config = recipe_config(precision, device, epochs + (1 if probe else 0), batch_size,
                           max_steps, seed)
    torch.manual_seed(seed)
    model = recipe_model(n_users, n_items)
    train = (train_u, train_i, np.ones(len(train_u), dtype=np.float32))
    log(f"{precision} on {device}: {label}, {len(train_u):,} positives, {epochs} epoch(s)"
        f"{f' of at most {max_steps} steps' if max_steps else ''}"
        f"{' + 1 probe epoch' if probe else ''}")
    reset_peak_memory(device)
    with tf32(device.type == "cuda"):
        history = fit(model, train, config, val_metric=watcher)
    peak = peak_memory_mib(device)
    timed = history.iloc[:epochs]
    rate = timed["samples"] / timed["train_seconds"]
    steady = timed.iloc[1:] if len(timed) > 1 else timed
    samples_epoch = (1 + RECIPE["negatives"]) * len(train_u)
    hr, to_target = math.nan, math.nan
    if validate:
        column = f"val_{metric.name}"
        hr = float(timed[column].iloc[-1])
        reached = timed.index[timed[column] >= HR_TARGET]
        if len(reached):
            to_target = float(timed["seconds"].loc[:reached[0]].sum())
    found = watcher.found if probe else {}
    probe_row = history.iloc[epochs] if probe else None
    nvidia = NVIDIA[precision]
    samples_per_s = float((steady["samples"] / steady["train_seconds"]).mean())
    return {
        "date": time.strftime("%Y-%m-%d %H:%M"), "device": device_name(device), "data": label,
        "precision": precision if device.type == "cuda" or precision == "amp" else "fp32",
        "tf32": device.type == "cuda", "users": n_users, "items": n_items,
        "train_positives": len(train_u), "batch_size": batch_size,
        "negatives": RECIPE["negatives"], "epochs_timed": epochs, "max_steps": max_steps or "",
        "steps_per_epoch": -(-samples_epoch // batch_size), "samples_per_epoch": samples_epoch,
        "samples_per_s": round(samples_per_s),
        "epoch_seconds": round(float(steady["train_seconds"].mean()), 3),
        "samples_per_s_epoch1": round(float(rate.iloc[0])),
        "probe_samples_per_s": (round(float(probe_row["samples"] / probe_row["train_seconds"]))
                                if probe else ""),
        "probe_seconds": round(found["seconds"], 3) if probe else "",
        "gpu_busy_seconds": round(found["busy_seconds"], 3) if probe else "",
        "gpu_busy_fraction": round(found["busy_seconds"] / found["seconds"], 3) if probe else "",
        "host_reads_probe": sum(found["reads"].values()) if probe else "",
        "host_reads_where": _where(found["reads"]) if probe else "",
        "cuda_syncs_probe": ("" if not probe or found["syncs"] is None
                             else sum(found["syncs"].values())),
        "cuda_syncs_where": _where(found["syncs"]) if probe and found["syncs"] else "",
        "steps_probe": -(-int(probe_row["samples"]) // batch_size) if probe else "",
        "peak_mib": round(peak), "train_loss": round(float(timed["train_loss"].iloc[-1]), 5),
        "hr10": round(hr, 5) if validate else "",
        "seconds_to_hr": round(to_target, 1) if validate and math.isfinite(to_target) else "",
        "nvidia_samples_per_s": nvidia["samples_per_s"],
        "ratio_to_nvidia": round(samples_per_s / nvidia["samples_per_s"], 3),
        "nvidia_hr10": nvidia["hr10"], "nvidia_seconds_to_hr": nvidia["seconds_to_hr"],
        "torch": torch.__version__, "command": "",
    }


def device_name(device):
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    threads = torch.get_num_threads()
    return f"CPU {cpu_model()} ({threads} torch thread{'s' if threads > 1 else ''})"


# ------------------------------------------------------------------ output
def append(rows, path):
    """Append rows to ``path`` (a header line with NVIDIA's source on first write)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    with open(path, "a", newline="") as f:
        if new:
            f.write(f"# written by benchmarks/gpu_recipe.py; nvidia_* columns: {NVIDIA_SOURCE}\n")
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        if new:
            writer.writeheader()
        writer.writerows(rows)


def read_results(path=RESULTS):
    """The stored rows, newest last (a missing file gives an empty table)."""
    import pandas as pd

    return pd.read_csv(path, comment="#") if Path(path).exists() else pd.DataFrame(
        columns=FIELDS)


def report(rows):
    """The rows as a short table beside NVIDIA's figures."""
    lines = [f"NVIDIA, 1x A100 ({NVIDIA_SOURCE}): TF32 {NVIDIA['tf32']['samples_per_s'] / 1e6:.2f}M"
             f" samples/s, AMP {NVIDIA['amp']['samples_per_s'] / 1e6:.2f}M; HR@10 "
             f"{HR_TARGET} reached in {NVIDIA['tf32']['seconds_to_hr']:.0f} s (TF32) / "
             f"{NVIDIA['amp']['seconds_to_hr']:.0f} s (AMP)"]
    for r in rows:
        busy = r["gpu_busy_fraction"]
        lines.append(
            f"{r['precision']:5s} {r['device']}: {r['samples_per_s'] / 1e6:8.3f}M samples/s "
            f"({r['ratio_to_nvidia']:.2f}x NVIDIA's), epoch {r['epoch_seconds']:.3f} s, "
            f"peak {r['peak_mib']:,} MiB, GPU busy "
            f"{'n/a' if busy == '' or not math.isfinite(busy) else f'{busy:.0%}'}, "
            f"host reads in the probe epoch {r['host_reads_probe']} over {r['steps_probe']} "
            f"steps ({r['host_reads_where'] or 'none'}), CUDA syncs "
            f"{r['cuda_syncs_probe'] if r['cuda_syncs_probe'] != '' else 'n/a'}"
            + (f", HR@10 {r['hr10']}" if r["hr10"] != "" else ""))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="cuda or cpu (default: the best here)")
    parser.add_argument("--shape", default="ml-20m",
                        help="ml-20m (the real file when present), or a synthetic shape such "
                             "as ml-20m/200")
    parser.add_argument("--data-dir", default=None, help="folder of ml-20m's ratings.csv")
    parser.add_argument("--synthetic", action="store_true",
                        help="synthetic data even when ml-20m is present")
    parser.add_argument("--precision", nargs="+", choices=("tf32", "amp"),
                        default=["tf32", "amp"])
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs (then one probe)")
    parser.add_argument("--batch-size", type=int, default=RECIPE["batch_size"])
    parser.add_argument("--max-steps", type=int, default=None, help="steps per epoch at most")
    parser.add_argument("--validate", action=argparse.BooleanOptionalAction, default=None,
                        help="HR@10 after every epoch (default: with the real ml-20m only)")
    parser.add_argument("--no-probe", dest="probe", action="store_false",
                        help="skip the watched extra epoch")
    parser.add_argument("--seed", type=int, default=0)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--output", type=Path, default=OUTPUT)
    where.add_argument("--store", dest="output", action="store_const", const=RESULTS,
                       help=f"append to {RESULTS.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    command = "python -m benchmarks.gpu_recipe " + " ".join(
        argv if argv is not None else sys.argv[1:])
    os.environ.setdefault("NCF_PROGRESS", "0")
    device = get_device(args.device)
    start = time.perf_counter()
    data = recipe_data(args.shape, args.data_dir, args.synthetic, args.seed)
    log(f"data: {data[4]} ({time.perf_counter() - start:.1f} s)")
    validate = data[4].startswith("ml-20m") if args.validate is None else args.validate
    rows = []
    for precision in args.precision:
        row = run(precision, data, device, args.epochs, args.batch_size, args.max_steps,
                  validate, args.seed, args.probe)
        rows.append({**row, "command": command})
    append(rows, args.output)
    print(report(rows))
    print(f"appended to {_short(args.output)}")
    return rows


if __name__ == "__main__":
    main()
