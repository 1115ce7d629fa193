"""Train any model of the series on one device or many processes (torchrun + DDP).

One process, the whole training set on the device::

    python -m ncf_helpers.distributed --data ml-100k --model NeuMF --epochs 5 --out runs/one

Several processes on one machine (gloo on CPU, NCCL on GPUs, one GPU per process)::

    torchrun --standalone --nproc_per_node=2 -m ncf_helpers.distributed \\
        --data ml-100k --out runs/two

Several machines: the same command on every node, with the node count and a
rendezvous address that all of them can reach (any free port on the first node)::

    torchrun --nnodes=2 --nproc_per_node=4 --rdzv-backend=c10d \\
        --rdzv-endpoint=node0.example.org:29400 --rdzv-id=ncf-run-1 \\
        -m ncf_helpers.distributed --data ml-25m --device cuda --out runs/big

Every node needs the same data (``--data ml-25m`` reads ``data/ml-25m/`` on each
node) and ``--out`` on rank 0's node receives the checkpoint and the history.

How one epoch works
-------------------
*One device, done right.* The training ratings live on the device as three
tensors. Each epoch draws one permutation of them (seeded by ``--seed`` and the
epoch, identical on every rank); step ``s`` takes the next ``--batch-size``
positives of it and rank ``r`` trains on the ``r``-th of ``world_size`` equal
slices. So the global batch, and what one optimizer step sees, is the same for 1
and for N processes. Each rank draws its own fresh negatives for its slice on the
device (seeded by seed, epoch and rank): uniform items, rejected against the sorted
``user * n_items + item`` keys of the training pairs with ``torch.searchsorted``.
No batch is ever copied from the host. Each rank's loss is its share of the
*global* batch mean, and ``DistributedDataParallel`` averages the gradients, so
the update is the one a single process would make. ``--amp`` runs the forward
pass in bfloat16 (``torch.autocast``) on GPU and CPU alike.

Validation is sharded too (rows for RMSE, users for full ranking) and the sums are
all-reduced, so every rank knows the same metric. Rank 0 writes ``model.pt``
(:func:`ncf_helpers.checkpoint.save_checkpoint`, the best validation epoch),
``history.csv`` (one row per epoch) and ``summary.json``.

Failures end the job, they never hang it: a rank that raises makes torchrun stop
the others, and rank 0 says why it stopped; collectives time out after
``--timeout`` seconds. Asking for more processes than users (or than positives
per batch) is an error before training starts.
"""
import argparse
import datetime
import json
import math
import os
import resource
import signal
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.distributed.elastic.multiprocessing.errors import record
from torch.nn.parallel import DistributedDataParallel

from .checkpoint import load_checkpoint, save_checkpoint
from .data import DATASETS, load_movielens
from .encoding import IdEncoder
from .metrics import full_ranking_metrics
from .models import build_model
from .synthetic import shape_of, synthetic_ratings

__all__ = ["DeviceNegativeSampler", "load_ratings", "holdout", "check_world_size", "launch",
           "main"]

# Debug switches for the failure tests: the rank NCF_DDP_FAIL_RANK raises at step
# NCF_DDP_FAIL_STEP of the first epoch, as a crashing process would.
FAIL_RANK_ENV, FAIL_STEP_ENV = "NCF_DDP_FAIL_RANK", "NCF_DDP_FAIL_STEP"
_MAX_REJECTION_ROUNDS = 30


def log(rank, message):
    """Print from rank 0 only (every rank would print the same)."""
    if rank == 0:
        print(message, flush=True)


