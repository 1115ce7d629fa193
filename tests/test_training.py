import io

import numpy as np
import pytest
import torch

from ncf_helpers import training
from ncf_helpers.losses import MSEL1L2Loss
from ncf_helpers.metrics import rmse_metric
from ncf_helpers.models import MLP
from ncf_helpers.sampling import NegativeSampler
from ncf_helpers.training import fit, predict

N_USERS, N_ITEMS, N = 12, 10, 60


def data(seed=0):
    rng = np.random.default_rng(seed)
    keys = rng.choice(N_USERS * N_ITEMS, size=N, replace=False)  # distinct pairs
    users, items = keys // N_ITEMS, keys % N_ITEMS
    ratings = rng.integers(1, 6, size=N).astype(np.float32)
    return users, items, ratings


def model(seed=0):
    torch.manual_seed(seed)
    return MLP(num_users=N_USERS, num_items=N_ITEMS, latent_dim=4, layers=[8, 4])


ALL_U, ALL_I = np.divmod(np.arange(N_USERS * N_ITEMS), N_ITEMS)


def all_predictions(m):
    return predict(m, ALL_U, ALL_I)


def scripted_metric(values, snapshots=None):
    """A validation metric returning ``values`` in turn (and recording predictions)."""
    calls = iter(values)

    def metric(m):
        if snapshots is not None:
            snapshots.append(all_predictions(m))
        return next(calls)
    metric.__name__ = "scripted"
    return metric


class CountingLoss(MSEL1L2Loss):
    """MSE that also records each batch's size and number of zero targets."""

    def __init__(self, m):
        super().__init__(m)
        object.__setattr__(self, "seen", [])

    def forward(self, pred, target, users=None, items=None):
        self.seen.append((len(target), int((target == 0).sum()), users.clone(), items.clone()))
        return super().forward(pred, target, users, items)


def test_history_columns_and_best_epoch():
    u, i, r = data()
    history = fit(model(), (u, i, r), rmse_metric(u, i, r), epochs=3, batch_size=16,
                  progress=False)
    assert list(history.columns) == ["train_loss", "val_rmse", "lr", "seconds"]
    assert history.index.name == "epoch" and list(history.index) == [1, 2, 3]
    best = history.attrs["best_epoch"]
    assert best == int(history["val_rmse"].idxmin())
    assert np.isfinite(history.to_numpy()).all() and (history["seconds"] > 0).all()


def test_early_stopping_restores_the_best_validation_weights():
    u, i, r = data()
    snapshots = []
    m = model()
    history = fit(m, (u, i, r), scripted_metric([1.0, 0.5, 0.7, 0.8, 0.9, 1.0], snapshots),
                  epochs=6, batch_size=16, patience=3, progress=False)
    assert history.attrs["best_epoch"] == 2
    assert list(history.index) == [1, 2, 3, 4, 5]  # stopped 3 epochs after the best
    assert not np.array_equal(snapshots[1], snapshots[4])  # training did move on
    np.testing.assert_array_equal(all_predictions(m), snapshots[1])


def test_mode_max_keeps_the_highest_metric():
    u, i, r = data()
    history = fit(model(), (u, i, r), scripted_metric([0.1, 0.3, 0.2]), epochs=3,
                  batch_size=16, mode="max", patience=None, progress=False)
    assert history.attrs["best_epoch"] == 2


def test_nan_loss_raises_naming_epoch_and_batch():
    u, i, r = data()
    m = model()
    with torch.no_grad():
        m.user_embedding.weight[u[20]] = float("nan")  # NaN targets are refused earlier
    with pytest.raises(FloatingPointError, match=r"loss became nan at epoch 1, batch \d+"):
        fit(m, (u, i, r), scripted_metric([1.0]), epochs=1, batch_size=8, progress=False)


def test_exploding_learning_rate_raises():
    u, i, r = data()
    m = MLP(num_users=N_USERS, num_items=N_ITEMS, latent_dim=4, layers=[8, 4],
            head="linear")
    with pytest.raises(FloatingPointError, match=r"epoch \d+, batch \d+"):
        fit(m, (u, i, r), scripted_metric([1.0] * 50), epochs=50, batch_size=8,
            optimizer="sgd", lr=1e10, patience=None, progress=False)


