"""The device-resident trainer and its torchrun/DDP launch (CPU, gloo)."""
import numpy as np
import pandas as pd
import pytest
import torch

from ncf_helpers.checkpoint import load_checkpoint
from ncf_helpers.distributed import (
    DeviceNegativeSampler,
    check_world_size,
    holdout,
    launch,
    load_ratings,
    predict,
)

ARGS = ["--data", "ml-100k", "--epochs", "3", "--batch-size", "1024", "--seed", "7",
        "--check-checkpoint"]


# ------------------------------------------------------------------ in process
def test_device_sampler_never_returns_a_known_pair():
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(30), 15)
    items = np.concatenate([rng.choice(20, 15, replace=False) for _ in range(30)])
    sampler = DeviceNegativeSampler(users, items, 20)
    owners = torch.as_tensor(np.repeat(np.arange(30), 200))
    drawn = sampler.sample(owners, torch.Generator().manual_seed(0))
    known = set(zip(users.tolist(), items.tolist()))
    assert not any(p in known for p in zip(owners.tolist(), drawn.tolist()))
    assert drawn.min() >= 0 and drawn.max() < 20
    # every unseen item of user 0 is drawn: uniform over the unseen, not a subset
    assert set(drawn[owners == 0].tolist()) == set(range(20)) - set(items[users == 0].tolist())


def test_device_sampler_exact_for_a_user_with_one_unseen_item():
    users, items = np.zeros(999, dtype=np.int64), np.delete(np.arange(1000), 500)
    sampler = DeviceNegativeSampler(users, items, 1000)
    drawn = sampler.sample(torch.zeros(50, dtype=torch.long), torch.Generator().manual_seed(1))
    assert (drawn == 500).all()


def test_device_sampler_refuses_a_user_who_rated_everything():
    with pytest.raises(ValueError, match="user index 1 has rated all 3 items"):
        DeviceNegativeSampler([0, 1, 1, 1], [0, 0, 1, 2], 3)


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


# ------------------------------------------------------------------ torchrun jobs
@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    one = launch(ARGS, nproc=1, torchrun=True, out=root / "one", timeout=120)
    two = launch(ARGS, nproc=2, out=root / "two", timeout=120)
    assert one.returncode == 0, one.stderr[-3000:]
    assert two.returncode == 0, two.stderr[-3000:]
    return root, one, two


def test_two_processes_match_one(runs):
    _, one, two = runs
    assert one.summary["world_size"] == 1 and two.summary["world_size"] == 2
    rmse_one, rmse_two = one.history["val_rmse"], two.history["val_rmse"]
    assert len(rmse_one) == len(rmse_two) == 3
    assert (rmse_one.diff().dropna() < 0).all()  # it learns
    assert 0.88 < rmse_two.iloc[-1] < 1.0
    assert abs(rmse_one - rmse_two).max() < 0.002
    assert (one.history["samples"] == two.history["samples"]).all()


def test_checkpoint_predicts_identically_on_every_rank(runs):
    root, _, two = runs
    assert "2 process(es) predict identically" in two.stdout
    model, encoder, extra = load_checkpoint(root / "two" / "model.pt")
    assert extra["world_size"] == 2 and extra["epoch"] == two.summary["best_epoch"]
    assert encoder.n_users == 943 and encoder.n_items == 1682
    rank0 = np.load(root / "two" / "predictions_rank0.npy")
    rank1 = np.load(root / "two" / "predictions_rank1.npy")
    assert np.array_equal(rank0, rank1)
    history = pd.read_csv(root / "two" / "history.csv")
    assert history["val_rmse"].min() == pytest.approx(extra["val_rmse"])
    # this process, loading the same file, predicts what the ranks predicted for the
    # first 2000 validation pairs
    users, items, *_ = load_ratings("ml-100k")
    _, val = holdout(len(users), 0.1, 0.1, seed=7)
    mine = predict(model, torch.from_numpy(users[val][:2000]), torch.from_numpy(items[val][:2000]))
    assert len(rank0) == 2000 and np.array_equal(mine, rank0)


