"""experiments.compare and the peers of experiments.contenders, on small data."""
import json

import numpy as np
import pandas as pd
import pytest

from experiments import compare, contenders, ensemble, neumf_check
from ncf_helpers.baselines import BiasBaseline
from ncf_helpers.evaluation import RatingProtocol
from ncf_helpers.prepare import original_split

pytest.importorskip("surprise")
pytest.importorskip("implicit")


def test_surprise_baseline_only_is_our_bias_baseline():
    # Surprise's ALS baselines and BiasBaseline solve the same ridge problem with the
    # same alternating updates: equal predictions prove the ids are passed through.
    protocol = RatingProtocol(original_split(0, max_id=150))
    users, items, ratings = protocol.train
    config = {"reg_u": 15.0, "reg_i": 10.0, "n_epochs": 10}
    peer = contenders.surprise_scorer("BaselineOnly", config, users, items, ratings)
    ours = BiasBaseline(protocol.n_users, protocol.n_items, reg_user=15.0, reg_item=10.0,
                        n_iters=10, rating_range=(1, 5)).fit((users, items, ratings))
    test_users, test_items, _ = protocol.test
    np.testing.assert_allclose(peer(test_users, test_items), ours.predict(test_users, test_items),
                               atol=1e-9)


@pytest.mark.parametrize("task", contenders.TASKS)
def test_stored_configs_train_as_their_params_say(task):
    # compare.py trains the stored config; its params (what Optuna recorded) must give
    # the same TrainConfig and the same model, old names (l2_weight, ...) or new.
    stored = json.loads((compare.RESULTS / f"tuned_{task}.json").read_text())
    ours = [name for name in contenders.OURS if name in stored]
    assert ours  # the stored study covers our models
    for name in ours:
        entry = stored[name]
        rebuilt = contenders.config_from_params(task, name, entry["params"])
        assert contenders.upgrade(entry["config"]) == contenders.upgrade(rebuilt)
        old = contenders.train_config(task, entry["config"], seed=1, epochs=3)
        assert old == contenders.train_config(task, rebuilt, seed=1, epochs=3)
        assert old.l2 == pytest.approx(entry["params"]["l2_weight"])
        if task == "ranking":
            assert old.loss == entry["params"]["loss"]


def test_upgrade_renames_old_keys_and_loss_classes():
    assert contenders.upgrade({"l2_weight": 0.1, "negative_samples_ratio": 4,
                               "loss_fn": "SampledSoftmaxLoss", "lr": 0.01}) == \
        {"l2": 0.1, "negatives": 4, "loss": "softmax", "lr": 0.01}
    with pytest.raises(ValueError, match="sets 'negatives' twice"):
        contenders.upgrade({"n_negatives": 4, "negatives": 5})


