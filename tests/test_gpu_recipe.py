"""benchmarks.gpu_recipe: NVIDIA's NCF recipe, run here at a CPU size (the GPU run is
benchmarks/gpu_check.sh on a GPU machine)."""
import numpy as np
import pandas as pd
import pytest
import torch

from benchmarks import bench, gpu_recipe
from ncf_helpers.models import GMF, count_parameters
from ncf_helpers.training import TrainConfig, fit


def nvidia_parameters(n_users, n_items, factors=64, layers=(256, 256, 128, 64)):
    """Parameters of NVIDIA's neumf.py: four embeddings, the MLP's Linear layers, final."""
    embeddings = (n_users + n_items) * (factors + layers[0] // 2)
    mlp = sum(a * b + b for a, b in zip(layers[:-1], layers[1:]))
    return embeddings + mlp + (layers[-1] + factors) + 1


def test_recipe_model_is_nvidias_neumf():
    model = gpu_recipe.recipe_model(50, 70)
    assert [tuple(m.weight.shape) for m in model.tower if isinstance(m, torch.nn.Linear)] \
        == [(256, 256), (128, 256), (64, 128)]  # --layers 256 256 128 64: 256 is the input
    assert model.gmf_user.embedding_dim == 64 and model.mlp_item.embedding_dim == 128
    assert tuple(model.output.weight.shape) == (1, 128)  # GMF 64 + the tower's last 64
    assert count_parameters(model) == nvidia_parameters(50, 70)
    assert nvidia_parameters(138_493, 26_744) == 31_832_577  # the figure the docstring gives
    assert model.config["dropout"] == 0.5 and not model.config["use_bias"]
    assert model.gmf_user.weight.std().item() == pytest.approx(0.01, rel=0.2)


def test_recipe_config_is_nvidias_optimizer_and_loss():
    config = gpu_recipe.recipe_config("amp", torch.device("cpu"), epochs=2)
    assert (config.batch_size, config.lr, config.betas, config.eps) == (2**20, 0.0045,
                                                                         (0.25, 0.5), 1e-8)
    assert (config.loss, config.negatives, config.on_device, config.amp) == ("bce", 4.0, True,
                                                                           True)


def test_synthetic_data_holds_out_one_rating_per_user():
    (tu, ti), (vu, vi), n_users, n_items, label = gpu_recipe.recipe_data("ml-20m/2000")
    assert (n_users, n_items) == (69, 26_744) and label.startswith("synthetic ml-20m/2000")
    np.testing.assert_array_equal(vu, np.arange(n_users))  # one per user
    assert not set(zip(tu.tolist(), ti.tolist())) & set(zip(vu.tolist(), vi.tolist()))
    assert len(tu) + len(vu) == 10_000


def test_real_ml20m_holds_out_each_users_latest_rating(tmp_path):
    (tmp_path / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n1,10,4.0,300\n1,20,3.0,100\n1,30,5.0,200\n"
        "2,20,2.0,50\n2,10,1.0,60\n")
    (tmp_path / "movies.csv").write_text(
        "movieId,title,genres\n10,A (1990),Drama\n20,B (1991),Drama\n30,C (1992),Drama\n")
    (tu, ti), (vu, vi), n_users, n_items, label = gpu_recipe.recipe_data(data_dir=tmp_path)
    assert label.startswith("ml-20m (GroupLens)") and (n_users, n_items) == (2, 3)
    assert list(zip(vu, vi)) == [(0, 0), (1, 0)]  # movie 10 is each user's latest
    assert sorted(zip(tu.tolist(), ti.tolist())) == [(0, 1), (0, 2), (1, 1)]


def test_busy_seconds_counts_overlaps_once():
    assert gpu_recipe.busy_seconds([]) == 0
    assert gpu_recipe.busy_seconds([(3, 4), (0, 1), (0.5, 2), (1.5, 1.8)]) == pytest.approx(3)


def reads_per_epoch(loss, steps):
    """Host reads the engine makes in one on-device epoch of ``steps`` steps."""
    rng = np.random.default_rng(0)
    keys = np.unique(rng.integers(0, 200 * 300, 6000))
    train = (keys // 300, keys % 300, np.ones(len(keys), np.float32))
    config = TrainConfig(epochs=1, batch_size=256, loss=loss, negatives=4.0, on_device=True,
                         device="cpu", max_steps=steps, progress=False)
    with gpu_recipe.counting_host_reads() as reads:
        fit(GMF(200, 300, 8, head="logits"), train, config)
    return reads


@pytest.mark.parametrize("loss", ["bce", "bpr", "softmax"])
def test_an_epoch_reads_the_device_a_fixed_number_of_times(loss):
    # No host round-trip per step: six steps read no more than two, and at most the
    # epoch's loss and the sampler's check of its draw.
    two, six = reads_per_epoch(loss, 2), reads_per_epoch(loss, 6)
    assert two == six and sum(six.values()) <= 2
    assert "__bool__" not in torch.Tensor.__dict__ and bool(torch.tensor(1))  # restored


def test_cpu_sized_recipe_reports_every_field(tmp_path):
    out = tmp_path / "recipe.csv"
    # ml-20m's movies, 1/2000 of its users; 3 steps of 1,024 samples per epoch
    rows = gpu_recipe.main(["--device", "cpu", "--shape", "ml-20m/2000", "--batch-size", "1024",
                            "--max-steps", "3", "--epochs", "1", "--validate",
                            "--output", str(out)])
    table = pd.read_csv(out, comment="#")
    assert list(table.columns) == gpu_recipe.FIELDS and len(table) == 2 == len(rows)
    assert list(table["precision"]) == ["fp32", "amp"]  # no TF32 on a CPU
    assert not table["tf32"].any()
    for _, row in table.iterrows():
        assert row["samples_per_s"] > 0 and row["peak_mib"] > 0
        assert row["steps_probe"] == 3 and row["steps_per_epoch"] == 49  # 5 x 9,931 / 1,024
        assert row["samples_per_epoch"] == 5 * row["train_positives"]
        # the probe epoch read the device at most twice (the loss at its end, the
        # sampler's check of the epoch's draw), not once per step (that would be 3 more)
        assert row["host_reads_probe"] <= 2
        where = row["host_reads_where"] if isinstance(row["host_reads_where"], str) else ""
        assert row["host_reads_probe"] == sum(int(w.rsplit(" x", 1)[1])
                                              for w in where.split("; ") if w)
        assert np.isnan(row["gpu_busy_fraction"]) and np.isnan(row["cuda_syncs_probe"])
        assert 0 <= row["hr10"] <= 1 and np.isnan(row["seconds_to_hr"])  # 0.959 not reached
        nvidia = gpu_recipe.NVIDIA[row["precision"] if row["precision"] == "amp" else "tf32"]
        assert row["nvidia_samples_per_s"] == nvidia["samples_per_s"]
        assert row["ratio_to_nvidia"] == pytest.approx(
            row["samples_per_s"] / nvidia["samples_per_s"], abs=1e-3)
    # make bench shows the stored rows beside NVIDIA's figures
    shown = bench.recipe_rows(out)
    assert shown[0][1] == "NVIDIA, 1x A100 40GB, TF32" and shown[0][3] == 22.59e6
    assert [r[1].split(", ")[1] for r in shown[2::5]] == ["fp32", "amp"]  # after the device
    assert [r[2] for r in shown[2:7]] == ["samples/s (mean of epochs 2+)", "x NVIDIA's A100",
                                          "GPU busy (probe epoch)",
                                          "host reads in the probe epoch", "peak GPU memory"]
    assert bench.recipe_rows(tmp_path / "missing.csv")[-1][-1] == "not measured"
