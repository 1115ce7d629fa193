"""The one training engine: ``fit(model, train, config, val_metric, loss)``.

Settings that TrainConfig refuses are swept in test_boundary; the many-process path
(DistributedDataParallel under torchrun) runs in test_cli.
"""
import copy
import dataclasses
import io
import sys

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from ncf_helpers import training
from ncf_helpers.losses import BPRLoss, MSEL1L2Loss
from ncf_helpers.metrics import ValMetric, rmse_metric
from ncf_helpers.models import GMF, MLP
from ncf_helpers.training import TrainConfig, fit, make_optimizer, show_progress

N_USERS, N_ITEMS, N = 12, 10, 60


def data(seed=0):
    rng = np.random.default_rng(seed)
    keys = rng.choice(N_USERS * N_ITEMS, size=N, replace=False)  # distinct pairs
    users, items = keys // N_ITEMS, keys % N_ITEMS
    ratings = rng.integers(1, 6, size=N).astype(np.float32)
    return users, items, ratings


def model(seed=0, **kwargs):
    torch.manual_seed(seed)
    return MLP(num_users=N_USERS, num_items=N_ITEMS, latent_dim=4, layers=[8, 4], **kwargs)


def config(**kwargs):
    return TrainConfig(**{"epochs": 1, "batch_size": 16, "device": "cpu", "progress": False,
                          **kwargs})


ALL_U, ALL_I = np.divmod(np.arange(N_USERS * N_ITEMS), N_ITEMS)


def all_predictions(m):
    return m.predict(ALL_U, ALL_I)


def scripted_metric(values, snapshots=None, mode="min"):
    """A validation metric returning ``values`` in turn (and recording predictions)."""
    calls = iter(values)

    def metric(m):
        if snapshots is not None:
            snapshots.append(all_predictions(m))
        return next(calls)
    return ValMetric("scripted", mode, metric)


class CountingLoss(MSEL1L2Loss):
    """MSE that also records each batch's (users, items, targets)."""

    def __init__(self, m):
        super().__init__(m)
        object.__setattr__(self, "seen", [])

    def forward(self, pred, target, users=None, items=None):
        self.seen.append((users.clone(), items.clone(), target.clone()))
        return super().forward(pred, target, users, items)

    def epoch_rows(self, epoch, steps):
        """``(users, items, targets)`` numpy arrays of one epoch of ``steps`` batches."""
        batches = self.seen[(epoch - 1) * steps:epoch * steps]
        return [torch.cat(column).numpy() for column in zip(*batches)]


def known_keys(users, items, n_items=N_ITEMS):
    return set((np.asarray(users) * n_items + np.asarray(items)).tolist())


# ------------------------------------------------------------------ the history
def test_history_columns_and_best_epoch():
    u, i, r = data()
    history = fit(model(), (u, i, r), config(epochs=3), rmse_metric(u, i, r))
    assert list(history.columns) == ["train_loss", "val_rmse", "lr", "samples",
                                     "train_seconds", "seconds"]
    assert history.index.name == "epoch" and list(history.index) == [1, 2, 3]
    assert history.attrs["best_epoch"] == int(history["val_rmse"].idxmin())
    assert (history["samples"] == N).all()
    assert np.isfinite(history.to_numpy()).all()
    assert (history["seconds"] >= history["train_seconds"]).all()
    assert (history["train_seconds"] > 0).all()


def test_without_a_validation_metric_every_epoch_runs_and_the_last_weights_stay():
    u, i, r = data()
    m = model()
    # patience has nothing to watch without a metric: all 4 epochs run
    history = fit(m, (u, i, r), config(epochs=4, patience=1, lr=0.01))
    assert list(history.columns) == ["train_loss", "lr", "samples", "train_seconds", "seconds"]
    assert list(history.index) == [1, 2, 3, 4] and history.attrs["best_epoch"] == 4
    assert history["train_loss"].is_monotonic_decreasing
    last = all_predictions(m)
    fit(m, (u, i, r), config(epochs=1, lr=0.01))  # one more epoch moves the weights on
    assert not np.array_equal(last, all_predictions(m))


