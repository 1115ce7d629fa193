import numpy as np
import pandas as pd
import pytest
import torch

from ncf_helpers.experiments import (Experiment, results_table, run_experiment,
                                     sampled_auc_metric)
from ncf_helpers.models import GMF


class TinySplit:
    """Duck-typed PreparedSplit: ratings driven by a user and an item effect."""

    def __init__(self, n_users=20, n_items=15, seed=0):
        rng = np.random.default_rng(seed)
        keys = rng.choice(n_users * n_items, size=240, replace=False)
        users, items = keys // n_items, keys % n_items
        ratings = np.clip(3 + (users % 3) - (items % 2), 1, 5).astype(np.float32)
        parts = np.split(np.arange(240), [180, 210])
        self.parts = {name: (users[p], items[p], ratings[p])
                      for name, p in zip(("train", "val", "test"), parts)}
        self.n_users, self.n_items = n_users, n_items

    def arrays(self, part):
        return self.parts[part]


def test_run_experiment_scores_the_kept_weights():
    split = TinySplit()
    torch.manual_seed(0)
    result = run_experiment("gmf", GMF(split.n_users, split.n_items, 4), split,
                            epochs=3, batch_size=32, lr=1e-2, patience=None)
    assert isinstance(result, Experiment)
    assert list(result.history.index) == [1, 2, 3]
    assert result.epochs == result.history.attrs["best_epoch"]
    # fit keeps the best-validation weights, so val_rmse is that epoch's score
    assert result.val_rmse == pytest.approx(result.history["val_rmse"].min())
    assert np.isfinite(result.test_rmse)


def test_run_experiment_is_reproducible_and_validates():
    split = TinySplit()
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        runs.append(run_experiment("a", GMF(split.n_users, split.n_items, 4), split,
                                   epochs=2, batch_size=32))
    assert runs[0].test_rmse == runs[1].test_rmse
    with pytest.raises(ValueError, match="name"):
        run_experiment("", GMF(20, 15), split)
    with pytest.raises(TypeError, match="val_metric"):
        run_experiment("a", GMF(20, 15), split, val_metric=lambda m: 0.0)


def test_results_table():
    history = pd.DataFrame({"val_rmse": [1.0]}, index=pd.Index([1], name="epoch"))
    table = results_table([Experiment("x", history, 0.9, 0.95, 1)])
    assert list(table.columns) == ["val RMSE", "test RMSE", "epochs"]
    assert table.loc["x", "test RMSE"] == 0.95
    with pytest.raises(ValueError):
        results_table([])


class ScoreByItem(torch.nn.Module):
    """A fake model scoring each item by a fixed value."""

    def __init__(self, values):
        super().__init__()
        self.values = torch.nn.Parameter(torch.as_tensor(values, dtype=torch.float32))

    def forward(self, users, items):
        return self.values[items]


def test_sampled_auc_metric_bounds_and_ties():
    known_u, known_i = np.array([0, 0, 1]), np.array([0, 1, 0])
    metric = sampled_auc_metric([0, 1], [0, 0], known_u, known_i, n_items=4, seed=1)
    assert metric.__name__ == "auc"
    # item 0 (the positive) scores highest, negatives are never items 0/1 of user 0
    assert metric(ScoreByItem([9.0, 0.0, 1.0, 2.0])) == 1.0
    assert metric(ScoreByItem([-9.0, 0.0, 1.0, 2.0])) == 0.0
    assert metric(ScoreByItem([1.0, 1.0, 1.0, 1.0])) == 0.5   # ties count one half
    with pytest.raises(ValueError):
        sampled_auc_metric([], [], known_u, known_i, n_items=4)
