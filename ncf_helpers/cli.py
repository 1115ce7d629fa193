"""Train a model from the command line, on one process or many (torchrun + DDP).

A thin layer over the one engine: flags become a :class:`~ncf_helpers.training.TrainConfig`
and :func:`~ncf_helpers.training.fit` does the training, as in the notebooks.

One process::

    python -m ncf_helpers.cli --data ml-100k --model NeuMF --epochs 5 --out runs/one

Several processes on one machine (gloo on CPU, NCCL on GPUs, one GPU per process)::

    torchrun --standalone --nproc_per_node=2 -m ncf_helpers.cli --data ml-100k --out runs/two

Several machines: the same command on every node, with the node count and a
rendezvous address that all of them can reach (any free port on the first node)::

    torchrun --nnodes=2 --nproc_per_node=4 --rdzv-backend=c10d \\
        --rdzv-endpoint=node0.example.org:29400 --rdzv-id=ncf-run-1 \\
        -m ncf_helpers.cli --data ml-25m --device cuda --out runs/big

Every node needs the same data (``--data ml-25m`` reads ``data/ml-25m/`` on each node);
``--out`` on rank 0's node receives ``model.pt`` (the best validation epoch, in the
format of :mod:`ncf_helpers.checkpoint`), ``history.csv`` and ``summary.json``.

Failures end the job, they never hang it: a process that raises makes torchrun stop the
others, and rank 0 says why it stopped; collectives time out after ``--timeout``
seconds. Flags are checked before any data is read.
"""
import argparse
import datetime
import json
import math
import os
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.distributed.elastic.multiprocessing.errors import record

from . import checks, metrics
from .checkpoint import load_checkpoint, save_checkpoint
from .data import DATASETS, load_movielens
from .encoding import IdEncoder
from .losses import LOSSES
from .models import MODEL_REGISTRY, build_model
from .synthetic import shape_of, synthetic_ratings
from .training import OPTIMIZERS, TrainConfig, fit
from .utils import DEFAULT_SEED, get_device

NPZ_KEYS = ("users", "items", "ratings", "n_users", "n_items")


def log(rank, message):
    """Print from rank 0 only (every rank would print the same)."""
    if rank == 0:
        print(message, flush=True)


# --------------------------------------------------------------------------- data
def load_arrays(spec, data_dir=None, seed=DEFAULT_SEED):
    """Ratings as encoded arrays: ``users, items, ratings, n_users, n_items, encoder``.

    ``spec`` is a MovieLens name (``"ml-100k"``, ``"ml-25m"``, ... read with
    :func:`~ncf_helpers.data.load_movielens`), ``"synthetic:<shape>"`` (see
    :func:`~ncf_helpers.synthetic.shape_of`, e.g. ``"synthetic:ml-25m"``) or the path
    of an ``.npz`` file with integer ``users`` and ``items`` (indices below
    ``n_users`` and ``n_items``) and finite ``ratings``.
    """
    if spec in DATASETS:
        ratings = load_movielens(spec, data_dir).ratings
        encoder = IdEncoder().fit(ratings)
        users, items = encoder.transform(ratings)
        return (users.astype(np.int32), items.astype(np.int32),
                ratings["rating"].to_numpy(np.float32), encoder.n_users, encoder.n_items,
                encoder)
    if spec.startswith("synthetic:"):
        n_users, n_items, n_ratings = shape_of(spec.split(":", 1)[1])
        users, items, ratings = synthetic_ratings(n_users, n_items, n_ratings, seed=seed)
        return users, items, ratings, n_users, n_items, None
    if spec.endswith(".npz"):
        return (*_read_npz(Path(spec)), None)
    raise ValueError(f"--data must be one of {list(DATASETS)}, 'synthetic:<shape>' "
                     f"(e.g. synthetic:ml-25m) or a .npz file; got {spec!r}")