def test_early_stopping_restores_the_best_validation_weights():
    u, i, r = data()
    snapshots = []
    m = model()
    history = fit(m, (u, i, r), config(epochs=6, patience=3),
                  scripted_metric([1.0, 0.5, 0.7, 0.8, 0.9, 1.0], snapshots))
    assert history.attrs["best_epoch"] == 2
    assert list(history.index) == [1, 2, 3, 4, 5]  # stopped 3 epochs after the best
    assert not np.array_equal(snapshots[1], snapshots[4])  # training did move on
    np.testing.assert_array_equal(all_predictions(m), snapshots[1])
    assert not m.training  # handed back in eval mode


def test_mode_max_keeps_the_highest_metric():
    u, i, r = data()
    history = fit(model(), (u, i, r), config(epochs=3, patience=None),
                  scripted_metric([0.1, 0.3, 0.2], mode="max"))
    assert history.attrs["best_epoch"] == 2
    assert history["val_scripted"].tolist() == [0.1, 0.3, 0.2]


def test_the_model_method_keeps_the_history():
    u, i, r = data()
    m = model()
    assert m.fit((u, i, r), config(epochs=2)) is m
    assert list(m.history_.index) == [1, 2] and m.history_.attrs["best_epoch"] == 2


def test_default_config_is_used_when_none_is_given(monkeypatch):
    u, i, r = data()
    monkeypatch.setenv("NCF_PROGRESS", "0")
    history = fit(model(), (u, i, r), val_metric=scripted_metric([1.0] * 20))
    defaults = TrainConfig()
    # the metric never improves after epoch 1: patience 3 stops at epoch 4
    assert len(history) == 1 + defaults.patience
    assert history["lr"].iloc[0] == defaults.lr


