"""experiments.tune: seeded studies on validation, stored with their best configs."""
import json

import numpy as np
import optuna
import pandas as pd
import pytest

from experiments import contenders, tune

pytest.importorskip("surprise")


def test_quick_study_stores_best_trials_and_importances(tmp_path):
    args = ["--quick", "--task", "rating", "--models", "BiasedMF", "BaselineOnly",
            "--trials", "4", "--out", str(tmp_path)]
    tune.main(args)
    tuned = json.loads((tmp_path / "tuned_rating.json").read_text())
    trials = pd.read_csv(tmp_path / "tune_trials_rating.csv")
    assert set(tuned) == {"BiasedMF", "BaselineOnly", "_command"}
    assert "python -m experiments.tune" in tuned["_command"]
    for name in ("BiasedMF", "BaselineOnly"):
        entry = tuned[name]
        mine = trials[trials["model"] == name]
        assert len(mine) == 4 and entry["n_trials"] == 4
        # RMSE: lower is better (the CSV keeps 6 significant digits)
        assert entry["value"] == pytest.approx(mine["value"].min(), rel=1e-5)
        assert entry["metric"] == "val RMSE"
        # the stored params rebuild the stored config (compare.py trusts this)
        rebuilt = tune.quick_config("rating", name, contenders.config_from_params(
            "rating", name, entry["params"]))
        assert rebuilt == entry["config"]
    assert tuned["BiasedMF"]["best_epoch"] >= 1
    importances = pd.read_csv(tmp_path / "tune_importances_rating.csv")
    assert set(importances["model"]) == {"BiasedMF", "BaselineOnly"}
    # the sampler is seeded: a second run proposes the same trials and replaces the rows
    tune.main(args)
    again = pd.read_csv(tmp_path / "tune_trials_rating.csv")
    assert len(again) == 8
    pd.testing.assert_series_equal(again["params"], trials["params"])


def test_draw_check_retrains_the_best_configurations_on_another_draw(tmp_path):
    tune.main(["--quick", "--task", "rating", "--models", "BiasedMF", "GMF", "BaselineOnly",
               "--trials", "3", "--out", str(tmp_path), "--draw-check"])
    draws = pd.read_csv(tmp_path / "tune_draws_rating.csv")
    trials = pd.read_csv(tmp_path / "tune_trials_rating.csv")
    tuned = json.loads((tmp_path / "tuned_rating.json").read_text())
    best_ours = min(("BiasedMF", "GMF"), key=lambda n: tuned[n]["value"])
    assert set(draws["model"]) == {best_ours, "BaselineOnly"}
    for name, rows in draws.groupby("model"):
        assert list(rows["rank A"]) == [1, 2]
        mine = trials[trials["model"] == name].sort_values("value")
        np.testing.assert_allclose(rows["value A"], mine["value"].head(2))
        assert sorted(rows["rank B"]) in ([1, 2], [1, 1])
        assert not np.allclose(rows["value B"], rows["value A"])  # another draw
    assert {"cpu seconds", "best epoch B"} <= set(draws.columns)


def test_every_search_space_builds_a_config_run_accepts():
    for task in contenders.TASKS:
        for name in contenders.models(task):
            study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
            trial = study.ask()
            config = contenders.suggest(task, name, trial)
            assert config == contenders.config_from_params(task, name, trial.params)
            default = contenders.default_config(task, name)
            assert set(default) == set(config) or task == "ranking"  # loss-specific keys
    with pytest.raises(ValueError, match="not a rating contender"):
        contenders.suggest("rating", "ALS", study.ask())


@pytest.mark.parametrize("argv, message", [
    (["--models", "Foo", "--quick"], "unknown model(s) 'Foo'; choose from ALS,"),
    (["--trials", "0", "--quick"], "--trials must be at least 1, got 0"),
])
def test_tune_refuses_bad_arguments_before_any_work(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        tune.main([*argv, "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()   # nothing written


def test_compare_refuses_an_unknown_model_before_any_work(tmp_path, capsys):
    from experiments import compare

    with pytest.raises(SystemExit) as exit_info:
        compare.main(["--models", "GMF", "Foo", "--quick", "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2 and "unknown model(s) 'Foo'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