def test_implicit_scorer_learns_block_structure():
    # users 0-19 interact with items 0-19, users 20-39 with items 20-39
    users = np.repeat(np.arange(40), 12)
    rng = np.random.default_rng(0)
    items = np.concatenate([(u // 20) * 20 + rng.choice(20, 12, replace=False)
                            for u in range(40)])
    for name, config in [("ALS", {"factors": 4, "regularization": 0.01, "alpha": 1.0,
                                  "iterations": 10}),
                         ("BPR", {"factors": 4, "learning_rate": 0.05, "regularization": 0.001,
                                  "iterations": 200})]:
        score = contenders.implicit_scorer(name, config, users, items, 40, 40, seed=0)
        same = score(users, items)
        other = score(users, (items + 20) % 40)
        assert np.mean(same > other) > 0.9, name
        again = contenders.implicit_scorer(name, config, users, items, 40, 40, seed=0)
        np.testing.assert_array_equal(again(users, items), same)  # one thread: reproducible


def test_summary_and_paired_gap_by_hand():
    runs = pd.DataFrame({
        "model": ["NeuMF", "SVD"] * 3, "family": ["NCF family", "surprise"] * 3,
        "trained on": ["train"] * 6, "split": [1, 1, 2, 2, 3, 3],
        "RMSE": [0.90, 0.92, 0.91, 0.92, 0.89, 0.93], "MAE": [0.7] * 6, "seconds": [1.0] * 6})
    table = compare.summarize(runs, "rating")
    assert list(table["model"]) == ["NeuMF", "SVD"]
    assert table.loc[0, "RMSE mean"] == pytest.approx(0.90)
    assert table.loc[0, "RMSE std"] == pytest.approx(0.01)
    assert table.loc[0, "n"] == 3
    mean, std, wins, n = compare.paired_gap(runs, "rating", "NeuMF", "SVD", "train")
    assert mean == pytest.approx(-0.07 / 3) and (wins, n) == (3, 3)
    assert std == pytest.approx(np.std([-0.02, -0.01, -0.04], ddof=1))
    lines = compare.verdicts(runs, table, "rating")
    assert "NeuMF better on 3 of 3" in lines[0] and "larger than" in lines[0]


def test_quick_comparison_writes_the_tables(tmp_path, monkeypatch):
    real_missing = contenders.missing
    monkeypatch.setattr(contenders, "missing",
                        lambda name: "BPR skipped: test" if name == "BPR" else real_missing(name))
    compare.main(["--quick", "--models", "BiasedMF", "GMF", "BaselineOnly", "ALS", "BPR",
                  "--out", str(tmp_path)])
    rating = pd.read_csv(tmp_path / "compare_rating.csv")
    ranking = pd.read_csv(tmp_path / "compare_ranking.csv")
    runs = pd.read_csv(tmp_path / "compare_rating_runs.csv")
    assert set(rating["model"]) == {"BiasedMF", "GMF", "BaselineOnly", contenders.ENSEMBLE}
    assert set(ranking["model"]) == {"BiasedMF", "GMF", "ALS", contenders.ENSEMBLE}
    assert set(rating["trained on"]) == {"train", "train + validation"}
    assert (rating["n"] == 2).all() and (ranking["n"] == 2).all()
    assert {"RMSE mean", "RMSE std", "MAE mean"} <= set(rating.columns)
    assert {"sampled HR mean", "full HR std", "full NDCG mean"} <= set(ranking.columns)
    assert rating["RMSE mean"].between(0.5, 2).all()
    assert runs.groupby(["model", "trained on"]).size().eq(2).all()
    # the refit is scored on test only; our model's refit uses the epochs found on validation
    refit = runs[runs["trained on"] == "train + validation"]
    assert refit["val RMSE"].isna().all()
    ours = runs[runs["model"] == "BiasedMF"].set_index(["split", "trained on"])["epochs"]
    assert (ours.xs("train", level=1) == ours.xs("train + validation", level=1)).all()
    assert (runs.loc[runs["model"] == "BiasedMF", "cap"].dropna() == 2).all()
    # the ensemble's weights were chosen on validation, per split, for both tasks
    weights = pd.read_csv(tmp_path / "compare_ensemble_weights.csv")
    members = weights[weights["member"] != "(intercept)"]
    assert set(members["member"]) == {"BiasedMF", "GMF"}
    assert (members["weight"] >= 0).all() and set(weights["task"]) == {"rating", "ranking"}
    sums = members[members["task"] == "ranking"].groupby("split")["weight"].sum()
    np.testing.assert_allclose(sums, 1.0)
    blended = runs[runs["model"] == contenders.ENSEMBLE]
    assert set(blended["trained on"]) == {"train", "train + validation"}
    report = (tmp_path / "compare.md").read_text()
    assert "python -m experiments.compare --quick" in report
    assert "| model | family | trained on | RMSE |" in report
    assert "BPR skipped: test" in report and "best peer ALS" in report
    objectives = pd.read_csv(tmp_path / "compare_objectives.csv")
    assert list(objectives["objective"].sort_values()) == sorted(compare.OBJECTIVES)
    assert (objectives["n"] == 2).all() and objectives["full HR mean"].between(0, 1).all()
    assert "### Ranking objectives, head to head" in report
    if contenders.missing("Cornac NeuMF") is None:  # the NeuMF check, with its paired lines
        neumf = pd.read_csv(tmp_path / "compare_neumf_runs.csv")
        assert set(neumf["variant"]) == set(neumf_check.VARIANTS) and len(neumf) == 6
        assert "## Our NeuMF against Cornac's NeuMF" in report
        assert "ours, Cornac's init minus Cornac, test full HR, same seed" in report
    assert "target mean test RMSE <= 0.89" in report
    assert "early stopping ended" in report
    # --task report trains nothing: it rebuilds compare.md from the stored runs
    (tmp_path / "compare.md").unlink()
    stored = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.csv")}
    compare.main(["--task", "report", "--out", str(tmp_path)])
    rebuilt = (tmp_path / "compare.md").read_text()
    assert "rebuilt from the stored runs" in rebuilt
    assert "| model | family | trained on | RMSE |" in rebuilt and "## Ranking" in rebuilt
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.csv")} == stored


def test_rating_blend_recovers_a_known_blend():
    rng = np.random.default_rng(0)
    preds = rng.normal(3.5, 0.5, size=(500, 3))
    ratings = 0.2 + 0.5 * preds[:, 0] + 0.45 * preds[:, 2]
    intercept, weights = ensemble.rating_weights(preds, ratings)
    assert intercept == pytest.approx(0.2, abs=1e-6)
    np.testing.assert_allclose(weights, [0.5, 0.0, 0.45], atol=1e-6)
    # a member that only hurts gets weight 0, never a negative one
    _, weights = ensemble.rating_weights(np.column_stack([preds[:, 0], -preds[:, 0]]),
                                         preds[:, 0])
    assert (weights >= 0).all()
    assert ensemble.rating_blend([[10.0, 10.0]], 0.0, np.array([1.0, 1.0]))[0] == 5.0


def test_ranking_selection_adds_a_member_only_when_validation_improves():
    good, bad = np.array([[3.0, 2.0, 1.0]]), np.array([[1.0, 2.0, 3.0]])
    # validation: item 0 is the held-out one; the score is its margin over the others
    value = lambda m: float(m[0, 0] - m[0, 1:].max())  # noqa: E731
    weights = ensemble.ranking_weights([bad, good], value)
    np.testing.assert_array_equal(weights, [0.0, 1.0])
    z = ensemble.standardized(np.array([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]]))
    np.testing.assert_allclose(z.mean(axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(z[1], 0.0)


def test_load_configs_prefers_the_study(tmp_path):
    tuned = {"SVD": {"config": {"n_factors": 7, "n_epochs": 3, "lr_all": 0.01,
                                "reg_all": 0.1}, "n_trials": 5}}
    (tmp_path / "tuned_rating.json").write_text(json.dumps(tuned))
    configs = compare.load_configs(tmp_path)
    assert configs["rating"]["SVD"] == (tuned["SVD"]["config"], "study, 5 trials")
    assert configs["rating"]["NeuMF"] == (contenders.default_config("rating", "NeuMF"),
                                          "default")
    assert compare.load_configs(tmp_path, quick=True)["rating"]["SVD"][1] == "default"


def test_implicit_scorer_keeps_blas_warnings_off_stderr(monkeypatch):
    # implicit's models warn (on stderr, into a notebook's output) when they are built while
    # OpenBLAS may use several threads, as OMP_NUM_THREADS=2 or a laptop's default allows.
    import warnings

    import implicit.utils
    from threadpoolctl import threadpool_info, threadpool_limits

    with threadpool_limits(2, "blas"):
        if all(api["num_threads"] == 1 for api in threadpool_info() if api["user_api"] == "blas"):
            pytest.skip("BLAS runs on one thread here whatever is asked")
        monkeypatch.setattr(implicit.utils, "_checked_blas_config", False)  # it warns once
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            contenders.implicit_scorer("ALS", {"factors": 2, "iterations": 1},
                                       np.arange(4), np.arange(4), 4, 4)
