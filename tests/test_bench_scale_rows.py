"""The scale benchmark's rows, as bench reports them (moved from test_distributed)."""
import pytest


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
