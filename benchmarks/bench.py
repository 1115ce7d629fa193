"""Benchmark the training pipeline against the original's, and the negative sampler at scale.

    python -m benchmarks.bench               # everything (the original's part takes ~1 min)
    python -m benchmarks.bench --quick       # sampler at 1/10 scale, for a smoke run
    python -m benchmarks.bench --skip-original   # no timings of the original DataLoader
    python -m benchmarks.bench --series      # also re-execute the notebooks first
    python -m benchmarks.bench --scale       # also re-run the ml-25m epoch rows (~30 min)

Prints one table and writes it to ``build/bench.csv`` (columns: section, case, measure,
value, unit), with the machine it ran on. Timings are wall-clock seconds on whatever
else the machine is doing: the load average is recorded with them.

Sections
--------
a. *pipeline*: samples/s of one training epoch on the original's split, the original's
   ``BookDataset`` + ``DataLoader`` (timed on a fixed number of batches and extrapolated:
   a full epoch takes minutes) against :func:`ncf_helpers.training.fit` (a full epoch),
   same model (the original's MLP), optimizer (Adam, lr 1e-3) and loss (MSE).
b. *overhead*: a :func:`fit` epoch against the same optimizer steps on batches already
   built in memory: the price of shuffling, slicing and drawing negatives.
c. *sampler*: drawing 10M negatives for 25M synthetic ml-25m-shaped positives: time,
   peak extra memory (``tracemalloc``, which sees NumPy's buffers) and false negatives
   (checked against the positives independently of the sampler).
d. *series*: notebook run times from ``build/series_times.csv`` (``make run``).
e. *scale*: one full epoch of NeuMF with 4 negatives per positive at the ml-25m shape (125M
   samples) on 1 and 2 processes, and full-ranking evaluation at that shape, from
   ``data/measured/scale.csv``; ``--scale`` re-runs them first into ``build/scale.csv``
   (``benchmarks/scale.py``, about half an hour on 2 cores) and shows those.
f. *GPU recipe*: NVIDIA's NCF recipe (NeuMF 64 factors, MLP 256-256-128-64, batch 2**20) on
   one GPU, the newest stored run per device, data and precision
   (``benchmarks/results/gpu/recipe.csv``, from ``benchmarks/gpu_recipe.py --store`` on a
   GPU machine; never re-run here), beside NVIDIA's published A100 figures.
"""
import argparse
import csv
import os
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from benchmarks import gpu_recipe, scale
from benchmarks.machine import load_average, machine
from ncf_helpers.losses import MSEL1L2Loss
from ncf_helpers.models import MLP
from ncf_helpers.sampling import NegativeSampler, add_negatives, iterate_batches, to_tensors
from ncf_helpers.training import TrainConfig, fit, make_optimizer
from ncf_helpers.utils import seed_everything

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"

ML25M = dict(n_users=162_541, n_items=59_047, n_positives=25_000_000, n_negatives=10_000_000)
QUICK = dict(n_users=16_254, n_items=59_047, n_positives=2_500_000, n_negatives=1_000_000)
ORIGINAL_SAMPLES = 4_800  # per seed measurement: 150 batches of 32 (~2-3 s)


def log(message):
    """Progress on stderr (the table goes to stdout)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ a. pipeline
def original_model(n_users, n_items):
    """The original's MLP: latent 40, layers [80, 40, 20] (head as in our MLP default)."""
    return MLP(num_users=n_users, num_items=n_items, latent_dim=40, layers=[80, 40, 20])


