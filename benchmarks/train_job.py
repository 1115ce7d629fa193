"""The package's command line as a benchmark job: the same training, plus each process's
peak memory, which the command line does not record.

    python -m benchmarks.train_job --data ml-100k --task implicit --negatives 4 --out runs/x
    torchrun --standalone --nproc_per_node=2 -m benchmarks.train_job ... --out runs/two

Every flag is :mod:`ncf_helpers.cli`'s. After a successful run each process writes
``peak_rank<RANK>.json`` into ``--out``: its peak memory on the training device (the CUDA
allocator's peak on a GPU, the resident-set peak on the CPU) and its resident-set peak.
:func:`launch` runs a job in a fresh process group and reads all of it back.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import torch

from ncf_helpers import cli
from ncf_helpers.utils import get_device, peak_memory_mib


def _device(args):
    """The device this process trained on, as :class:`ncf_helpers.cli.Job` chooses it."""
    device = get_device(args.device)
    if device.type == "cuda" and "WORLD_SIZE" in os.environ:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return device


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args, _ = cli.parse_args(argv)
    cli.main(argv)
    device, rank = _device(args), int(os.environ.get("RANK", 0))
    # Lifetime peaks: this process did nothing but this job.
    peak = {"rank": rank, "device": str(device), "peak_mib": peak_memory_mib(device),
            "resident_peak_mib": peak_memory_mib("cpu")}
    (Path(args.out) / f"peak_rank{rank}.json").write_text(json.dumps(peak))


def launch(args, nproc=1, out="runs/ncf", timeout=600, env=None, torchrun=None):
    """Run :func:`main` in a subprocess, as :func:`ncf_helpers.cli.launch` runs the CLI.

    Parameters
    ----------
    args : list of str
        :mod:`ncf_helpers.cli` flags; ``--out`` is added from ``out``.
    nproc : int
        Processes; ``torchrun`` (``python -m torch.distributed.run --standalone``) when
        ``nproc > 1`` or ``torchrun=True``, a plain ``python -m`` otherwise.
    timeout : float
        Seconds before the whole process group is stopped and
        ``subprocess.TimeoutExpired`` raised.
    env : dict, optional
        Extra environment variables; ``OMP_NUM_THREADS`` and ``NCF_PROGRESS`` default to
        1 and 0.

    Returns
    -------
    subprocess.CompletedProcess
        With ``stdout``/``stderr``; when the run succeeded also ``.history`` (DataFrame),
        ``.summary`` (dict) and ``.peaks`` (one dict per rank, by rank), else None.
    """
    out = Path(out)
    command = [sys.executable, "-m"]
    if nproc > 1 or torchrun:
        command += ["torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", "-m"]
    command += ["benchmarks.train_job", *map(str, args), "--out", str(out)]
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "NCF_PROGRESS": "0", **(env or {})}
    # A session of its own, so a timeout stops torchrun and every worker (cli.stop_group).
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=full_env, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except BaseException:
        cli.stop_group(process)
        raise
    done = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    done.history = done.summary = done.peaks = None
    if done.returncode == 0:
        done.history = pd.read_csv(out / "history.csv")
        done.summary = json.loads((out / "summary.json").read_text())
        done.peaks = sorted((json.loads(p.read_text()) for p in out.glob("peak_rank*.json")),
                            key=lambda p: p["rank"])
    return done


if __name__ == "__main__":
    main()