def _read_npz(path):
    """The arrays of an ``.npz`` ratings file, each checked, with the file named."""
    if not path.is_file():
        raise FileNotFoundError(f"no ratings file {str(path)!r}")
    try:
        with np.load(path) as f:
            missing = [k for k in NPZ_KEYS if k not in f.files]
            if missing:
                raise ValueError(f"{path} lacks the array(s) {missing}; it must hold "
                                 f"{list(NPZ_KEYS)} (np.savez(path, users=..., ...))")
            found = {k: f[k] for k in NPZ_KEYS}
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ValueError(f"{path} is not a readable .npz file ({type(exc).__name__}: {exc}); "
                         "write it again with np.savez") from None
    n_users = checks.positive_int(found["n_users"].item(), f"{path}: n_users")
    n_items = checks.positive_int(found["n_items"].item(), f"{path}: n_items")
    users = checks.index_array(found["users"], f"{path}: users", n_users)
    items = checks.index_array(found["items"], f"{path}: items", n_items)
    ratings = checks.finite_array(found["ratings"], f"{path}: ratings", np.float32)
    checks.same_length(users=users, items=items, ratings=ratings)
    checks.non_empty(users, f"{path}: users", "it holds no ratings")
    return users.astype(np.int32), items.astype(np.int32), ratings, n_users, n_items


def holdout(n, val_fraction, test_fraction=0.1, seed=DEFAULT_SEED):
    """Row indices ``train, val``: a seeded random ``test_fraction`` is set aside
    first (never used here), then ``val_fraction`` of the rest is validation."""
    order = np.random.default_rng(seed).permutation(n)
    n_test = int(round(test_fraction * n))
    n_val = max(1, int(round(val_fraction * (n - n_test))))
    if n - n_test - n_val < 1:
        raise ValueError(f"{n} ratings leave nothing to train on after a test share of "
                         f"{test_fraction} and a validation share of {val_fraction}")
    return np.sort(order[n_test + n_val:]), np.sort(order[n_test:n_test + n_val])


def check_world_size(world_size, n_users, batch_size):
    """Refuse a job whose processes cannot all get work."""
    if world_size > n_users:
        raise ValueError(f"{world_size} processes but only {n_users} users in the training "
                         f"data: lower --nproc_per_node (at most {n_users}) or use more data")
    if world_size > batch_size:
        raise ValueError(f"{world_size} processes but a global batch of {batch_size} "
                         f"rows: each process needs at least one; raise --batch-size "
                         f"to at least {world_size}")


# ---------------------------------------------------------------------- the run
def build(args, n_users, n_items, rating_range):
    """The model named by ``--model``, sized for the data, from ``--model-config``."""
    head = "logits" if args.task == "implicit" else "bounded"
    if args.model == "MLP":
        config = {"num_users": n_users, "num_items": n_items, "latent_dim": 32,
                  "layers": [64, 32, 16], **args.model_config}
    else:
        config = {"n_users": n_users, "n_items": n_items, **args.model_config}
    config.setdefault("head", head)
    if config["head"] == "bounded":
        config.setdefault("rating_range", rating_range)
    return build_model(args.model, config)


def val_metric(args, train, val, n_items):
    """``rating``: RMSE of the validation rows. ``implicit``: NDCG@10 with full
    ranking of at most ``--val-users`` validation users (a seeded sample)."""
    if args.task == "rating":
        return metrics.rmse_metric(*val)
    users, items = val[0], val[1]
    chosen = np.unique(users)
    if len(chosen) > args.val_users:
        chosen = np.random.default_rng(args.seed).choice(chosen, args.val_users, replace=False)
    keep = np.isin(users, chosen)
    return metrics.full_ranking_metric(users[keep], items[keep], train[0], train[1], n_items,
                                       k=10, metric="ndcg", chunk_size=args.chunk_users)


class Job:
    """Where this process stands in the job: rank, world size, device, phase."""

    def __init__(self, device, timeout):
        self.distributed = "WORLD_SIZE" in os.environ  # launched by torchrun
        self.rank = int(os.environ.get("RANK", 0))
        self.world_size = int(os.environ.get("WORLD_SIZE", 1))
        local_rank = int(os.environ.get("LOCAL_RANK", 0))
        device = get_device(device)
        if device.type == "cuda" and self.distributed:
            device = torch.device("cuda", local_rank)  # one GPU per process
        self.device, self.timeout = device, datetime.timedelta(seconds=timeout)
        self.phase = "start-up"

    def init(self):
        if not self.distributed:
            return
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        backend = "nccl" if self.device.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=self.timeout)

    def barrier(self, what):
        """All ranks meet; on gloo a rank that does not arrive is named in the error."""
        if not self.distributed:
            return
        self.phase = what
        if dist.get_backend() == "gloo":
            dist.monitored_barrier(timeout=self.timeout)
        else:
            dist.barrier()


