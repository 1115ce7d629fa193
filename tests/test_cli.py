"""The command line over the engine, on one process and under torchrun + DDP (CPU, gloo).

The flags and ``.npz`` files it refuses are swept in test_boundary.
"""
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from ncf_helpers import cli
from ncf_helpers.checkpoint import load_checkpoint
from ncf_helpers.cli import check_world_size, holdout, launch, load_arrays, parse_args
from ncf_helpers.metrics import full_ranking_metrics
from ncf_helpers.models import build_model
from ncf_helpers.synthetic import synthetic_ratings

DATA = "synthetic:200x100x4000"
ARGS = ["--data", DATA, "--epochs", "3", "--batch-size", "256", "--seed", "7", "--device", "cpu"]
# Plain SGD: its step is linear in the gradient, so 1 and 2 processes agree to float rounding.
# (Adam divides by each gradient's own size, which turns the rounding of near-zero gradients
# into visible differences, about 1e-4 of the loss after 3 epochs.)
BPR = ["--data", DATA, "--task", "implicit", "--loss", "bpr", "--negatives", "2", "--epochs", "3",
       "--batch-size", "256", "--optimizer", "sgd", "--lr", "1.0", "--seed", "7",
       "--device", "cpu"]
JOB_SECONDS = 300  # a 2-process job takes ~10 s; much more on a busy 2-core machine
ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ in process
def test_check_world_size():
    check_world_size(2, 943, 1024)
    with pytest.raises(ValueError, match="3 processes but only 2 users"):
        check_world_size(3, 2, 1024)
    with pytest.raises(ValueError, match="raise --batch-size"):
        check_world_size(4, 943, 2)


def test_holdout_is_disjoint_seeded_and_sized():
    train, val = holdout(1000, 0.1, 0.1, seed=3)
    assert len(val) == 90 and len(train) == 810 and not set(train) & set(val)
    assert np.array_equal(holdout(1000, 0.1, 0.1, seed=3)[1], val)
    assert not np.array_equal(holdout(1000, 0.1, 0.1, seed=4)[1], val)
    train, val = holdout(1000, 0.2, 0.0)
    assert (len(train), len(val)) == (800, 200)  # no test share: nothing set aside
    with pytest.raises(ValueError, match="3 ratings leave nothing to train on"):
        holdout(3, 0.5, 0.5)


def test_load_arrays_reads_synthetic_shapes_and_npz_files(tmp_path):
    users, items, ratings, n_users, n_items, encoder = load_arrays("synthetic:50x40x600", seed=3)
    assert (n_users, n_items, encoder) == (50, 40, None)
    for got, expected in zip((users, items, ratings), synthetic_ratings(50, 40, 600, seed=3)):
        np.testing.assert_array_equal(got, expected)
    path = tmp_path / "ratings.npz"
    np.savez(path, users=users, items=items, ratings=ratings, n_users=60, n_items=40)
    again = load_arrays(str(path))
    assert again[3:] == (60, 40, None)
    for got, expected in zip(again[:3], (users, items, ratings)):
        np.testing.assert_array_equal(got, expected)
    with pytest.raises(ValueError, match=r"--data must be one of \[.*'ml-100k'.*got 'ml-7m'"):
        load_arrays("ml-7m")


def test_parse_args_builds_the_train_config():
    args, config = parse_args(["--model", "GMF", "--model-config", '{"embedding_dim": 8}',
                               "--lr", "0.0045", "--beta1", "0.25", "--beta2", "0.5",
                               "--batch-size", "4096", "--negatives", "4", "--task", "implicit",
                               "--on-device", "yes", "--amp", "--max-steps", "7"])
    assert args.model == "GMF" and args.model_config == {"embedding_dim": 8}
    assert (config.lr, config.betas, config.batch_size, config.negatives) == (
        0.0045, (0.25, 0.5), 4096, 4.0)
    assert config.loss == "bce"  # the implicit task's default
    assert (config.on_device, config.amp, config.max_steps, config.progress) == (
        True, True, 7, False)
    _, rating = parse_args([])
    assert (rating.loss, rating.on_device, rating.negatives, rating.patience) == (
        "mse", None, 0.0, None)