# --------------------------------------------------------------------------- data
def load_ratings(spec, data_dir=None, seed=0):
    """Ratings as encoded arrays: ``users, items, ratings, n_users, n_items, encoder``.

    ``spec`` is a MovieLens name (``"ml-100k"``, ``"ml-25m"``, ... read with
    :func:`~ncf_helpers.data.load_movielens`), ``"synthetic:<shape>"`` (see
    :func:`~ncf_helpers.synthetic.shape_of`, e.g. ``"synthetic:ml-25m"``) or the path
    of an ``.npz`` file with ``users``, ``items``, ``ratings``, ``n_users``, ``n_items``.
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
        if not Path(spec).is_file():
            raise FileNotFoundError(f"no ratings file {spec!r}")
        with np.load(spec) as f:
            return (f["users"].astype(np.int32), f["items"].astype(np.int32),
                    f["ratings"].astype(np.float32), int(f["n_users"]), int(f["n_items"]), None)
    raise ValueError(f"--data must be one of {list(DATASETS)}, 'synthetic:<shape>' "
                     f"(e.g. synthetic:ml-25m) or a .npz file; got {spec!r}")


def holdout(n, val_fraction, test_fraction=0.1, seed=0):
    """Row indices ``train, val``: a seeded random ``test_fraction`` is set aside
    first (never used here), then ``val_fraction`` of the rest is validation."""
    order = np.random.default_rng(seed).permutation(n)
    n_test = int(round(test_fraction * n))
    n_val = max(1, int(round(val_fraction * (n - n_test))))
    return np.sort(order[n_test + n_val:]), np.sort(order[n_test:n_test + n_val])


def check_world_size(world_size, n_users, batch_size):
    """Refuse a job whose processes cannot all get work."""
    if world_size > n_users:
        raise ValueError(f"{world_size} processes but only {n_users} users in the training "
                         f"data: lower --nproc_per_node (at most {n_users}) or use more data")
    if world_size > batch_size:
        raise ValueError(f"{world_size} processes but a global batch of {batch_size} "
                         f"positives: each process needs at least one; raise --batch-size "
                         f"to at least {world_size}")


# ---------------------------------------------------------------- device sampling
class DeviceNegativeSampler:
    """Uniform negatives drawn on the device, checked against the known pairs.

    The known ``(user, item)`` pairs are kept as a sorted tensor of
    ``user * n_items + item`` keys; a candidate is a negative when
    ``torch.searchsorted`` does not find its key. Candidates that hit a known pair
    are redrawn; after a few rounds the rare leftovers (users who rated almost
    every item) get an exact draw from their unseen items.
    """

    def __init__(self, users, items, n_items, device="cpu"):
        users = torch.as_tensor(users, device=device).long()
        items = torch.as_tensor(items, device=device).long()
        self.n_items = int(n_items)
        self.keys = torch.unique(users * self.n_items + items)  # sorted
        seen = torch.bincount(self.keys // self.n_items)
        if seen.numel() and int(seen.max()) >= self.n_items:
            user = int(torch.nonzero(seen >= self.n_items)[0])
            raise ValueError(f"user index {user} has rated all {self.n_items} items, so it "
                             "has no negative to sample; drop such users or use no negatives")

    def contains(self, users, items):
        """Boolean tensor: which pairs are known interactions."""
        query = users.long() * self.n_items + items.long()
        pos = torch.searchsorted(self.keys, query).clamp_(max=len(self.keys) - 1)
        return self.keys[pos] == query

    def sample(self, users, generator=None):
        """One negative item (int64) for each entry of ``users``."""
        items = torch.randint(0, self.n_items, users.shape, device=users.device,
                              generator=generator)
        todo = torch.nonzero(self.contains(users, items)).squeeze(1)
        for _ in range(_MAX_REJECTION_ROUNDS):
            if todo.numel() == 0:
                return items
            items[todo] = torch.randint(0, self.n_items, todo.shape, device=users.device,
                                        generator=generator)
            todo = todo[self.contains(users[todo], items[todo])]
        for row in todo.tolist():  # rare: a user with almost no unseen item
            user = int(users[row])
            lo, hi = torch.searchsorted(self.keys, torch.tensor(
                [user * self.n_items, (user + 1) * self.n_items], device=self.keys.device))
            seen = (self.keys[lo:hi] - user * self.n_items).cpu()
            unseen = torch.ones(self.n_items, dtype=torch.bool)
            unseen[seen] = False
            choices = torch.nonzero(unseen).squeeze(1)
            pick = torch.randint(0, len(choices), (1,), generator=torch.Generator().manual_seed(
                int(torch.randint(0, 2**31, (1,), device=users.device, generator=generator))))
            items[row] = choices[pick].to(items.device)
        return items


# ---------------------------------------------------------------------- memory
def reset_peak_memory(device):
    """Start a new peak-memory window (process RSS on CPU, allocator peak on CUDA)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    try:  # Linux: writing 5 to clear_refs resets the VmHWM high-water mark
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _proc_status_mib(field):
    """A memory field of /proc/self/status (``VmRSS``, ``VmHWM``) in MiB, or None."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def resident_memory_mib():
    """The process's resident memory now, MiB (Linux; NaN elsewhere)."""
    rss = _proc_status_mib("VmRSS")
    return float("nan") if rss is None else rss