def run(job, args, config):
    """Load the data, train with :func:`fit`, write the outputs: the body of :func:`main`."""
    users, items, ratings, n_users, n_items, encoder = load_arrays(args.data, args.data_dir,
                                                                   args.seed)
    check_world_size(job.world_size, n_users, args.batch_size)
    job.init()
    train_idx, val_idx = holdout(len(users), args.val_fraction, args.test_fraction, args.seed)
    train = (users[train_idx], items[train_idx],
             np.ones(len(train_idx), np.float32) if args.task == "implicit"
             else ratings[train_idx])
    val = (users[val_idx], items[val_idx], ratings[val_idx])
    rating_range = (float(ratings.min()), float(ratings.max()))
    if rating_range[0] == rating_range[1]:
        rating_range = (rating_range[0] - 1.0, rating_range[1])  # a single rating value
    del users, items, ratings

    torch.manual_seed(args.seed)  # the same initial weights on every rank
    model = build(args, n_users, n_items, rating_range)
    metric = val_metric(args, train, val, n_items)
    out = Path(args.out)
    if job.rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    log(job.rank, f"{type(model).__name__} on {job.world_size} process(es), {job.device}; "
        f"{len(train[0]):,} training rows, {len(val[0]):,} validation rows, "
        f"{n_users:,} users x {n_items:,} items; global batch {config.batch_size}, "
        f"loss {config.loss or 'default'}, {config.negatives:g} negatives per positive")
    job.barrier("the start of training")
    job.phase = "training"
    history = fit(model, train, config, metric)
    best = int(history.attrs["best_epoch"])
    column = f"val_{metric.name}"
    if job.rank == 0:
        save_checkpoint(out / "model.pt", model, encoder, extra={
            "epoch": best, column: float(history.loc[best, column]),
            "world_size": job.world_size, "data": args.data, "seed": args.seed})
        history.assign(world_size=job.world_size).to_csv(out / "history.csv")
        summary = {"best_epoch": best, f"best_{column}": float(history.loc[best, column]),
                   "world_size": job.world_size, "device": str(job.device),
                   "epochs": len(history), "data": args.data, "n_users": n_users,
                   "n_items": n_items, "train_positives": len(train[0])}
        (out / "summary.json").write_text(json.dumps(summary, indent=1))
    job.barrier("the checkpoint written by rank 0")
    if args.check_checkpoint:
        check_checkpoint(job, out, val)
    log(job.rank, f"best epoch {best}: {column} {history.loc[best, column]:.4f}; wrote "
        f"{out / 'model.pt'} and {out / 'history.csv'}")


def check_checkpoint(job, out, val, n=2000):
    """Every rank loads the checkpoint and writes its predictions for the first ``n``
    validation pairs; rank 0 checks they are identical."""
    model, _, _ = load_checkpoint(out / "model.pt")
    pred = model.predict(val[0][:n], val[1][:n])
    np.save(out / f"predictions_rank{job.rank}.npy", pred)
    job.barrier("the checkpoint check")
    if job.rank == 0:
        first = np.load(out / "predictions_rank0.npy")
        for r in range(1, job.world_size):
            if not np.array_equal(first, np.load(out / f"predictions_rank{r}.npy")):
                raise RuntimeError(f"rank {r} predicts differently from rank 0 with the "
                                   "same checkpoint")
        log(0, f"checkpoint check: {job.world_size} process(es) predict identically")