def test_same_seed_gives_identical_history_and_predictions():
    u, i, r = data()
    sampler = NegativeSampler(u, i, N_ITEMS)
    runs = []
    for _ in range(2):
        m = model()
        history = fit(m, (u, i, r), rmse_metric(u, i, r), epochs=3, batch_size=8,
                      sampler=sampler, negative_samples_ratio=0.5, seed=7, progress=False)
        runs.append((history.drop(columns="seconds"), all_predictions(m)))
    assert runs[0][0].equals(runs[1][0])
    assert np.array_equal(runs[0][1], runs[1][1])


def test_different_seed_changes_the_run():
    u, i, r = data()
    preds = []
    for seed in (0, 1):
        m = model()
        fit(m, (u, i, r), scripted_metric([3.0, 2.0]), epochs=2, batch_size=8, seed=seed,
            progress=False)
        preds.append(all_predictions(m))
    assert not np.array_equal(*preds)


@pytest.mark.parametrize("ratio", [0.4, 1.5])
def test_negative_sampling_adds_round_ratio_n_fresh_negatives(ratio):
    u, i, r = data()
    m = model()
    loss = CountingLoss(m)
    sampler = NegativeSampler(u, i, N_ITEMS)
    fit(m, (u, i, r), scripted_metric([3.0, 2.0]), loss, epochs=2, batch_size=7,
        sampler=sampler, negative_samples_ratio=ratio, progress=False)
    n_neg = round(ratio * N)
    per_epoch = len(loss.seen) // 2
    for epoch in (loss.seen[:per_epoch], loss.seen[per_epoch:]):
        assert sum(s[0] for s in epoch) == N + n_neg
        assert sum(s[1] for s in epoch) == n_neg  # ratings are 1..5, negatives 0
    pairs = [np.concatenate([np.stack([s[2].numpy(), s[3].numpy()], 1)[:]
                             for s in epoch]) for epoch in
             (loss.seen[:per_epoch], loss.seen[per_epoch:])]
    keys = [p[:, 0] * N_ITEMS + p[:, 1] for p in pairs]
    positives = set((u * N_ITEMS + i).tolist())
    negatives = [sorted(k for k in ks.tolist() if k not in positives) for ks in keys]
    assert len(negatives[0]) == n_neg  # none of them is a known positive
    assert negatives[0] != negatives[1]  # fresh draws each epoch


def test_without_ratio_each_epoch_sees_the_training_set_once():
    u, i, r = data()
    m = model()
    loss = CountingLoss(m)
    fit(m, (u, i, r), scripted_metric([1.0]), loss, epochs=1, batch_size=16,
        progress=False)
    assert [s[0] for s in loss.seen] == [16, 16, 16, 12]
    seen = np.concatenate([s[2].numpy() * N_ITEMS + s[3].numpy() for s in loss.seen])
    assert sorted(seen.tolist()) == sorted((u * N_ITEMS + i).tolist())


@pytest.mark.parametrize("kwargs, error, name", [
    ({"negative_samples_ratio": -0.1}, ValueError, "negative_samples_ratio"),
    ({"negative_samples_ratio": "0.4"}, ValueError, "negative_samples_ratio"),
    ({"negative_samples_ratio": 0.4}, TypeError, "sampler must be a NegativeSampler"),
    ({"optimizer": "rmsprop"}, ValueError, "rmsprop"),
    ({"scheduler": "cosine"}, ValueError, "cosine"),
    ({"mode": "up"}, ValueError, "mode"),
    ({"epochs": 0}, ValueError, "epochs"),
    ({"batch_size": 0}, ValueError, "batch_size"),
])
def test_bad_arguments_name_the_culprit(kwargs, error, name):
    u, i, r = data()
    with pytest.raises(error, match=name):
        fit(model(), (u, i, r), scripted_metric([1.0]), **{"epochs": 1, **kwargs},
            progress=False)


def test_bad_train_arrays():
    u, i, r = data()
    with pytest.raises(ValueError, match="same length"):
        fit(model(), (u, i[:-1], r), scripted_metric([1.0]), epochs=1, progress=False)
    with pytest.raises(ValueError, match="tuple"):
        fit(model(), (u, i), scripted_metric([1.0]), epochs=1, progress=False)