# ------------------------------------------- the CPU path is the notebook's loop
def notebook_loop(m, train, val, epochs, batch_size, lr, seed):
    """The loop notebook 06 writes by hand: randperm with a seeded generator, slices,
    ``F.mse_loss``, Adam; then the validation RMSE."""
    users, items, ratings = (torch.as_tensor(a) for a in train)
    val_users, val_items, val_ratings = (torch.as_tensor(a) for a in val)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(m.parameters(), lr=lr)
    rows = []
    for _ in range(epochs):
        m.train()
        order = torch.randperm(len(ratings), generator=generator)
        total = 0.0
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            loss = F.mse_loss(m(users[batch], items[batch]), ratings[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        m.eval()
        with torch.no_grad():
            val_rmse = F.mse_loss(m(val_users, val_items), val_ratings).sqrt().item()
        rows.append((total / len(ratings), val_rmse))
    return np.array(rows)


def test_fit_on_the_cpu_is_the_hand_written_loop():
    rng = np.random.default_rng(5)
    keys = rng.choice(50 * 40, size=700, replace=False)
    users, items = keys // 40, keys % 40
    ratings = rng.integers(1, 6, size=700).astype(np.float32)
    train = (users[:600], items[:600], ratings[:600])
    val = (users[600:], items[600:], ratings[600:])
    torch.manual_seed(42)
    by_hand = MLP(num_users=50, num_items=40, latent_dim=8, layers=[16, 8, 4])
    by_fit = copy.deepcopy(by_hand)
    expected = notebook_loop(by_hand, train, val, epochs=3, batch_size=64, lr=1e-2, seed=42)
    history = fit(by_fit, train, config(epochs=3, batch_size=64, lr=1e-2, seed=42,
                                        patience=None), rmse_metric(*val))
    assert history.attrs["best_epoch"] == 3
    np.testing.assert_allclose(history[["train_loss", "val_rmse"]].to_numpy(), expected,
                               rtol=1e-4)
    for a, b in zip(by_hand.parameters(), by_fit.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


# ------------------------------------------------------------------ seeds
def test_same_seed_gives_identical_history_and_predictions():
    u, i, r = data()
    runs = []
    for _ in range(2):
        m = model()
        history = fit(m, (u, i, r), config(epochs=3, batch_size=8, negatives=0.5, seed=7),
                      rmse_metric(u, i, r))
        runs.append((history.drop(columns=["seconds", "train_seconds"]), all_predictions(m)))
    pd.testing.assert_frame_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])


def test_a_different_seed_changes_the_run():
    u, i, r = data()
    preds = []
    for seed in (0, 1):
        m = model()
        fit(m, (u, i, r), config(epochs=2, batch_size=8, seed=seed))
        preds.append(all_predictions(m))
    assert not np.array_equal(*preds)


# ------------------------------------------------------------------ what each epoch sees
def test_without_negatives_each_epoch_sees_the_training_set_once():
    u, i, r = data()
    m = model()
    loss = CountingLoss(m)
    fit(m, (u, i, r), config(epochs=2), loss=loss)
    assert [len(batch[2]) for batch in loss.seen] == [16, 16, 16, 12] * 2
    for epoch in (1, 2):
        users, items, targets = loss.epoch_rows(epoch, 4)
        assert sorted((users * N_ITEMS + items).tolist()) == sorted((u * N_ITEMS + i).tolist())
        assert sorted(targets.tolist()) == sorted(r.tolist())
    first, second = loss.epoch_rows(1, 4)[0], loss.epoch_rows(2, 4)[0]
    assert not np.array_equal(first, second)  # reshuffled every epoch


@pytest.mark.parametrize("on_device", [False, True])
@pytest.mark.parametrize("ratio", [0.4, 1.5])
def test_pointwise_negatives_are_added_fresh_every_epoch_and_never_known(ratio, on_device):
    u, i, r = data()
    m = model()
    loss = CountingLoss(m)
    history = fit(m, (u, i, r), config(epochs=2, batch_size=200, negatives=ratio,
                                       negative_value=-1.0, on_device=on_device), loss=loss)
    n_neg = round(ratio * N)
    assert (history["samples"] == N + n_neg).all()
    known = known_keys(u, i)
    drawn = []
    for epoch in (1, 2):
        users, items, targets = loss.epoch_rows(epoch, 1)
        assert len(targets) == N + n_neg
        negative = targets == -1.0  # ratings are 1..5
        assert negative.sum() == n_neg
        keys = users * N_ITEMS + items
        assert sorted(keys[~negative].tolist()) == sorted(known)  # every positive kept
        assert not known & set(keys[negative].tolist())
        drawn.append(sorted(keys[negative].tolist()))
    assert drawn[0] != drawn[1]


def test_max_steps_ends_each_epoch_early():
    u, i, r = data()
    m = model()
    loss = CountingLoss(m)
    history = fit(m, (u, i, r), config(epochs=2, batch_size=8, max_steps=3), loss=loss)
    assert len(loss.seen) == 6 and (history["samples"] == 24).all()


# ------------------------------------------------------------------ losses by name or object
def test_the_default_loss_follows_the_head():
    u, i, r = data()
    # head="logits" means BCE, which refuses star ratings as labels ...
    with pytest.raises(ValueError, match=r"BCE targets must lie in \[0, 1\].*from 1 to 5"):
        fit(model(head="logits"), (u, i, r), config())
    # ... and trains on 0/1 labels; naming "mse" trains a logits model on stars
    fit(model(head="logits"), (u, i, np.ones(N, np.float32)), config())
    history = fit(model(head="logits"), (u, i, r), config(loss="mse", epochs=3, lr=0.05))
    assert history["train_loss"].is_monotonic_decreasing


def test_the_l2_setting_reaches_the_loss():
    u, i, r = data()
    norms = []
    for l2 in (0.0, 1.0):
        m = model()
        fit(m, (u, i, r), config(epochs=20, lr=0.05, l2=l2))
        norms.append(m.user_embedding.weight.norm().item())
    assert norms[1] < 0.5 * norms[0]


def test_the_original_loss_by_name_learns_the_mean():
    u, i, r = data()
    m = model(head="logits")
    fit(m, (u, i, r), config(loss="original_mse", epochs=60, batch_size=N, lr=0.05))
    # the broadcast bug: every prediction goes to the mean rating
    np.testing.assert_allclose(all_predictions(m), r.mean(), atol=0.2)


def test_a_loss_object_must_be_built_with_the_model():
    u, i, r = data()
    m = model()
    with pytest.raises(TypeError, match=r"got the class MSEL1L2Loss.*MSEL1L2Loss\(model\)"):
        fit(m, (u, i, r), config(), loss=MSEL1L2Loss)
    with pytest.raises(TypeError, match=r"got MSELoss; .*TrainConfig\(loss='mse'\)"):
        fit(m, (u, i, r), config(), loss=torch.nn.MSELoss())
    with pytest.raises(ValueError, match="built for another model"):
        fit(m, (u, i, r), config(), loss=MSEL1L2Loss(model()))


# ------------------------------------------------------------------ ranking losses
def halves(n_users=20, n_items=40):
    """Even users like the first half of the items, odd users the second half."""
    users = np.repeat(np.arange(n_users), 10)
    items = np.array([(u % 2) * 20 + j for u in range(n_users) for j in range(0, 20, 2)])
    other = np.array([(1 - u % 2) * 20 + j for u in range(n_users) for j in range(0, 20, 2)])
    return users, items, other


@pytest.mark.parametrize("on_device", [False, True])
@pytest.mark.parametrize("loss", ["bpr", "softmax"])
def test_ranking_losses_train_a_model_to_rank_positives_first(loss, on_device):
    users, items, other = halves()
    torch.manual_seed(0)
    gmf = GMF(20, 40, embedding_dim=8, head="logits")
    before = np.mean(gmf.predict(users, items) > gmf.predict(users, other))
    history = fit(gmf, (users, items, np.ones(len(users), np.float32)),
                  config(loss=loss, negatives=4, epochs=30, batch_size=32, lr=0.05,
                         on_device=on_device))
    assert (history["samples"] == len(users) * 5).all()  # each positive and its 4 negatives
    assert history["train_loss"].iloc[-1] < 0.5 * history["train_loss"].iloc[0]
    after = np.mean(gmf.predict(users, items) > gmf.predict(users, other))
    assert before < 0.7 and after > 0.95


@pytest.mark.parametrize("on_device", [False, True])
def test_ranking_negatives_are_drawn_per_positive_and_never_known(monkeypatch, on_device):
    users, items, _ = halves()
    drawn = []
    original = training._Epochs.negatives_for

    def spy(self, batch_users):
        negative = original(self, batch_users)
        drawn.append((batch_users.clone(), negative.clone()))
        return negative

    monkeypatch.setattr(training._Epochs, "negatives_for", spy)
    torch.manual_seed(0)
    gmf = GMF(20, 40, embedding_dim=4, head="logits")
    fit(gmf, (users, items, np.ones(len(users), np.float32)),
        config(loss="bpr", negatives=3, epochs=2, batch_size=64, on_device=on_device))
    assert len(drawn) == 2 * 4  # 200 positives in batches of 64, two epochs
    owners = torch.cat([u for u, _ in drawn])
    negatives = torch.cat([n for _, n in drawn])
    assert negatives.shape == (400, 3) and negatives.dtype == torch.int64
    keys = (owners[:, None] * 40 + negatives).flatten().tolist()
    assert not known_keys(users, items, 40) & set(keys)
    assert len(set(keys)) > 100  # drawn at random, not one fixed item per user


def test_ranking_losses_need_whole_negatives_and_positive_targets():
    users, items, _ = halves()
    gmf = GMF(20, 40, embedding_dim=4, head="logits")
    ones = np.ones(len(users), np.float32)
    with pytest.raises(ValueError, match="loss='bpr' ranks each positive against its own "
                                         "negatives: set negatives to a whole number >= 1"):
        fit(gmf, (users, items, ones), config(loss="bpr"))  # negatives unset: 0
    with pytest.raises(ValueError, match=r"BPRLoss ranks each positive"):
        fit(gmf, (users, items, ones), config(negatives=0.5), loss=BPRLoss(gmf))
    with pytest.raises(ValueError, match="positives only"):
        fit(gmf, (users, items, ones * 0), config(loss="softmax", negatives=2))
    with pytest.raises(ValueError, match="head='logits'"):
        fit(GMF(20, 40, embedding_dim=4), (users, items, ones), config(loss="bpr", negatives=2))


# ------------------------------------------------------------------ device-resident training, amp
def test_on_device_training_on_the_cpu_learns_and_is_reproducible():
    u, i, r = data()
    runs = []
    for _ in range(2):
        m = model()
        history = fit(m, (u, i, r), config(epochs=5, lr=0.02, negatives=1.0,
                                           negative_value=1.0, on_device=True))
        runs.append((history, all_predictions(m)))
    assert runs[0][0]["train_loss"].iloc[-1] < 0.8 * runs[0][0]["train_loss"].iloc[0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])