# ----------------------------------------------------------------- launching
def launch(args, nproc=1, out=None, timeout=600, env=None, torchrun=None):
    """Run this module in a subprocess, as a reader would from a shell.

    Parameters
    ----------
    args : list of str
        Command-line arguments (``python -m ncf_helpers.cli --help``); ``--out`` is
        added from ``out``.
    nproc : int
        Processes. ``torchrun --standalone --nproc_per_node=nproc`` (as
        ``python -m torch.distributed.run``) is used when ``nproc > 1`` or
        ``torchrun=True``; a plain ``python -m`` run otherwise.
    out : str or Path
        Output folder (``model.pt``, ``history.csv``, ``summary.json``).
    timeout : float
        Seconds before the job is stopped: its whole process group (torchrun and every
        worker) is terminated, so nothing keeps running or writes afterwards, and
        ``subprocess.TimeoutExpired`` is raised. Ctrl-C stops the group the same way.
    env : dict, optional
        Extra environment variables; ``OMP_NUM_THREADS`` defaults to 1.

    Returns
    -------
    subprocess.CompletedProcess
        With ``stdout``/``stderr`` text; ``.history`` (a DataFrame) and ``.summary``
        (a dict) when the run succeeded, else None.
    """
    import pandas as pd

    nproc = checks.positive_int(nproc, "nproc")
    timeout = checks.finite_number(timeout, "timeout", minimum=0)
    out = Path(out if out is not None else "runs/ncf")
    command = [sys.executable, "-m"]
    if nproc > 1 or torchrun:
        command += ["torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
                    "-m"]
    command += ["ncf_helpers.cli", *map(str, args), "--out", str(out)]
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    # A session of its own: on a timeout the whole group (torchrun and its workers) stops.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=full_env, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except BaseException:  # a timeout, Ctrl-C, anything: leave nothing running behind
        stop_group(process)
        raise
    done = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    done.history = done.summary = None
    if done.returncode == 0:
        done.history = pd.read_csv(out / "history.csv")
        done.summary = json.loads((out / "summary.json").read_text())
    return done


def _descendants(pid):
    """Every live process started under ``pid`` (Linux /proc; empty elsewhere).

    torchrun starts each worker in a session of its own, so signalling the launcher's
    process group alone would miss them.
    """
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def stop_group(process, grace=5.0):
    """Stop ``process`` and everything it started: SIGTERM, then SIGKILL after ``grace``."""
    if not hasattr(os, "killpg"):  # Windows: no process groups to signal
        process.kill()
        process.wait()
        return
    family = _descendants(process.pid)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for target in [process.pid, *family]:
            try:
                os.kill(target, sig)
            except ProcessLookupError:
                pass
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
        if not any(Path(f"/proc/{p}").exists() for p in family):
            return
        family = [p for p in family if Path(f"/proc/{p}").exists()]