def peak_memory_mib(device):
    """Peak memory since :func:`reset_peak_memory`, MiB: the process's peak resident
    set on CPU (VmHWM; lifetime ``ru_maxrss`` where /proc is missing), the peak of
    the CUDA allocator on GPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    peak = _proc_status_mib("VmHWM")
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 if peak is None else peak


# ---------------------------------------------------------------------- training
class Job:
    """Where this process stands in the job: rank, world size, device."""

    def __init__(self, device_arg, timeout):
        self.distributed = "WORLD_SIZE" in os.environ  # launched by torchrun
        self.rank = int(os.environ.get("RANK", 0))
        self.world_size = int(os.environ.get("WORLD_SIZE", 1))
        self.local_rank = int(os.environ.get("LOCAL_RANK", 0))
        if device_arg is None:
            device_arg = "cuda" if torch.cuda.is_available() else "cpu"
        if device_arg == "cuda" and self.distributed:
            device_arg = f"cuda:{self.local_rank}"  # one GPU per process
        self.device = torch.device(device_arg)
        self.timeout = datetime.timedelta(seconds=timeout)
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

    def all_reduce(self, values, op="sum"):
        """Sum (or max) a list of floats over ranks."""
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        if self.distributed:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM if op == "sum" else dist.ReduceOp.MAX)
        return tensor.tolist()

    def gather(self, value):
        """One float from each rank, as a list (rank order)."""
        if not self.distributed:
            return [value]
        out = [torch.zeros(1, dtype=torch.float64, device=self.device)
               for _ in range(self.world_size)]
        dist.all_gather(out, torch.tensor([value], dtype=torch.float64, device=self.device))
        return [float(t) for t in out]


def build(args, n_users, n_items, rating_range):
    """The model named by ``--model``, sized for the data, from ``--model-config``."""
    config = json.loads(args.model_config) if args.model_config else {}
    head = "logits" if args.task == "implicit" else "bounded"
    if args.model == "MLP":
        config = {"num_users": n_users, "num_items": n_items, "latent_dim": 32,
                  "layers": [64, 32, 16], **config}
    else:
        config = {"n_users": n_users, "n_items": n_items, **config}
    config.setdefault("head", head)
    if head == "bounded":
        config.setdefault("rating_range", rating_range)
    return build_model(args.model, config)


def loss_sum(pred, target, task):
    """Summed (not averaged) loss: each rank divides by the global batch size."""
    pred = pred.float()
    if task == "implicit":
        return F.binary_cross_entropy_with_logits(pred, target, reduction="sum")
    return F.mse_loss(pred, target, reduction="sum")


def negatives_per_rank(sizes, ratio):
    """Negatives each rank draws for its slice sizes (known to every rank)."""
    return [int(round(ratio * s)) for s in sizes]


def train_epoch(job, model, opt, data, sampler, args, epoch):
    """One pass over the training positives; returns (mean loss, samples) over all ranks."""
    users, items, targets = data
    device, world, rank = job.device, job.world_size, job.rank
    order_gen = torch.Generator(device=device).manual_seed(args.seed * 100_003 + epoch)
    neg_gen = torch.Generator(device=device).manual_seed(
        (args.seed * 100_003 + epoch) * 1_009 + rank + 1)
    order = torch.randperm(len(targets), generator=order_gen, device=device)
    neg_value = 0.0 if args.task == "implicit" else args.negative_value
    total, count = torch.zeros((), dtype=torch.float64, device=device), 0
    fail_step = int(os.environ.get(FAIL_STEP_ENV, 3))
    fail_here = os.environ.get(FAIL_RANK_ENV) == str(rank) and epoch == 1
    model.train()
    n_steps = math.ceil(len(targets) / args.batch_size)
    if args.max_steps is not None:  # benchmarks: time part of an epoch, extrapolate
        n_steps = min(n_steps, args.max_steps)
    for step in range(n_steps):
        job.phase = f"epoch {epoch}, step {step + 1} of {n_steps}"
        if fail_here and step + 1 == fail_step:
            raise RuntimeError(f"rank {rank}: failure injected by {FAIL_RANK_ENV}={rank} at "
                               f"{job.phase} (a debugging switch for the failure tests)")
        batch = order[step * args.batch_size:(step + 1) * args.batch_size]
        slices = torch.tensor_split(batch, world)
        sizes = [len(s) for s in slices]
        n_neg = negatives_per_rank(sizes, args.negatives)
        global_count = sum(sizes) + sum(n_neg)
        mine = slices[rank]
        u, i, y = users[mine].long(), items[mine].long(), targets[mine]
        if n_neg[rank]:
            whole, extra = divmod(n_neg[rank], len(mine))
            owners = u.repeat(whole)
            if extra:
                pick = torch.randperm(len(mine), generator=neg_gen, device=device)[:extra]
                owners = torch.cat([owners, u[pick]])
            u = torch.cat([u, owners])
            i = torch.cat([i, sampler.sample(owners, neg_gen)])
            y = torch.cat([y, torch.full((len(owners),), neg_value, device=device)])
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.amp):
            pred = model(u, i)
        summed = loss_sum(pred, y, args.task)
        # DDP averages gradients over ranks: scale so the result is the global mean.
        loss = summed * (world / global_count)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += summed.detach()
        count += len(y)
    loss_total, samples = job.all_reduce([float(total), count])
    if not math.isfinite(loss_total):
        raise FloatingPointError(f"the training loss became {loss_total} in epoch {epoch}; "
                                 f"lower --lr (now {args.lr:g})")
    return loss_total / samples, int(samples)


def predict(model, users, items, batch_size=65536):
    """Scores of a model for index tensors, in eval mode (float64 numpy)."""
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(users), batch_size):
            out.append(model(users[start:start + batch_size].long(),
                             items[start:start + batch_size].long()).double().cpu())
    return torch.cat(out).numpy() if out else np.empty(0)


def validate(job, model, train, val, n_items, args):
    """The validation metric, all-reduced over ranks (every rank gets the same value).

    ``rating``: RMSE over the validation rows (each rank scores its slice).
    ``implicit``: NDCG@10 with full ranking over the items a user has not rated in
    train (each rank scores its slice of at most ``--val-users`` users).
    """
    if args.task == "rating":
        users, items, ratings = (torch.tensor_split(t, job.world_size)[job.rank] for t in val)
        squared = 0.0
        if len(users):
            pred = predict(model, users, items)
            squared = float(((pred - ratings.double().cpu().numpy()) ** 2).sum())
        total, n = job.all_reduce([squared, len(users)])
        return {"rmse": math.sqrt(total / n)}
    val_users, val_items = (t.cpu().numpy() for t in val[:2])
    chosen = np.unique(val_users)
    if len(chosen) > args.val_users:
        chosen = np.sort(np.random.default_rng(args.seed).choice(chosen, args.val_users,
                                                                 replace=False))
    chosen = np.array_split(chosen, job.world_size)[job.rank]
    sums = [0.0, 0.0, 0.0]
    if len(chosen):
        keep = np.isin(val_users, chosen)
        device = job.device

        def score(u, i):
            return predict(model, torch.as_tensor(u, device=device),
                           torch.as_tensor(i, device=device))

        found = full_ranking_metrics(score, val_users[keep], val_items[keep], train[0],
                                     train[1], n_items, k=10, chunk_size=args.chunk_users)
        n = found["n_users"]
        sums = [found["hit_rate"] * n, found["ndcg"] * n, n]
    hits, ndcg, n = job.all_reduce(sums)
    return {"ndcg": ndcg / n, "hit_rate": hits / n}


def _write_history(path, rows):
    import pandas as pd

    pd.DataFrame(rows).to_csv(path, index=False)


def run(job, args):
    """Load the data, train, validate, checkpoint: the body of :func:`main`."""
    torch.manual_seed(args.seed)
    users, items, ratings, n_users, n_items, encoder = load_ratings(args.data, args.data_dir,
                                                                    args.seed)
    check_world_size(job.world_size, n_users, args.batch_size)
    job.init()
    device = job.device
    train_idx, val_idx = holdout(len(users), args.val_fraction, args.test_fraction, args.seed)
    train = (users[train_idx], items[train_idx])
    targets = (np.ones(len(train_idx), dtype=np.float32) if args.task == "implicit"
               else ratings[train_idx])
    # from_numpy shares memory with ``train`` on CPU; .to(device) copies once to a GPU.
    data = tuple(torch.from_numpy(a).to(device) for a in (*train, targets))
    val = tuple(torch.from_numpy(a[val_idx]).to(device) for a in (users, items, ratings))
    del targets, train_idx, val_idx
    sampler = (DeviceNegativeSampler(data[0], data[1], n_items, device)
               if args.negatives > 0 else None)
    rating_range = (float(ratings.min()), float(ratings.max()))
    if rating_range[0] == rating_range[1]:
        rating_range = (rating_range[0] - 1.0, rating_range[1])  # a single rating value
    del users, items, ratings

    torch.manual_seed(args.seed)  # the same initial weights on every rank
    module = build(args, n_users, n_items, rating_range).to(device)
    model = module
    if job.distributed:
        model = DistributedDataParallel(module, device_ids=[device] if device.type == "cuda"
                                        else None)
    fused = device.type in ("cpu", "cuda")
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay,
                           fused=fused)
    job.barrier("the start of training")
    steps = math.ceil(len(data[0]) / args.batch_size)
    out = Path(args.out)
    if job.rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    log(job.rank, f"{type(module).__name__} on {job.world_size} process(es), {device}; "
        f"{len(data[0]):,} training positives, {len(val[0]):,} validation rows, "
        f"{n_users:,} users x {n_items:,} items; global batch {args.batch_size} positives "
        f"+ {args.negatives:g} negatives each")

    metric = "rmse" if args.task == "rating" else "ndcg"
    sign = 1.0 if metric == "rmse" else -1.0
    best, best_epoch, rows = math.inf, 0, []
    for epoch in range(1, args.epochs + 1):
        reset_peak_memory(device)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        train_loss, samples = train_epoch(job, model, opt, data, sampler, args, epoch)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        train_seconds = time.perf_counter() - start
        peaks = job.gather(peak_memory_mib(device))
        job.phase = f"validation after epoch {epoch}"
        scores = validate(job, module, train, val, n_items, args)
        row = {"epoch": epoch, "train_loss": train_loss,
               **{f"val_{k}": v for k, v in scores.items()},
               "train_seconds": train_seconds, "samples": samples,
               "samples_per_s": samples / train_seconds,
               "steps": min(steps, args.max_steps or steps), "steps_per_epoch": steps,
               "peak_mib_max_rank": max(peaks), "world_size": job.world_size}
        rows.append(row)
        log(job.rank, f"epoch {epoch}: train loss {train_loss:.4f}, val {metric} "
            f"{scores[metric]:.4f}, {train_seconds:.1f} s, {samples / train_seconds:,.0f} "
            f"samples/s, peak memory {max(peaks):,.0f} MiB (largest of {len(peaks)} process(es))")
        if sign * scores[metric] < best:
            best, best_epoch = sign * scores[metric], epoch
            if job.rank == 0:
                save_checkpoint(out / "model.pt", module, encoder, extra={
                    "epoch": epoch, f"val_{metric}": scores[metric],
                    "world_size": job.world_size, "data": args.data, "seed": args.seed})
        elif args.patience is not None and epoch - best_epoch >= args.patience:
            break
    if job.rank == 0:
        _write_history(out / "history.csv", rows)
        summary = {"best_epoch": best_epoch, f"best_val_{metric}": sign * best,
                   "world_size": job.world_size, "device": str(device), "epochs": len(rows),
                   "data": args.data, "n_users": n_users, "n_items": n_items,
                   "train_positives": len(data[0])}
        (out / "summary.json").write_text(json.dumps(summary, indent=1))
    job.barrier("the checkpoint written by rank 0")
    if args.check_checkpoint:
        check_checkpoint(job, out, val)
    log(job.rank, f"best epoch {best_epoch}: val {metric} {sign * best:.4f}; wrote "
        f"{out / 'model.pt'} and {out / 'history.csv'}")


def check_checkpoint(job, out, val, n=2000):
    """Every rank loads the checkpoint and writes its predictions for the first
    ``n`` validation pairs; rank 0 checks they are identical."""
    model, _, _ = load_checkpoint(out / "model.pt")
    pred = predict(model, val[0][:n].cpu(), val[1][:n].cpu())
    np.save(out / f"predictions_rank{job.rank}.npy", pred)
    job.barrier("the checkpoint check")
    if job.rank == 0:
        first = np.load(out / "predictions_rank0.npy")
        for r in range(1, job.world_size):
            other = np.load(out / f"predictions_rank{r}.npy")
            if not np.array_equal(first, other):
                raise RuntimeError(f"rank {r} predicts differently from rank 0 with the "
                                   "same checkpoint")
        log(0, f"checkpoint check: {job.world_size} process(es) predict identically")


# ----------------------------------------------------------------- launching
def launch(args, nproc=1, out=None, timeout=600, env=None, torchrun=None):
    """Run this module in a subprocess, as a reader would from a shell.

    Parameters
    ----------
    args : list of str
        Command-line arguments (see ``python -m ncf_helpers.distributed --help``);
        ``--out`` is added from ``out``.
    nproc : int
        Processes. ``torchrun --standalone --nproc_per_node=nproc`` (as
        ``python -m torch.distributed.run``) is used when ``nproc > 1`` or
        ``torchrun=True``; a plain ``python -m`` run otherwise.
    out : str or Path
        Output folder (``model.pt``, ``history.csv``, ``summary.json``).
    timeout : float
        Seconds before the job is killed (``subprocess.TimeoutExpired``).
    env : dict, optional
        Extra environment variables; ``OMP_NUM_THREADS`` defaults to 1.

    Returns
    -------
    subprocess.CompletedProcess
        With ``stdout``/``stderr`` text; ``.history`` (a DataFrame) and ``.summary``
        (a dict) when the run succeeded, else None.
    """
    import subprocess

    import pandas as pd

    if isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1:
        raise ValueError(f"nproc must be a positive integer, got {nproc!r}")
    out = Path(out if out is not None else "runs/ncf")
    command = [sys.executable, "-m"]
    if nproc > 1 or torchrun:
        command += ["torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
                    "-m"]
    command += ["ncf_helpers.distributed", *map(str, args), "--out", str(out)]
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                          env=full_env)
    done.history = done.summary = None
    if done.returncode == 0:
        done.history = pd.read_csv(out / "history.csv")
        done.summary = json.loads((out / "summary.json").read_text())
    return done


# -------------------------------------------------------------------------- CLI
def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m ncf_helpers.distributed",
                                description=__doc__.splitlines()[0])
    p.add_argument("--data", default="ml-100k",
                   help="a MovieLens name, synthetic:<shape> (e.g. synthetic:ml-25m) or a .npz")
    p.add_argument("--data-dir", default=None, help="folder of the unzipped release")
    p.add_argument("--task", choices=("rating", "implicit"), default="rating",
                   help="rating: MSE on the stars, validation RMSE; implicit: positives 1 and "
                        "negatives 0, binary cross entropy, validation NDCG@10 (full ranking)")
    p.add_argument("--model", default="NeuMF", help="NCF, MLP, GMF, NeuMF or BiasedMF")
    p.add_argument("--model-config", default=None,
                   help='JSON of constructor arguments, e.g. \'{"gmf_dim": 16}\'')
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=1024,
                   help="positives per optimizer step, over all processes together")
    p.add_argument("--negatives", type=float, default=0.0,
                   help="negatives per positive, drawn fresh every epoch")
    p.add_argument("--negative-value", type=float, default=0.0,
                   help="target of a negative in the rating task")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=0.0)
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
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--timeout", type=float, default=300,
                   help="seconds a collective waits for the other processes")
    p.add_argument("--check-checkpoint", action="store_true",
                   help="every rank reloads the checkpoint; rank 0 checks they agree")
    p.add_argument("--out", default="runs/ncf", help="folder for model.pt and history.csv")
    args = p.parse_args(argv)
    for name in ("epochs", "batch_size", "val_users", "chunk_users"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be a positive integer")
    if not 0 < args.val_fraction < 1 or not 0 <= args.test_fraction < 1:
        p.error("--val-fraction must be in (0, 1) and --test-fraction in [0, 1)")
    if args.max_steps is not None and args.max_steps < 1:
        p.error("--max-steps must be a positive integer")
    if args.negatives < 0 or not math.isfinite(args.negatives):
        p.error("--negatives must be a finite number >= 0")
    if args.task == "implicit" and args.negatives == 0:
        p.error("--task implicit needs --negatives > 0 (positives alone teach nothing)")
    return args


def _on_sigterm(job):
    def handler(signum, frame):
        if job.rank == 0:
            print(f"ncf_helpers.distributed: rank 0 stopped by torchrun during {job.phase}: "
                  "another process of the job failed; its error is in torchrun's report "
                  "below", file=sys.stderr, flush=True)
        sys.exit(1)
    return handler


@record
def main(argv=None):
    args = parse_args(argv)
    job = Job(args.device, args.timeout)
    if job.device.type == "cpu":
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", 1)))
    signal.signal(signal.SIGTERM, _on_sigterm(job))
    try:
        run(job, args)
    except Exception as exc:
        injected = FAIL_RANK_ENV in str(exc)
        if job.distributed and job.world_size > 1 and not injected and dist.is_initialized():
            if job.rank == 0:
                print(f"ncf_helpers.distributed: rank 0 stopped during {job.phase}: another "
                      f"process of the job failed or stopped answering "
                      f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); its "
                      "error is in torchrun's report below", file=sys.stderr, flush=True)
            sys.exit(1)
        raise
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    main()
