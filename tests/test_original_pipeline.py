"""The reconstruction of the original pipeline (lesson 00): each piece reproduces the
original's behaviour, bugs included, and nothing more.

``OriginalBookDataset`` itself is covered in ``test_original_reference.py``; here: the
settings, the unseeded holdout, the models, the loss against them, the scheduler that
cannot be built as the original wrote it, the loop, and the dataset's ``max_draws``.
"""
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from ncf_helpers.losses import MSEL1L2Loss, OriginalMSEL1L2Loss
from ncf_helpers.models import MLP
from ncf_helpers.original_reference import (
    ORIGINAL_SETTINGS,
    OriginalBookDataset,
    OriginalBookModel,
    OriginalMLP,
    original_holdout,
    original_scheduler,
    original_train_loop,
)
from ncf_helpers.training import TrainConfig, fit
from ncf_helpers.utils import seed_everything

CONFIG = {"num_users": 1000, "num_items": 1000, "latent_dim": 8, "layers": [16, 8]}


def frame(n=400, n_users=30, n_items=60, seed=0):
    rng = np.random.default_rng(seed)
    pairs = rng.choice(n_users * n_items, size=n, replace=False)
    return pd.DataFrame({"userId": pairs // n_items + 1, "movieId": pairs % n_items + 1,
                         "rating": rng.integers(1, 6, n).astype(float)})


def float_ids(*columns):
    return [torch.tensor(np.asarray(c), dtype=torch.float32) for c in columns]


def test_settings_are_the_final_runs_and_the_batch_size_setting_is_not_the_one_used():
    s = ORIGINAL_SETTINGS
    assert (s["batch_size_setting"], s["batch_size"]) == (256, 32)
    assert s["layers"][0] == 2 * s["latent_dim"] and s["epochs"] == 10
    assert s["negative_samples_ratio"] == 0.0 and s["l1_weight"] == s["l2_weight"] == 0.0
    assert s["scheduler_kwargs"] == {"patience": 10, "verbose": True, "min_lr": 1e-7}


def test_holdout_is_a_fraction_of_rows_and_unseeded_unless_given_a_state():
    data = frame()
    train, test = original_holdout(data, 0.1, random_state=1)
    assert len(test) == 40 and len(train) == 360
    assert set(train.index).isdisjoint(test.index)
    assert sorted(train.index.union(test.index)) == list(data.index)
    again = original_holdout(data, 0.1, random_state=1)[1]
    other = original_holdout(data, 0.1, random_state=2)[1]
    assert test.index.equals(again.index) and not test.index.equals(other.index)
    # random_state=None draws from NumPy's global generator, as the original's df.sample did
    seed_everything(5)
    first = original_holdout(data, 0.1)[1]
    second = original_holdout(data, 0.1)[1]
    seed_everything(5)
    assert original_holdout(data, 0.1)[1].index.equals(first.index)
    assert not first.index.equals(second.index)
    with pytest.raises(ValueError, match="holdout_fraction"):
        original_holdout(data, 1.5)


@pytest.mark.parametrize("build", [lambda: OriginalMLP(CONFIG),
                                   lambda: OriginalBookModel(embedding_dim=8,
                                                             cf_layer_neurons=(16,))])
def test_models_take_float_ids_and_return_b_by_1_through_a_relu(build):
    torch.manual_seed(0)
    model = build()
    assert model.user_embedding.num_embeddings == model.item_embedding.num_embeddings == 1000
    weights = torch.cat([model.user_embedding.weight, model.item_embedding.weight]).detach()
    assert abs(weights.std().item() - 1.0) < 0.05     # torch's N(0, 1), not the package's
    users, items = float_ids(np.arange(50), np.arange(50) + 500)
    out = model(users, items)
    assert out.shape == (50, 1) and (out >= 0).all()
    with pytest.raises(IndexError):                    # a raw id from 1000 up
        model(*float_ids([1000], [1]))