def time_original_loader(train, movie_ids, n_users, n_items, batch_size, ratio,
                     n_samples=ORIGINAL_SAMPLES):
    """Samples/s of the original's per-row Dataset + DataLoader, on ~``n_samples`` rows.

    ``train`` has raw ``userId``/``movieId`` (as in the original notebook), so the model is sized by
    the largest raw ids.
    """
    from ncf_helpers.original_reference import OriginalBookDataset

    seed_everything(42)
    model = original_model(n_users, n_items)
    loss_fn = MSEL1L2Loss(model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)  # the original's optimizer, as it wrote it
    loader = torch.utils.data.DataLoader(OriginalBookDataset(train, movie_ids, ratio),
                                         batch_size=batch_size, shuffle=True)
    n_batches = max(2, -(-n_samples // batch_size))
    done, start = 0, time.perf_counter()
    for batch, (u, i, y) in enumerate(loader, 1):
        u, i = u.long(), i.long()  # the original's Dataset returns float ids
        loss = loss_fn(model(u, i), y, u, i)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        done += len(y)
        if batch == n_batches:
            break
    return done / (time.perf_counter() - start)


def fit_config(batch_size, ratio, epochs=1):
    """The :func:`fit` settings of section a: Adam at lr 1e-3, ``ratio`` negatives per
    rating (target 0, as the original's), on the CPU."""
    return TrainConfig(epochs=epochs, batch_size=batch_size, lr=1e-3, negatives=ratio,
                       seed=42, device="cpu", progress=False)


def time_fit_epoch(arrays, n_users, n_items, batch_size, ratio, epochs=1):
    """Samples/s and seconds of :func:`fit`'s best epoch (the history's ``train_seconds``:
    the loop with its negatives, shuffling and batches; no validation is run)."""
    seed_everything(42)
    model = original_model(n_users, n_items)
    history = fit(model, arrays, fit_config(batch_size, ratio, epochs))
    seconds = history["train_seconds"].min()
    return history["samples"].iloc[0] / seconds, seconds


def time_prebuilt_steps(arrays, n_users, n_items, batch_size, ratio, sampler):
    """Seconds of one epoch's optimizer steps alone, on batches already built in memory."""
    seed_everything(42)
    rng = np.random.default_rng(42)
    data = to_tensors(*add_negatives(*arrays, sampler, ratio, rng)) if ratio else \
        to_tensors(*arrays)
    batches = list(iterate_batches(*data, batch_size,
                                   generator=torch.Generator().manual_seed(42)))
    model = original_model(n_users, n_items)
    loss_fn = MSEL1L2Loss(model)
    # The optimizer fit builds for these settings (fused Adam on the CPU).
    opt = make_optimizer(fit_config(batch_size, ratio), model.parameters(), torch.device("cpu"))
    start = time.perf_counter()
    for u, i, y in batches:
        loss = loss_fn(model(u, i), y, u, i)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def original_setup():
    """The original's split (seed 42): raw-id train frame, movie ids, encoded train arrays."""
    from ncf_helpers.prepare import original_split

    split = original_split(42)
    train = split.train.reset_index(drop=True)
    movie_ids = split.movies.index.to_numpy()
    # One model size for both pipelines: the original indexes by raw id, we by encoded index.
    n_users = int(max(train["userId"].max() + 1, split.encoder.n_users))
    n_items = int(max(movie_ids.max() + 1, split.encoder.n_items))
    arrays = split.arrays("train")
    sampler = NegativeSampler(arrays[0], arrays[1], split.encoder.n_items)
    return train, movie_ids, arrays, sampler, n_users, n_items


PIPELINE_CASES = ((32, 0.0), (32, 0.4), (1024, 0.4))


def bench_pipeline(setup, skip_original=False, cases=PIPELINE_CASES,
                   original_samples=ORIGINAL_SAMPLES):
    train, movie_ids, arrays, _, n_users, n_items = setup
    rows = []
    for batch_size, ratio in cases:
        case = f"batch {batch_size}, ratio {ratio}"
        log(f"pipeline, {case}")
        ours, seconds = time_fit_epoch(arrays, n_users, n_items, batch_size, ratio)
        rows.append(("a. pipeline", case, "ours samples/s (fit, full epoch)", ours, "1/s"))
        rows.append(("a. pipeline", case, "ours epoch", seconds, "s"))
        if not skip_original:
            original = time_original_loader(train, movie_ids, n_users, n_items, batch_size,
                                            ratio, original_samples)
            rows.append(("a. pipeline", case, "original samples/s (DataLoader, extrapolated)",
                         original, "1/s"))
            rows.append(("a. pipeline", case, "original epoch (extrapolated)",
                         len(train) / original, "s"))
            rows.append(("a. pipeline", case, "ours / original", ours / original, "x"))
    return rows


def bench_overhead(setup, batch_size=1024, ratio=0.4, repeats=5):
    """fit's epoch against bare steps, interleaved and best of ``repeats`` each, so a
    burst of load on the shared machine hits both alike."""
    _, _, arrays, sampler, n_users, n_items = setup
    case = f"batch {batch_size}, ratio {ratio}"
    log(f"overhead, {case}")
    epochs, steps = [], []
    for _ in range(repeats):
        epochs.append(time_fit_epoch(arrays, n_users, n_items, batch_size, ratio)[1])
        steps.append(time_prebuilt_steps(arrays, n_users, n_items, batch_size, ratio, sampler))
    epoch, step = min(epochs), min(steps)
    return [("b. overhead", case, f"fit epoch (best of {repeats})", epoch, "s"),
            ("b. overhead", case, f"same steps on pre-built batches (best of {repeats})",
             step, "s"),
            ("b. overhead", case, "pipeline overhead", 100 * (epoch / step - 1), "%")]


# ------------------------------------------------------------------ c. sampler at scale
def synthetic_interactions(n_users, n_items, n_positives, seed=0):
    """Distinct (user, item) pairs shaped like MovieLens, sorted by user then item.

    User activity is log-normal and item popularity Zipf-like (``p(rank) ~ 1/rank``, by
    the inverse CDF of a log-uniform rank); item ids are a random permutation of the
    ranks. Duplicates are dropped and topped up until ``n_positives`` remain.
    """
    rng = np.random.default_rng(seed)
    activity = rng.lognormal(0.0, 1.2, n_users)
    activity /= activity.sum()
    item_of_rank = rng.permutation(n_items)
    keys = np.empty(0, dtype=np.int64)
    for _ in range(10):
        need = n_positives - len(keys)
        if need <= 0:
            break
        m = int(need * 1.5) + 1000
        users = np.repeat(np.arange(n_users, dtype=np.int64), rng.multinomial(m, activity))
        rank = np.exp(rng.random(m) * np.log(n_items + 1.0)).astype(np.int64) - 1
        new = users * n_items + item_of_rank[np.minimum(rank, n_items - 1)]
        # np.sort + neighbour mask, not np.unique: much faster on tens of millions.
        keys = np.sort(np.concatenate([keys, new]))
        keys = keys[np.r_[True, keys[1:] != keys[:-1]]]
    if len(keys) > n_positives:
        drop = np.zeros(len(keys), dtype=bool)
        drop[rng.choice(len(keys), len(keys) - n_positives, replace=False)] = True
        keys = keys[~drop]
    return keys // n_items, keys % n_items, keys


def bench_sampler(n_users, n_items, n_positives, n_negatives, seed=0):
    case = f"{n_positives / 1e6:g}M positives, {n_negatives / 1e6:g}M negatives"
    log(f"sampler, {case}")
    start = time.perf_counter()
    users, items, keys = synthetic_interactions(n_users, n_items, n_positives, seed)
    generate = time.perf_counter() - start
    ratings = np.ones(len(users), dtype=np.float32)

    start = time.perf_counter()
    sampler = NegativeSampler(users, items, n_items)
    build = time.perf_counter() - start

    ratio = n_negatives / len(users)
    tracemalloc.start()
    start = time.perf_counter()
    u, i, y = add_negatives(users, items, ratings, sampler, ratio, np.random.default_rng(seed))
    draw = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    neg_u, neg_i = u[len(users):], i[len(users):]
    start = time.perf_counter()
    found = int(sampler.contains(neg_u, neg_i).sum())
    contains = time.perf_counter() - start
    # Independent of the sampler: the generator's own sorted positive keys.
    q = neg_u * n_items + neg_i
    hit = keys[np.minimum(np.searchsorted(keys, q), len(keys) - 1)] == q
    false_negatives = int(hit.sum()) + int(((neg_i < 0) | (neg_i >= n_items)).sum())
    assert found == false_negatives, "sampler.contains disagrees with the independent check"
    output = u.nbytes + i.nbytes + y.nbytes
    return [
        ("c. sampler", case, "generate synthetic positives", generate, "s"),
        ("c. sampler", case, "positives (distinct pairs)", len(users), "rows"),
        ("c. sampler", case, "build NegativeSampler", build, "s"),
        ("c. sampler", case, "add_negatives", draw, "s"),
        ("c. sampler", case, "add_negatives peak memory (tracemalloc)", peak / 2**20, "MiB"),
        ("c. sampler", case, "  of which the returned arrays", output / 2**20, "MiB"),
        ("c. sampler", case, "negatives drawn", len(neg_u), "rows"),
        ("c. sampler", case, "false negatives (exact check)", false_negatives, "rows"),
        ("c. sampler", case, "sampler.contains on the negatives", contains, "s"),
    ]


# ------------------------------------------------------------------ d. series
def bench_series(rerun=False):
    if rerun:
        from tools import run_notebooks
        run_notebooks.main([])
    path = BUILD / "series_times.csv"
    if not path.exists():
        return [("d. series", "(none)", "run `make run` or pass --series", float("nan"), "")]
    with open(path, newline="") as f:
        times = [(row["notebook"], float(row["seconds"])) for row in csv.DictReader(f)]
    rows = [("d. series", name, "run time (from build/series_times.csv)", s, "s")
            for name, s in times]
    rows.append(("d. series", "all notebooks", "total", sum(s for _, s in times), "s"))
    return rows


# ------------------------------------------------------------------ e. scale
def bench_scale(rerun=False):
    """The ml-25m rows of ``data/measured/scale.csv``; with ``rerun``, measured again into
    ``build/scale.csv`` and read from there (the stored table is left as it is)."""
    path = scale.RESULTS
    if rerun:
        path = scale.OUTPUT
        scale.main(["--epoch", "--ranking", "--output", str(path)])
    if not path.exists():
        return [("e. scale", "(none)", "run python -m benchmarks.scale --epoch --ranking",
                 float("nan"), "")]
    table = scale.read_results(path)
    rows = []
    for _, r in table[(table["shape"] == "ml-25m") & (table["note"] != "size sweep")].iterrows():
        case = (f"ml-25m {r['kind']}, {r['processes']} process(es), {r['measured']}, "
                f"measured {r['date']}")
        what = "epoch" if r["kind"] == "epoch" else "all users"
        rows += [("e. scale", case, f"{what} time", r["epoch_seconds"], "s"),
                 ("e. scale", case, "samples/s (CPU)", r["samples_per_s"], "1/s"),
                 ("e. scale", case, "peak memory per process", r["peak_mib_per_process"], "MiB"),
                 ("e. scale", case, "load average during the run", r["load_avg_1min"], "")]
    return rows + gpu_rows()


GPU_RESULTS = Path(__file__).resolve().parent / "results" / "gpu" / "train.csv"


def gpu_rows(path=GPU_RESULTS):
    """The steady-state (last) epoch of each stored GPU run at the ml-25m shape
    (``benchmarks/gpu_check.sh``; needs a CUDA machine, so it is never re-run here)."""
    if not path.exists():
        return [("e. scale", "GPU", "samples/s (GPU)", float("nan"), "not measured")]
    runs = pd.read_csv(path)
    runs = runs[runs["shape"] == "ml-25m"].groupby("name").tail(1)
    rows = []
    for _, r in runs.iterrows():
        precision = "bf16 autocast" if r["amp"] else "fp32"
        launcher = "torchrun, DDP" if r["launcher"] == "torchrun" else "python -m, no DDP"
        case = f"ml-25m epoch {r['epoch']}, GPU, 1 process, {launcher}, {precision}"
        rows += [("e. scale", case, "epoch time", r["train_seconds"], "s"),
                 ("e. scale", case, "samples/s (GPU)", r["samples_per_s"], "1/s"),
                 ("e. scale", case, "peak GPU memory", r["peak_mib_max_rank"], "MiB")]
    return rows


# ------------------------------------------------------------------ f. GPU recipe
def recipe_rows(path=gpu_recipe.RESULTS):
    """NVIDIA's published figures, then the newest stored run of the recipe per device,
    data and precision (``benchmarks/gpu_recipe.py --store``)."""
    section = "f. GPU recipe"
    rows = [(section, f"NVIDIA, 1x A100 40GB, {name.upper()}", "samples/s (published)",
             figures["samples_per_s"], "1/s") for name, figures in gpu_recipe.NVIDIA.items()]
    runs = gpu_recipe.read_results(path)
    if runs.empty:
        return rows + [(section, "GPU", "samples/s", float("nan"), "not measured")]
    for _, r in runs.drop_duplicates(["device", "data", "precision"], keep="last").iterrows():
        case = f"{r['device']}, {r['precision']}, {r['data']}, measured {r['date']}"
        rows += [(section, case, "samples/s (mean of epochs 2+)", r["samples_per_s"], "1/s"),
                 (section, case, "x NVIDIA's A100", r["ratio_to_nvidia"], "x"),
                 (section, case, "GPU busy (probe epoch)", 100 * r["gpu_busy_fraction"], "%"),
                 (section, case, "host reads in the probe epoch", r["host_reads_probe"], ""),
                 (section, case, "peak GPU memory", r["peak_mib"], "MiB")]
    return rows


# ------------------------------------------------------------------ report
def report(rows, info, path=None):
    table = pd.DataFrame(rows, columns=["section", "case", "measure", "value", "unit"])
    width = max(len(k) for k in info)
    print("\n".join(f"{k:<{width}}  {v}" for k, v in info.items()))
    shown = table.assign(value=[f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.3g}"
                                for v in table["value"]])
    with pd.option_context("display.max_rows", None, "display.max_colwidth", 60,
                           "display.width", 200):
        print(shown.to_string(index=False))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="") as f:
            for k, v in info.items():
                f.write(f"# {k}: {v}\n")
            table.to_csv(f, index=False)
        print(f"written to {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="sampler at 1/10 scale (2.5M positives, 1M negatives)")
    parser.add_argument("--skip-original", action="store_true",
                        help="skip the original DataLoader timings")
    parser.add_argument("--series", action="store_true",
                        help="re-execute the notebooks (tools.run_notebooks) first")
    parser.add_argument("--scale", action="store_true",
                        help="re-run the ml-25m epoch and ranking rows into build/scale.csv "
                             "(benchmarks/scale.py)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: these models are small, and on a "
                             "shared machine OpenMP threads waiting for each other make a "
                             "step several times slower); 0 keeps torch's default")
    parser.add_argument("--output", type=Path, default=BUILD / "bench.csv")
    args = parser.parse_args(argv)
    os.environ.setdefault("NCF_PROGRESS", "0")
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    info = machine()
    info["load average (1 min) at start"] = f"{load_average():.2f}"
    start = time.perf_counter()
    rows = bench_series(rerun=True) if args.series else []
    setup = original_setup()
    rows += bench_pipeline(setup, skip_original=args.skip_original)
    rows += bench_overhead(setup)
    rows += bench_sampler(**(QUICK if args.quick else ML25M))
    if not args.series:
        rows += bench_series()
    rows += bench_scale(rerun=args.scale)
    rows += recipe_rows()
    info["load average (1 min) at end"] = f"{load_average():.2f}"
    info["benchmark wall time"] = f"{time.perf_counter() - start:.0f} s"
    report(rows, info, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