def test_a_failing_rank_ends_the_job_with_a_message_from_rank_0(tmp_path):
    done = launch(ARGS[:-1] + ["--timeout", "30"], nproc=2, out=tmp_path, timeout=90,
                  env={"NCF_DDP_FAIL_RANK": "1", "NCF_DDP_FAIL_STEP": "3"})
    assert done.returncode != 0
    assert "rank 1: failure injected by NCF_DDP_FAIL_RANK=1 at epoch 1, step 3" in done.stderr
    assert "rank 0 stopped" in done.stderr and "another process of the job failed" in done.stderr
    assert not (tmp_path / "model.pt").exists()


def test_more_processes_than_users_is_a_clear_error(tmp_path):
    done = launch(["--data", "synthetic:1x50x20", "--epochs", "1"], nproc=2, out=tmp_path,
                  timeout=90)
    assert done.returncode != 0
    assert "2 processes but only 1 users in the training data" in done.stderr


# ------------------------------------------------------------------ big releases
ML10M_RATINGS = "1::122::5::838985046\n1::185::4.5::838983525\n2::122::3::868245777\n"
ML10M_MOVIES = "122::Boomerang (1992)::Comedy|Romance\n185::Net, The (1995)::Action|Crime\n"


def test_ml10m_layout_reads_and_downloads_from_its_zip_folder(tmp_path):
    """ml-10m ships as ml-10M100K/ with '::' files; load_ratings encodes it."""
    import hashlib
    import zipfile

    from ncf_helpers.data import download_movielens, load_movielens

    folder = tmp_path / "ml-10M100K"
    folder.mkdir()
    (folder / "ratings.dat").write_text(ML10M_RATINGS)
    (folder / "movies.dat").write_text(ML10M_MOVIES)
    data = load_movielens("ml-10m", folder)
    assert data.ratings["rating"].tolist() == [5.0, 4.5, 3.0] and data.users is None
    assert data.movies.loc[185, "title"] == "Net, The (1995)"
    archive = tmp_path / "ml-10m.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for name in ("ratings.dat", "movies.dat"):
            z.write(folder / name, f"ml-10M100K/{name}")
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    target = download_movielens("ml-10m", tmp_path / "data", url=archive.as_uri(), md5=md5)
    assert target == tmp_path / "data" / "ml-10m"
    users, items, ratings, n_users, n_items, encoder = load_ratings("ml-10m", target)
    assert (n_users, n_items) == (2, 2) and users.tolist() == [0, 0, 1]
    assert encoder.item_ids.tolist() == [122, 185]


def test_ml20m_uses_the_csv_layout(tmp_path):
    from ncf_helpers.data import load_movielens

    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,2,3.5,1112486027\n")
    (tmp_path / "movies.csv").write_text("movieId,title,genres\n2,Jumanji (1995),Adventure\n")
    assert load_movielens("ml-20m", tmp_path).ratings["rating"].tolist() == [3.5]


# ------------------------------------------------------------------ benchmarks
def test_scale_benchmark_row_extrapolates_and_bench_reports_it(tmp_path, monkeypatch):
    from benchmarks import bench, scale

    row = scale.epoch_row("ml-100k", 1, max_steps=2, timeout=120, note="test")
    assert row["measured"] == "2 of 4 steps" and row["steps_per_epoch"] == 4
    assert row["samples_per_epoch"] == 5 * 99_950  # 4 negatives per training rating
    timed_share = 2 * 32768 * 5 / (5 * 99_950)  # two full batches of the epoch's samples
    # epoch_seconds is rounded to 0.1 s, which matters when the timed steps are short
    assert row["epoch_seconds"] == pytest.approx(row["seconds_timed"] / timed_share, rel=0.05,
                                                 abs=0.05)
    assert 300 < row["peak_mib_per_process"] < 4096
    path = tmp_path / "scale.csv"
    scale.append([{**row, "shape": "ml-25m"}, {**row, "shape": "ml-25m", "processes": 2}],
                 "test", path)
    assert path.read_text().startswith("# written by benchmarks/scale.py")
    monkeypatch.setattr(scale, "RESULTS", path)
    monkeypatch.setattr(bench, "gpu_rows", lambda: [("e. scale", "GPU", "x", 1.0, "")])
    rows = bench.bench_scale()
    assert {r[1].split(",")[1].strip() for r in rows if "ml-25m" in r[1]} \
        == {"1 process(es)", "2 process(es)"}
    assert rows[-1][1] == "GPU"  # the stored GPU rows follow (see test_bench)
