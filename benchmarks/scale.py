"""What one training epoch costs as MovieLens grows: the sweep lesson 10 shows.

    python -m benchmarks.scale                  # sweep + ml-25m epochs + ranking (long)
    python -m benchmarks.scale --sweep          # only the size sweep (~10 min)
    python -m benchmarks.scale --epoch          # only the ml-25m epoch on 1 and 2 processes
    python -m benchmarks.scale --ranking        # only full-ranking evaluation at ml-25m shape
    python -m benchmarks.scale --epoch --epoch-steps 300   # part of the epoch, extrapolated
    python -m benchmarks.scale --sweep --store  # into data/measured/scale.csv (lesson 10)

Every row trains the same model, ``NeuMF`` (GMF 8, MLP 32 -> [64, 32, 16]), on implicit
feedback with 4 fresh negatives per positive and BCE, through the package's command line
(:mod:`ncf_helpers.cli`, the one training engine) in a fresh job
(:mod:`benchmarks.train_job`, one process or ``torchrun``), so each peak-memory figure is
one process's own. Data: real ml-100k, then synthetic ratings with the users, movies and
ratings of ml-1m, ml-10m, ml-25m and ml-32m (:mod:`ncf_helpers.synthetic`, cached as
``.npz`` in ``build/scale/``).

Where a full epoch would take too long, a row times the first ``--steps`` optimizer
steps and extrapolates the epoch time from the share of its samples timed (the column
``measured`` says ``full epoch`` or ``N of M steps``). The engine draws the whole epoch's
negatives before its first step, so a partial epoch carries all of that draw and its
extrapolation errs long. Results are appended (one row per measurement, newest last,
with the machine, load average and command) to ``build/scale.csv``, or with ``--store``
to the stored table that lesson 10 and ``make bench`` show, ``data/measured/scale.csv``.
"""
import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.machine import cpu_model, load_average

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "build" / "scale"
RESULTS = ROOT / "data" / "measured" / "scale.csv"  # the stored table (--store)
OUTPUT = ROOT / "build" / "scale.csv"  # everything else
SWEEP = ("ml-100k", "ml-1m", "ml-10m", "ml-25m", "ml-32m")
BATCH = 32768  # positives per step
NEGATIVES = 4
BATCH_SAMPLES = BATCH * (1 + NEGATIVES)  # --batch-size counts rows: 163,840 per step
TRAINER_ARGS = ["--task", "implicit", "--negatives", str(NEGATIVES), "--model", "NeuMF",
                "--epochs", "1", "--batch-size", str(BATCH_SAMPLES), "--lr", "0.003",
                "--test-fraction", "0", "--val-fraction", "0.0005", "--val-users", "200",
                "--seed", "0"]
FIELDS = ["date", "kind", "shape", "users", "movies", "ratings", "processes", "batch_positives",
          "samples_per_epoch", "steps_timed", "steps_per_epoch", "measured", "seconds_timed",
          "epoch_seconds", "samples_per_s", "peak_mib_per_process", "load_avg_1min", "note"]


def log(message):
    print(f"[scale {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def dataset(shape):
    """``--data`` for a shape: real ml-100k, else a cached synthetic ``.npz``."""
    from ncf_helpers.synthetic import shape_of, synthetic_ratings

    if shape == "ml-100k":
        return "ml-100k"
    path = CACHE / f"{shape.replace('/', '_')}.npz"
    if not path.exists():
        log(f"generating synthetic {shape}")
        n_users, n_items, n_ratings = shape_of(shape)
        users, items, ratings = synthetic_ratings(n_users, n_items, n_ratings, seed=0)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, users=users, items=items, ratings=ratings, n_users=n_users,
                 n_items=n_items)
        os.replace(tmp, path)
    return str(path)


def shape_numbers(shape):
    from ncf_helpers.synthetic import SHAPES, shape_of

    return SHAPES["ml-100k"] if shape == "ml-100k" else shape_of(shape)