def test_original_mlp_is_the_package_mlp_with_a_relu_head():
    torch.manual_seed(0)
    original = OriginalMLP(CONFIG)
    package = MLP(CONFIG, head="relu")
    package.load_state_dict(original.state_dict(), strict=True)
    users, items = float_ids(np.arange(64), np.arange(64) * 3)
    with torch.no_grad():
        assert torch.equal(original(users, items).squeeze(-1),
                           package(users.long(), items.long()))


def test_original_loss_on_the_original_model_is_the_b_by_b_mean():
    torch.manual_seed(0)
    model = OriginalMLP(CONFIG)
    users, items = float_ids(np.arange(16), np.arange(16))
    ratings = torch.arange(16, dtype=torch.float32) % 5 + 1
    pred = model(users, items)
    every_pair = ((pred - ratings.unsqueeze(0)) ** 2).mean()
    assert torch.allclose(OriginalMSEL1L2Loss(model)(pred, ratings), every_pair)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert torch.allclose(F.mse_loss(pred, ratings), every_pair)
    # an exact prediction scores twice the variance: the loss prefers the batch mean
    exact = OriginalMSEL1L2Loss(model)(ratings.unsqueeze(-1), ratings)
    assert torch.allclose(exact, 2 * ratings.var(unbiased=False))
    with pytest.raises(ValueError, match="broadcast"):
        MSEL1L2Loss(model)(pred, ratings)


def test_the_engine_refuses_the_original_model_with_a_correct_loss():
    model = OriginalMLP(CONFIG)
    train = (np.arange(20), np.arange(20), np.full(20, 4.0, dtype=np.float32))
    with pytest.raises((ValueError, TypeError)):
        fit(model, train, TrainConfig(epochs=1, batch_size=8, loss="mse", progress=False))


def test_the_original_scheduler_call_fails_today_and_ours_keeps_its_settings():
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=0.005)
    with pytest.raises(TypeError, match="verbose"):
        torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer,
                                                   **ORIGINAL_SETTINGS["scheduler_kwargs"])
    scheduler = original_scheduler(optimizer)
    assert scheduler.patience == 10 and scheduler.min_lrs == [1e-7]
    assert original_scheduler(optimizer, patience=0).patience == 0


class RecordingScheduler:
    def __init__(self):
        self.seen = []

    def step(self, value):
        self.seen.append(value)


def test_loop_steps_the_scheduler_with_the_test_loss():
    seed_everything(0)
    data = frame(n=96)
    train, test = data.iloc[:64], data.iloc[64:]
    loaders = [torch.utils.data.DataLoader(OriginalBookDataset(part, np.arange(1, 61), 0.0),
                                           batch_size=32, shuffle=True) for part in (train, test)]
    model = OriginalMLP(CONFIG)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.005)
    scheduler = RecordingScheduler()
    history = original_train_loop(model, OriginalMSEL1L2Loss(model), optimizer, scheduler,
                                  *loaders, epochs=3)
    assert list(history.columns) == ["train_loss", "test_loss", "lr"]
    assert list(history.index) == [1, 2, 3]
    assert scheduler.seen == history["test_loss"].tolist()
    assert (history["lr"] == 0.005).all()
    # the test loss of the first epoch is the mean of the batch losses of the test loader
    plateau = original_scheduler(torch.optim.Adam(model.parameters(), lr=0.005))
    history = original_train_loop(model, OriginalMSEL1L2Loss(model), plateau.optimizer,
                                  plateau, *loaders, epochs=2)
    assert plateau.best == history["test_loss"].min()


def test_max_draws_ends_the_endless_loop_and_default_draws_genuine_negatives():
    rated_all = pd.DataFrame({"userId": [7, 7, 7], "movieId": [1, 2, 3],
                              "rating": [4.0, 5.0, 3.0]})
    stuck = OriginalBookDataset(rated_all, [1, 2, 3], negative_samples_ratio=1.0, max_draws=50)
    with pytest.raises(RuntimeError, match="50 draws.*user 7"):
        stuck[0]
    seed_everything(0)
    some_left = OriginalBookDataset(rated_all, [1, 2, 3, 4], negative_samples_ratio=1.0,
                                    max_draws=10_000)
    user, movie, rating = some_left[1]
    assert (user.item(), movie.item(), rating.item()) == (7.0, 4.0, 0.0)