def test_amp_runs_on_the_cpu():
    u, i, r = data()
    m = model()
    history = fit(m, (u, i, r), config(epochs=5, lr=0.02, amp=True))
    assert np.isfinite(history["train_loss"]).all()
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]
    assert next(m.parameters()).dtype == torch.float32  # autocast, not a cast of the weights


# ------------------------------------------------------------------ NaN guard
def test_nan_weights_stop_the_run_at_the_end_of_the_epoch():
    u, i, r = data()
    m = model()
    with torch.no_grad():
        m.user_embedding.weight[u[20]] = float("nan")  # NaN targets are refused earlier
    with pytest.raises(FloatingPointError, match=r"training loss became nan in epoch 1; "
                                                 r"lower the learning rate"):
        fit(m, (u, i, r), config(batch_size=8))


def test_an_exploding_learning_rate_raises():
    u, i, r = data()
    with pytest.raises(FloatingPointError, match=r"became (nan|inf) in epoch \d+.*now 1e\+10"):
        fit(model(head="logits"), (u, i, r),
            config(epochs=50, batch_size=8, optimizer="sgd", lr=1e10, loss="mse"))


def test_a_nan_validation_metric_names_the_metric_and_the_epoch():
    u, i, r = data()
    with pytest.raises(FloatingPointError, match="'scripted' returned nan at epoch 1"):
        fit(model(), (u, i, r), config(epochs=3), scripted_metric([float("nan")] * 3))


