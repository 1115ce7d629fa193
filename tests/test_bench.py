"""Smoke test of the benchmark at tiny scale (the real run is `make bench`)."""

import numpy as np
import pandas as pd
import pytest
import torch

from benchmarks import bench
from ncf_helpers.sampling import NegativeSampler


def test_synthetic_interactions_are_distinct_and_in_range():
    users, items, keys = bench.synthetic_interactions(300, 200, 5_000, seed=1)
    assert len(users) == 5_000
    assert np.all(np.diff(keys) > 0)  # sorted, no duplicate pair
    assert users.max() < 300 and items.max() < 200 and items.min() >= 0
    np.testing.assert_array_equal(keys, users * 200 + items)


def test_sampler_section_reports_no_false_negatives():
    rows = bench.bench_sampler(n_users=300, n_items=200, n_positives=5_000,
                               n_negatives=2_000)
    values = {measure: value for _, _, measure, value, _ in rows}
    assert values["negatives drawn"] == 2_000
    assert values["false negatives (exact check)"] == 0
    assert values["add_negatives peak memory (tracemalloc)"] > 0


def tiny_setup():
    rng = np.random.default_rng(0)
    n_users, n_items, n = 30, 40, 400
    keys = np.sort(rng.choice(n_users * n_items, size=n, replace=False))
    users, items = keys // n_items, keys % n_items
    ratings = rng.integers(1, 6, size=n).astype(np.float32)
    train = pd.DataFrame({"userId": users + 1, "movieId": items + 1, "rating": ratings})
    sampler = NegativeSampler(users, items, n_items)
    return train, np.arange(1, n_items + 1), (users, items, ratings), sampler, n_users + 1, \
        n_items + 1


@pytest.fixture
def one_thread():
    """One torch thread, as the benchmark uses by default; restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_pipeline_and_overhead_sections_run(tmp_path, one_thread):
    setup = tiny_setup()
    rows = bench.bench_pipeline(setup, cases=((64, 0.4),), original_samples=128)
    rows += bench.bench_overhead(setup, batch_size=64, repeats=1)
    rows += bench.bench_series()
    values = {measure: value for _, _, measure, value, _ in rows}
    assert values["ours samples/s (fit, full epoch)"] > 0
    assert values["original samples/s (DataLoader, extrapolated)"] > 0
    assert np.isfinite(values["pipeline overhead"])
    table = bench.report(rows, bench.machine(), tmp_path / "bench.csv")
    assert len(table) == len(rows)
    text = (tmp_path / "bench.csv").read_text()
    assert text.startswith("# cpu: ") and "section,case,measure,value,unit" in text


def test_fast_stable_argsort_matches_numpy():
    # The sampler's speed-up must not change a single draw.
    from ncf_helpers.sampling import _stable_argsort

    rng = np.random.default_rng(0)
    for high in (1, 5, 65_536, 162_541, 2**40):
        for n in (0, 1, 7, 5_000):
            values = rng.integers(0, high, n)
            np.testing.assert_array_equal(_stable_argsort(values),
                                          np.argsort(values, kind="stable"))


def test_gpu_rows_report_the_last_epoch_of_each_stored_run(tmp_path):
    from benchmarks.bench import gpu_rows

    path = tmp_path / "train.csv"
    path.write_text("name,shape,launcher,amp,epoch,train_seconds,samples_per_s,peak_mib_max_rank\n"
                    "a,ml-25m,torchrun,0,1,5.0,1e6,100\n"
                    "a,ml-25m,torchrun,0,2,4.0,2e6,120\n"
                    "b,ml-25m,python,1,2,3.0,3e6,90\n"
                    "c,ml-1m,python,0,2,0.1,4e6,10\n")
    rows = gpu_rows(path)
    assert len(rows) == 6  # runs a and b, epoch 2 only; the ml-1m row is not the main shape
    assert rows[1] == ("e. scale", "ml-25m epoch 2, GPU, 1 process, torchrun, DDP, fp32",
                       "samples/s (GPU)", 2e6, "1/s")
    assert rows[3][1].endswith("python -m, no DDP, bf16 autocast") and rows[3][3] == 3.0
    assert gpu_rows(tmp_path / "missing.csv")[0][-1] == "not measured"