def test_plateau_scheduler_lowers_lr_when_validation_stalls():
    u, i, r = data()
    history = fit(model(), (u, i, r), scripted_metric([1.0] * 4), epochs=4, batch_size=16,
                  lr=0.01, scheduler="plateau", scheduler_kwargs={"patience": 0, "factor": 0.5},
                  patience=None, progress=False)
    # The lr column is the rate each epoch trained with.
    np.testing.assert_allclose(history["lr"], [0.01, 0.01, 0.005, 0.0025])


def test_step_scheduler_decays_lr_every_step_size_epochs():
    u, i, r = data()
    history = fit(model(), (u, i, r), scripted_metric([3.0, 2.0, 1.0, 0.5]), epochs=4,
                  batch_size=16, lr=0.01, scheduler="step",
                  scheduler_kwargs={"step_size": 2, "gamma": 0.1}, progress=False)
    np.testing.assert_allclose(history["lr"], [0.01, 0.01, 0.001, 0.001])


@pytest.mark.parametrize("kwargs, error, match", [
    ({"epochs": True}, ValueError, "epochs must be an integer"),
    ({"epochs": 2.0}, ValueError, "epochs must be an integer"),
    ({"batch_size": np.float32(16)}, ValueError, "batch_size"),
    ({"lr": float("nan")}, ValueError, "lr must be a finite number"),
    ({"lr": 0.0}, ValueError, "lr must be > 0"),
    ({"patience": 0}, ValueError, "patience"),
    ({"seed": -1}, ValueError, "seed"),
])
def test_numbers_follow_one_rule(kwargs, error, match):
    u, i, r = data()
    with pytest.raises(error, match=match):
        fit(model(), (u, i, r), scripted_metric([1.0] * 3), **{"epochs": 1, **kwargs},
            progress=False)


def test_numpy_integers_are_numbers():
    u, i, r = data()
    history = fit(model(), (u, i, r), scripted_metric([2.0, 1.0]), epochs=np.int64(2),
                  batch_size=np.int32(16), progress=False)
    assert len(history) == 2


def test_float_or_out_of_range_indices_are_rejected_before_training():
    u, i, r = data()
    with pytest.raises(TypeError, match="train users must hold integer indices"):
        fit(model(), (u.astype(float), i, r), scripted_metric([1.0]), epochs=1, progress=False)
    bad = rf"train items must be in \[0, {N_ITEMS}\); found {N_ITEMS}"
    with pytest.raises(IndexError, match=bad):
        fit(model(), (u, np.r_[i[:-1], N_ITEMS], r), scripted_metric([1.0]), epochs=1,
            progress=False)
    with pytest.raises(ValueError, match="train targets contains NaN"):
        fit(model(), (u, i, np.r_[r[:-1], np.nan]), scripted_metric([1.0]), epochs=1,
            progress=False)


def test_validation_arrays_instead_of_a_metric_fail_at_once():
    u, i, r = data()
    calls = []
    with pytest.raises(TypeError, match="val_metric must be callable.*rmse_metric"):
        fit(model(), (u, i, r), (u, i, r), epochs=1,
            loss_fn=CountingLoss(model()), progress=False)
    assert calls == []


def test_nan_validation_metric_names_the_metric_and_epoch():
    u, i, r = data()
    with pytest.raises(FloatingPointError, match="'scripted' returned nan at epoch 1"):
        fit(model(), (u, i, r), scripted_metric([float("nan")] * 3), epochs=3, progress=False)


def test_early_stopping_closes_the_progress_bar_as_complete(monkeypatch):
    bars = []

    class Recorder(training.tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **{**kwargs, "disable": False, "file": io.StringIO()})
            bars.append(self)

    monkeypatch.setattr(training, "tqdm", Recorder)
    u, i, r = data()
    fit(model(), (u, i, r), scripted_metric([1.0, 2.0, 3.0, 4.0]), epochs=10, patience=2)
    (bar,) = bars
    # a notebook bar that closes with n < total turns red, which reads as a crash
    assert bar.n == bar.total == 3 and "stopped early" in bar.desc