# ------------------------------------------------------------------ what fit refuses
def test_bad_train_arrays():
    u, i, r = data()
    m = model()
    with pytest.raises(ValueError, match="same length"):
        fit(m, (u, i[:-1], r), config())
    with pytest.raises(ValueError, match=r"train must be a \(users, items, targets\) tuple"):
        fit(m, (u, i), config())
    with pytest.raises(TypeError, match="train users must hold integer indices"):
        fit(m, (u.astype(float), i, r), config())
    with pytest.raises(ValueError, match="train targets contains NaN"):
        fit(m, (u, i, np.r_[r[:-1], np.nan]), config())


def test_an_index_beyond_the_model_blames_the_model_size():
    u, i, r = data()
    with pytest.raises(IndexError, match=rf"item index {N_ITEMS}, but the model was built for "
                                         rf"n_items={N_ITEMS}: build it with "
                                         rf"n_items={N_ITEMS + 1}"):
        fit(model(), (u, np.r_[i[:-1], N_ITEMS], r), config())


def test_the_validation_metric_must_be_a_metric():
    u, i, r = data()
    with pytest.raises(TypeError, match="val_metric must be callable.*rmse_metric"):
        fit(model(), (u, i, r), config(), (u, i, r))
    with pytest.raises(TypeError, match=r"name and a mode.*ValMetric\('my_metric', 'max', fn\)"):
        fit(model(), (u, i, r), config(), lambda m: 1.0)
    with pytest.raises(TypeError, match=r"config must be a TrainConfig, got dict.*TrainConfig\("):
        fit(model(), (u, i, r), {"epochs": 1})