def test_the_world_size_is_checked_before_any_process_group(monkeypatch, tmp_path):
    monkeypatch.setenv("WORLD_SIZE", "2")  # as torchrun would set it for two processes
    args, config = parse_args(["--data", "synthetic:1x50x20", "--out", str(tmp_path / "x")])
    job = cli.Job("cpu", 10)
    with pytest.raises(ValueError, match="2 processes but only 1 users in the training data"):
        cli.run(job, args, config)
    assert not torch.distributed.is_initialized() and not (tmp_path / "x").exists()


# ------------------------------------------------------------------ watching processes
def _proc_table():
    """``pid -> (state, parent pid)`` of every process, from /proc."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:  # gone meanwhile
            continue
        state, ppid = stat[stat.rindex(")") + 2:].split()[:2]
        table[int(name)] = (state, int(ppid))
    return table


class Watch:
    """Records every process started under ``process`` (torchrun's workers run in
    sessions of their own, so a process group does not find them: their parent does)."""

    def __init__(self):
        self.process, self.seen = None, set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self):
        while not self._stop.is_set():
            if self.process is not None:
                table = _proc_table()
                family = {self.process.pid}
                while True:
                    more = {p for p, (_, ppid) in table.items() if ppid in family} - family
                    if not more:
                        break
                    family |= more
                self.seen |= {p for p in family if p in table}
            time.sleep(0.05)

    def stop(self):
        self._stop.set()
        self._thread.join()

    def running(self):
        """Recorded processes still running (a zombie has stopped running)."""
        table = _proc_table()
        return {p for p in self.seen if p in table and table[p][0] != "Z"}

    def wait_until_none_run(self, seconds=15):
        deadline = time.monotonic() + seconds
        while self.running() and time.monotonic() < deadline:
            time.sleep(0.1)
        return self.running()

    def kill_leftovers(self):
        for pid in self.running():  # only processes this test started
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass


@pytest.fixture
def watched_launch(monkeypatch):
    """``launch`` whose process is watched, and whose ``communicate`` first waits for the
    job to be training (rank 0 has made the output folder), then runs ``then(super)``."""
    watch = Watch()
    hooks = {}

    class Watched(subprocess.Popen):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            watch.process = self

        def communicate(self, input=None, timeout=None):
            out = hooks["out"]
            deadline = time.monotonic() + JOB_SECONDS
            while not out.exists() and self.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert out.exists(), "the job never started training"
            time.sleep(0.5)  # well into the epochs
            return hooks["then"](lambda: super(Watched, self).communicate(input, timeout))

    monkeypatch.setattr(subprocess, "Popen", Watched)
    yield watch, hooks
    watch.stop()
    watch.kill_leftovers()


# ------------------------------------------------------------------ torchrun jobs
@pytest.fixture(scope="module")
def bpr(tmp_path_factory):
    """A BPR run on one process (here, in this process) and on two (torchrun): every
    process draws the negatives of the whole global batch, so the two take the same steps."""
    root = tmp_path_factory.mktemp("bpr")
    args, config = parse_args(BPR + ["--out", str(root / "one")])
    cli.run(cli.Job("cpu", 60), args, config)
    two = launch(BPR + ["--check-checkpoint"], nproc=2, out=root / "two", timeout=JOB_SECONDS)
    assert two.returncode == 0, two.stderr[-3000:]
    return root, pd.read_csv(root / "one" / "history.csv"), two


def test_two_processes_match_one(bpr):
    _, one, two = bpr
    assert (one["world_size"] == 1).all() and two.summary["world_size"] == 2
    assert len(one) == len(two.history) == 3
    for column in ("train_loss", "val_full_ndcg"):
        np.testing.assert_allclose(two.history[column], one[column], rtol=1e-5)
    assert (one["samples"] == two.history["samples"]).all()
    # 4000 ratings less a 10 % test and 10 % val share, each positive with its 2 negatives
    assert (one["samples"] == 3240 * 3).all()


def test_checkpoint_predicts_identically_on_every_rank(bpr):
    root, _, two = bpr
    assert "2 process(es) predict identically" in two.stdout
    model, encoder, extra = load_checkpoint(root / "two" / "model.pt")
    assert extra["world_size"] == 2 and extra["epoch"] == two.summary["best_epoch"]
    assert extra["val_full_ndcg"] == pytest.approx(two.history["val_full_ndcg"].max())
    rank0 = np.load(root / "two" / "predictions_rank0.npy")
    rank1 = np.load(root / "two" / "predictions_rank1.npy")
    np.testing.assert_array_equal(rank0, rank1)
    # this process, loading the same file, predicts what the ranks predicted
    users, items, *_ = load_arrays(DATA, seed=7)
    _, val = holdout(len(users), 0.1, 0.1, seed=7)
    assert len(rank0) == len(val) == 360
    np.testing.assert_array_equal(model.predict(users[val], items[val]), rank0)


def test_bpr_on_two_processes_learns_to_rank(bpr):
    root, _, two = bpr
    history = two.history
    assert history["train_loss"].is_monotonic_decreasing
    assert history["train_loss"].iloc[0] < np.log(2) < history["train_loss"].iloc[0] + 0.1
    # the kept weights rank the validation items better than the weights training began with
    trained, _, _ = load_checkpoint(root / "two" / "model.pt")
    torch.manual_seed(7)  # as the CLI seeds them
    initial = build_model(type(trained).__name__, trained.config)
    users, items, *_ = load_arrays(DATA, seed=7)
    train, val = holdout(len(users), 0.1, 0.1, seed=7)
    known = (users[train], items[train])

    def ndcg(model):
        return full_ranking_metrics(model.predict, users[val], items[val], *known, 100)["ndcg"]

    assert ndcg(trained) == pytest.approx(history["val_full_ndcg"].max())
    assert ndcg(trained) > ndcg(initial) + 0.1


def test_a_failing_rank_ends_the_job_with_a_message_from_rank_0(tmp_path):
    from tests.ddp_failing_run import MESSAGE

    watch = Watch()
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node=2", str(ROOT / "tests" / "ddp_failing_run.py"), *ARGS,
               "--timeout", "60", "--out", str(tmp_path)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True, cwd=ROOT,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    watch.process = process
    try:
        _, stderr = process.communicate(timeout=JOB_SECONDS)
        assert process.returncode != 0
        assert MESSAGE in stderr  # rank 1's error, in torchrun's report
        # rank 0 says why it stopped: torchrun's SIGTERM, or gloo's lost connection
        assert re.search(r"ncf_helpers\.cli: rank 0 stopped (by torchrun )?during training.*"
                         r"another process", stderr)
        assert not (tmp_path / "model.pt").exists()
        assert len(watch.seen) >= 3  # torchrun and its two workers ...
        assert not watch.wait_until_none_run()  # ... all ended
    finally:
        watch.stop()
        watch.kill_leftovers()


def test_a_launch_that_times_out_stops_every_process_and_writes_nothing(watched_launch,
                                                                         tmp_path):
    watch, hooks = watched_launch
    out = tmp_path / "run"
    hooks.update(out=out, then=lambda communicate: communicate())
    args = [*ARGS[:2], "--epochs", "60", *ARGS[4:]]  # ~10 s more if nothing stopped it
    with pytest.raises(subprocess.TimeoutExpired):
        launch(args, nproc=2, out=out, timeout=0.5)
    assert len(watch.seen) >= 3  # torchrun and its two workers were running ...
    assert not watch.wait_until_none_run()  # ... and none of them is now
    time.sleep(1.5)
    assert sorted(p.name for p in out.iterdir()) == []  # no model.pt, no history.csv


def test_an_interrupted_launch_stops_its_process(watched_launch, tmp_path):
    watch, hooks = watched_launch
    out = tmp_path / "run"

    def ctrl_c(communicate):
        raise KeyboardInterrupt

    hooks.update(out=out, then=ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        launch([*ARGS[:2], "--epochs", "1000", *ARGS[4:]], nproc=1, out=out, timeout=JOB_SECONDS)
    assert watch.seen and not watch.wait_until_none_run()
    assert not (out / "model.pt").exists()