# -------------------------------------------------------------------------- CLI
def parse_args(argv=None):
    """Parse and check every flag, and build the :class:`TrainConfig`, before any work.

    Returns
    -------
    args : argparse.Namespace
    config : TrainConfig
    """
    p = argparse.ArgumentParser(prog="python -m ncf_helpers.cli",
                                description=__doc__.splitlines()[0])
    p.add_argument("--data", default="ml-100k",
                   help="a MovieLens name, synthetic:<shape> (e.g. synthetic:ml-25m) or a .npz")
    p.add_argument("--data-dir", default=None, help="folder of the unzipped release")
    p.add_argument("--task", choices=("rating", "implicit"), default="rating",
                   help="rating: MSE on the stars, validation RMSE; implicit: every rating a "
                        "positive, validation NDCG@10 with full ranking")
    p.add_argument("--model", default="NeuMF", choices=sorted(MODEL_REGISTRY))
    p.add_argument("--model-config", default="{}",
                   help='JSON of constructor arguments, e.g. \'{"gmf_dim": 16}\'')
    p.add_argument("--loss", choices=sorted(LOSSES), default=None,
                   help="default: mse for --task rating, bce for --task implicit")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=1024,
                   help="rows per optimizer step, over all processes together")
    p.add_argument("--negatives", type=float, default=0.0,
                   help="negatives per positive, drawn fresh every epoch")
    p.add_argument("--negative-value", type=float, default=0.0,
                   help="target of a negative in the rating task")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="adam")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--beta1", type=float, default=0.9)
    p.add_argument("--beta2", type=float, default=0.999)
    p.add_argument("--eps", type=float, default=1e-8)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--l2", type=float, default=0.0, help="L2 penalty on the rows a batch uses")
    p.add_argument("--patience", type=int, default=None)
    p.add_argument("--val-fraction", type=float, default=0.1,
                   help="validation share of what is left after the test share")
    p.add_argument("--test-fraction", type=float, default=0.1,
                   help="share set aside as a test split (never used here); 0 for none")
    p.add_argument("--max-steps", type=int, default=None,
                   help="benchmarks: stop each epoch after this many steps")
    p.add_argument("--val-users", type=int, default=2000,
                   help="implicit task: users scored by full ranking (a seeded sample)")
    p.add_argument("--chunk-users", type=int, default=256,
                   help="users scored at once in full ranking (memory ~ this x items)")
    p.add_argument("--amp", action="store_true", help="bfloat16 autocast (GPU or CPU)")
    p.add_argument("--on-device", choices=("auto", "yes", "no"), default="auto",
                   help="keep the data and the negative draws on the device "
                        "(auto: yes on a GPU)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--timeout", type=float, default=300,
                   help="seconds a collective waits for the other processes")
    p.add_argument("--check-checkpoint", action="store_true",
                   help="every rank reloads the checkpoint; rank 0 checks they agree")
    p.add_argument("--out", default="runs/ncf", help="folder for model.pt and history.csv")
    args = p.parse_args(argv)
    for name in ("val_users", "chunk_users"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be a positive integer")
    if not 0 < args.val_fraction < 1 or not 0 <= args.test_fraction < 1:
        p.error("--val-fraction must be in (0, 1) and --test-fraction in [0, 1)")
    if not math.isfinite(args.timeout) or args.timeout <= 0:
        p.error("--timeout must be a positive number of seconds")
    if args.data.startswith("synthetic:"):
        try:
            shape_of(args.data.split(":", 1)[1])
        except (TypeError, ValueError) as exc:
            p.error(f"--data {args.data}: {exc}")
    elif args.data.endswith(".npz"):
        if not Path(args.data).is_file():
            p.error(f"--data {args.data}: no such file")
    elif args.data not in DATASETS:
        p.error(f"--data must be one of {list(DATASETS)}, synthetic:<shape> (e.g. "
                f"synthetic:ml-25m) or an existing .npz file; got {args.data!r}")
    if args.task == "implicit" and args.negatives == 0:
        p.error("--task implicit needs --negatives > 0 (positives alone teach nothing)")
    try:
        args.model_config = json.loads(args.model_config)
    except json.JSONDecodeError as exc:
        p.error(f"--model-config is not valid JSON ({exc}); pass e.g. '{{\"gmf_dim\": 16}}'")
    if not isinstance(args.model_config, dict):
        p.error("--model-config must be a JSON object, e.g. '{\"gmf_dim\": 16}'")
    try:  # the values TrainConfig refuses, named as flags
        config = TrainConfig(
            epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
            optimizer=args.optimizer, betas=(args.beta1, args.beta2), eps=args.eps,
            weight_decay=args.weight_decay, patience=args.patience,
            loss=args.loss or ("bce" if args.task == "implicit" else "mse"), l2=args.l2,
            negatives=args.negatives, negative_value=args.negative_value, seed=args.seed,
            device=args.device, on_device={"auto": None, "yes": True, "no": False}[
                args.on_device], amp=args.amp, max_steps=args.max_steps, progress=False)
        get_device(args.device)
    except (ValueError, TypeError) as exc:
        p.error(f"{exc} (flags use dashes: --{str(exc).split()[0].replace('_', '-')})")
    if config.loss in ("mse", "original_mse") and args.task == "implicit":
        p.error(f"--loss {config.loss} is for --task rating; use bce, bpr or softmax")
    if config.loss in ("bce", "bpr", "softmax") and args.task == "rating":
        p.error(f"--loss {config.loss} ranks implicit feedback; use --task implicit")
    return args, config


def _on_sigterm(job):
    def handler(signum, frame):
        if job.distributed and job.rank == 0:
            print(f"ncf_helpers.cli: rank 0 stopped by torchrun during {job.phase}: another "
                  "process of the job failed; its error is in torchrun's report below",
                  file=sys.stderr, flush=True)
        sys.exit(1)
    return handler


@record
def main(argv=None):
    args, config = parse_args(argv)
    job = Job(args.device, args.timeout)
    if job.device.type == "cpu":
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", 1)))
    signal.signal(signal.SIGTERM, _on_sigterm(job))
    try:
        run(job, args, config)
    except Exception as exc:
        if job.world_size > 1 and job.rank == 0:
            print(f"ncf_helpers.cli: rank 0 stopped during {job.phase} "
                  f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); if another "
                  "process failed first, its error is in torchrun's report below",
                  file=sys.stderr, flush=True)
        raise
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    main()