# ------------------------------------------------------------------ optimizer and schedulers
def test_make_optimizer_uses_the_config():
    params = [torch.nn.Parameter(torch.zeros(2))]
    adam = make_optimizer(config(lr=0.1, betas=(0.25, 0.5), eps=1e-6, weight_decay=0.01),
                          params, torch.device("cpu"))
    assert isinstance(adam, torch.optim.Adam)
    group = adam.param_groups[0]
    assert (group["lr"], group["betas"], group["eps"], group["weight_decay"]) == (
        0.1, (0.25, 0.5), 1e-6, 0.01)
    sgd = make_optimizer(config(optimizer="sgd", lr=0.2, momentum=0.9), params,
                         torch.device("cpu"))
    assert isinstance(sgd, torch.optim.SGD) and sgd.param_groups[0]["momentum"] == 0.9


def test_plateau_scheduler_lowers_lr_when_validation_stalls():
    u, i, r = data()
    history = fit(model(), (u, i, r),
                  config(epochs=4, lr=0.01, scheduler="plateau", patience=None,
                         scheduler_kwargs={"patience": 0, "factor": 0.5}),
                  scripted_metric([1.0] * 4))
    # The lr column is the rate each epoch trained with.
    np.testing.assert_allclose(history["lr"], [0.01, 0.01, 0.005, 0.0025])
    with pytest.raises(ValueError, match="plateau.*pass a val_metric"):
        fit(model(), (u, i, r), config(scheduler="plateau"))


def test_step_scheduler_decays_lr_every_step_size_epochs():
    u, i, r = data()
    history = fit(model(), (u, i, r),
                  config(epochs=4, lr=0.01, scheduler="step",
                         scheduler_kwargs={"step_size": 2, "gamma": 0.1}))
    np.testing.assert_allclose(history["lr"], [0.01, 0.01, 0.001, 0.001])


# ------------------------------------------------------------------ the config object
def test_config_is_frozen_and_replace_checks_again():
    base = TrainConfig(epochs=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        base.epochs = 5
    assert dataclasses.replace(base, lr=0.1).epochs == 3
    with pytest.raises(ValueError, match="lr must be > 0"):
        dataclasses.replace(base, lr=0.0)


def test_numpy_numbers_are_numbers():
    u, i, r = data()
    history = fit(model(), (u, i, r), config(epochs=np.int64(2), batch_size=np.int32(16),
                                             lr=np.float32(0.01)))
    assert len(history) == 2


# ------------------------------------------------------------------ progress
@pytest.mark.parametrize("value, tty, expected", [("1", False, True), ("0", True, False),
                                                  (None, True, True), (None, False, False)])
def test_show_progress_follows_the_environment_then_the_terminal(monkeypatch, value, tty,
                                                                 expected):
    if value is None:
        monkeypatch.delenv("NCF_PROGRESS", raising=False)
    else:
        monkeypatch.setenv("NCF_PROGRESS", value)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: tty)
    assert show_progress() is expected


def test_early_stopping_closes_the_progress_bar_as_complete(monkeypatch):
    bars = []

    class Recorder(training.tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **{**kwargs, "disable": False, "file": io.StringIO()})
            bars.append(self)

    monkeypatch.setattr(training, "tqdm", Recorder)
    u, i, r = data()
    fit(model(), (u, i, r), config(epochs=10, patience=2, progress=True),
        scripted_metric([1.0, 2.0, 3.0, 4.0]))
    (bar,) = bars
    # a notebook bar that closes with n < total turns red, which reads as a crash
    assert bar.n == bar.total == 3 and "stopped early" in bar.desc