def epoch_row(shape, nproc, max_steps, timeout, note=""):
    """One epoch (or its first ``max_steps`` steps) in a fresh job; one result row."""
    from benchmarks.train_job import launch

    data = dataset(shape)
    args = ["--data", data, *TRAINER_ARGS]
    if max_steps:
        args += ["--max-steps", str(max_steps)]
    log(f"{shape}: {nproc} process(es), {max_steps or 'all'} steps")
    with tempfile.TemporaryDirectory() as out:
        done = launch(args, nproc=nproc, out=out, timeout=timeout, torchrun=nproc > 1)
    if done.returncode != 0:
        raise RuntimeError(f"{shape} on {nproc} process(es) failed:\n{done.stderr[-3000:]}")
    row = done.history.iloc[0]
    samples_epoch = (1 + NEGATIVES) * int(done.summary["train_positives"])
    per_epoch = -(-samples_epoch // BATCH_SAMPLES)
    steps = -(-int(row["samples"]) // BATCH_SAMPLES)  # the last batch may be short
    seconds = float(row["train_seconds"])  # the training loop only, not validation
    users, movies, ratings = shape_numbers(shape)
    return {
        "date": time.strftime("%Y-%m-%d %H:%M"), "kind": "epoch", "shape": shape,
        "users": users, "movies": movies, "ratings": ratings, "processes": nproc,
        "batch_positives": BATCH, "samples_per_epoch": samples_epoch, "steps_timed": steps,
        "steps_per_epoch": per_epoch,
        "measured": "full epoch" if steps == per_epoch else f"{steps} of {per_epoch} steps",
        "seconds_timed": round(seconds, 2),
        # by the share of the epoch's samples timed (its last batch may be short)
        "epoch_seconds": round(seconds * samples_epoch / int(row["samples"]), 1),
        "samples_per_s": round(int(row["samples"]) / seconds),
        "peak_mib_per_process": round(max(p["peak_mib"] for p in done.peaks)),
        "load_avg_1min": round(load_average(), 2), "note": note,
    }


def ranking_row(shape="ml-25m", n_users=512, chunk_users=256):
    """Full-ranking evaluation of an (untrained) NeuMF at ``shape`` for ``n_users``
    test users against every unrated movie; time extrapolated to all users.
    Runs in a fresh process so the peak resident memory is its own."""
    import subprocess

    data = dataset(shape)
    code = f"""
import json, time, numpy as np, torch
from ncf_helpers.cli import load_arrays
from ncf_helpers.metrics import full_ranking_metrics
from ncf_helpers.models import NeuMF
from ncf_helpers.utils import peak_memory_mib, reset_peak_memory
torch.set_num_threads(1)
users, items, _, n_users, n_items, _ = load_arrays({data!r})
# one held-out movie per test user (its last one), the rest is train
last = np.r_[users[1:] != users[:-1], True]
test_users = np.random.default_rng(0).choice(n_users, {n_users}, replace=False)
is_test = last & np.isin(users, test_users)
model = NeuMF(n_users, n_items, head="logits").eval()
reset_peak_memory("cpu")
start = time.perf_counter()
# The model itself as the scorer: the metric calls its unchecked predict per chunk.
m = full_ranking_metrics(model, users[is_test], items[is_test], users[~is_test], items[~is_test],
                         n_items, k=10, chunk_size={chunk_users})
seconds = time.perf_counter() - start
print(json.dumps({{"seconds": seconds, "peak": peak_memory_mib("cpu"),
                  "n_users": m["n_users"], "all_users": n_users}}))
"""
    log(f"ranking at {shape}: {n_users} users")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"ranking benchmark failed:\n{done.stderr[-3000:]}")
    import json

    found = json.loads(done.stdout.strip().splitlines()[-1])
    users, movies, ratings = shape_numbers(shape)
    per_user = found["seconds"] / found["n_users"]
    return {
        "date": time.strftime("%Y-%m-%d %H:%M"), "kind": "full ranking", "shape": shape,
        "users": users, "movies": movies, "ratings": ratings, "processes": 1,
        "batch_positives": chunk_users, "samples_per_epoch": users * movies,
        "steps_timed": found["n_users"], "steps_per_epoch": users,
        "measured": f"{found['n_users']} of {users} users",
        "seconds_timed": round(found["seconds"], 2),
        "epoch_seconds": round(per_user * users, 1),
        "samples_per_s": round(found["n_users"] * movies / found["seconds"]),
        "peak_mib_per_process": round(found["peak"]),
        "load_avg_1min": round(load_average(), 2),
        "note": f"chunks of {chunk_users} users x all movies; 'batch_positives' is the chunk",
    }


def append(rows, command, path=OUTPUT):
    """Append rows to the results CSV (with a header block on first write)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    with open(path, "a", newline="") as f:
        if new:
            f.write(f"# written by benchmarks/scale.py; regenerate: {command}\n"
                    f"# machine: {cpu_model()}, {os.cpu_count()} cores SHARED with other "
                    "jobs (load average per row), one torch thread per process, torch "
                    f"{__import__('torch').__version__}; no GPU measured\n")
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        if new:
            writer.writeheader()
        for row in rows:
            writer.writerow(row)
            f.flush()


def read_results(path=None):
    """The results as a DataFrame: the newest row of each kind, shape, processes, note."""
    import pandas as pd

    table = pd.read_csv(path or RESULTS, comment="#")
    return table.drop_duplicates(["kind", "shape", "processes", "note"],
                                 keep="last").reset_index(drop=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", action="store_true", help="the size sweep, 1 process")
    parser.add_argument("--epoch", action="store_true",
                        help="ml-25m shape: one epoch on 1 and on 2 processes")
    parser.add_argument("--ranking", action="store_true",
                        help="full-ranking evaluation at ml-25m shape")
    parser.add_argument("--shapes", nargs="+", default=list(SWEEP))
    parser.add_argument("--steps", type=int, default=40,
                        help="sweep: steps timed per shape when an epoch has more")
    parser.add_argument("--epoch-steps", type=int, default=None,
                        help="--epoch: time only this many steps and extrapolate")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--output", type=Path, default=OUTPUT,
                       help="the CSV to append to (default: build/scale.csv)")
    where.add_argument("--store", dest="output", action="store_const", const=RESULTS,
                       help="append to the stored table, data/measured/scale.csv")
    args = parser.parse_args(argv)
    everything = not (args.sweep or args.epoch or args.ranking)
    command = "python -m benchmarks.scale " + " ".join(argv if argv is not None else sys.argv[1:])
    if sys.platform != "win32":  # no core files from crashed workers (Unix only)
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if args.sweep or everything:
        for shape in args.shapes:
            append([epoch_row(shape, 1, args.steps, 3600, "size sweep")], command, args.output)
    if args.epoch or everything:
        for nproc in args.processes:
            append([epoch_row("ml-25m", nproc, args.epoch_steps, 7200,
                              "ml-25m epoch, 4 negatives per positive")], command, args.output)
    if args.ranking or everything:
        append([ranking_row()], command, args.output)
    print(read_results(args.output).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
