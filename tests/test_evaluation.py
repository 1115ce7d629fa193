import dataclasses

import numpy as np
import pandas as pd
import pytest

from ncf_helpers import evaluation
from ncf_helpers.baselines import BiasBaseline, GlobalMean, Popularity
from ncf_helpers.encoding import IdEncoder
from ncf_helpers.evaluation import (
    FullRankingProtocol,
    RankingProtocol,
    RatingProtocol,
    Result,
    metric_ranks,
    pca_2d,
    primary_genre,
    refit_and_score,
    results_table,
    score_baseline,
    seed_summary,
    top_rated,
    train_and_score,
)
from ncf_helpers.metrics import full_ranking_metrics
from ncf_helpers.models import GMF, BiasedMF
from ncf_helpers.prepare import PreparedSplit
from ncf_helpers.training import TrainConfig

FAST = TrainConfig(epochs=2, batch_size=128, device="cpu", progress=False)


def _toy_split(n_users=30, n_items=120, per_user=12, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        items = rng.choice(n_items, size=per_user, replace=False)
        for t, i in enumerate(items):
            rows.append((u, int(i), float(1 + (u + i) % 5), t))
    ratings = pd.DataFrame(rows, columns=["userId", "movieId", "rating", "timestamp"])
    last = ratings.groupby("userId")["timestamp"].transform("max")
    test = ratings[ratings["timestamp"] == last]
    val = ratings[ratings["timestamp"] == last - 1]
    train = ratings[ratings["timestamp"] < last - 1]
    movies = pd.DataFrame({"title": [f"m{i}" for i in range(n_items)],
                           "genres": ["Drama|Comedy" if i % 2 else "Action"
                                      for i in range(n_items)]})
    return PreparedSplit(train, val, test, IdEncoder().fit(ratings), movies)


@pytest.fixture(scope="module")
def rating():
    return RatingProtocol(_toy_split())


@pytest.fixture(scope="module")
def ranking():
    return RankingProtocol(_toy_split(), n_sampled=20, seed=3)


def rmse_of(model, part):
    users, items, ratings = part
    return np.sqrt(np.mean((model.predict(users, items) - ratings) ** 2))


# --- rating protocol ----------------------------------------------------------------
def test_rating_protocol_scores_and_table(rating):
    three = lambda u, i: np.full(len(u), 3.0)  # noqa: E731
    assert rating.evaluate(three, "val") == pytest.approx({
        "rmse": np.sqrt(np.mean((rating.val[2] - 3.0) ** 2)),
        "mae": np.mean(np.abs(rating.val[2] - 3.0))})
    mean = GlobalMean(rating.n_users, rating.n_items).fit(rating.train)
    base = score_baseline("mean", mean, rating)
    assert base.history is None and base.model is mean and set(base.test) == {"rmse", "mae"}
    assert base.test["rmse"] == pytest.approx(rmse_of(mean, rating.test))
    worse = score_baseline("five", lambda u, i: np.full(len(u), 5.0), rating)
    assert worse.model is None
    table = results_table([worse, base], sort_by="test_rmse")
    assert list(table.index) == ["mean", "five"]
    assert list(table.columns) == ["test_rmse", "test_mae", "val_rmse", "val_mae",
                                   "best_epoch", "seconds"]
    with pytest.raises(ValueError, match="sort_by must be one of"):
        results_table([base], sort_by="rmse")
    with pytest.raises(ValueError, match="Result objects"):
        results_table([])
    with pytest.raises(ValueError, match="part must be one of"):
        rating.evaluate(mean.predict, "train")
    with pytest.raises(TypeError, match="PreparedSplit"):
        RatingProtocol(rating.train)
    with pytest.raises(TypeError, match="fitted must be callable"):
        score_baseline("nothing", None, rating)


def test_train_and_score_uses_validation_and_scores_the_kept_weights(rating):
    result = train_and_score("mf", lambda: BiasedMF(rating.n_users, rating.n_items, 4), rating,
                             dataclasses.replace(FAST, l2=0.01, epochs=3, batch_size=64))
    assert isinstance(result, Result) and 1 <= result.best_epoch <= 3
    assert result.history.loc[result.best_epoch, "val_rmse"] == pytest.approx(result.val["rmse"])
    assert result.test["rmse"] == pytest.approx(rmse_of(result.model, rating.test))
    assert result.seed == FAST.seed
    assert result.row() == {"test_rmse": result.test["rmse"], "test_mae": result.test["mae"],
                            "val_rmse": result.val["rmse"], "val_mae": result.val["mae"],
                            "best_epoch": result.best_epoch, "seconds": result.seconds}


def test_train_and_score_seeds_the_initial_weights(rating):
    make = lambda: GMF(rating.n_users, rating.n_items, 4)  # noqa: E731
    runs = [train_and_score("gmf", make, rating, dataclasses.replace(FAST, seed=s))
            for s in (0, 0, 1)]
    assert runs[0].test == runs[1].test and runs[0].test != runs[2].test
    summary = seed_summary(runs, "test_rmse")
    assert summary.loc["gmf", "n"] == 3 and summary.loc["gmf", "std"] > 0
    with pytest.raises(ValueError, match="column must be one of"):
        seed_summary(runs, "test RMSE")


def test_train_and_score_fits_a_baseline_the_same_way(rating):
    result = train_and_score("bias", lambda: BiasBaseline(rating.n_users, rating.n_items),
                             rating)
    assert result.history is None and result.best_epoch is None
    fitted = BiasBaseline(rating.n_users, rating.n_items).fit(rating.train)
    assert result.test == score_baseline("bias", fitted, rating).test


def test_train_and_score_rejects_bad_arguments(rating):
    model = GMF(rating.n_users, rating.n_items, 4)
    with pytest.raises(TypeError, match="make_model must be a function, got a GMF model.*lambda"):
        train_and_score("gmf", model, rating)
    with pytest.raises(TypeError, match="make_model must be a function, got a GlobalMean"):
        train_and_score("mean", GlobalMean(3, 3), rating)
    with pytest.raises(TypeError, match="make_model must be callable"):
        train_and_score("gmf", "GMF", rating)
    with pytest.raises(TypeError, match="make_model\\(\\) must be a Recommender, got str"):
        train_and_score("gmf", lambda: "GMF", rating)
    with pytest.raises(TypeError, match="RatingProtocol or RankingProtocol"):
        train_and_score("gmf", lambda: model, rating.train)
    with pytest.raises(TypeError, match="config must be a TrainConfig, got dict"):
        train_and_score("gmf", lambda: model, rating, {"epochs": 1})
    with pytest.raises(ValueError, match="name must be a non-empty string"):
        train_and_score("", lambda: model, rating)


def test_an_empty_validation_or_test_part_is_named():
    split = _toy_split()
    for part in ("val", "test"):
        parts = {"train": split.train, "val": split.val, "test": split.test}
        parts[part] = parts[part].iloc[:0]
        empty = PreparedSplit(**parts, encoder=split.encoder, movies=split.movies)
        for protocol in (RatingProtocol, RankingProtocol):
            with pytest.raises(ValueError, match=rf"the {part} part of the split is empty; a "
                                                 r"protocol scores models on it"):
                protocol(empty)


# --- the protocols' negatives ---------------------------------------------------------
def test_each_protocol_fills_in_its_negatives(rating, ranking):
    assert rating.config().negatives == 0 and ranking.config().negatives == 4
    assert ranking.config(FAST).epochs == FAST.epochs and FAST.negatives is None
    explicit = dataclasses.replace(FAST, negatives=1.5)
    assert ranking.config(explicit).negatives == 1.5 and rating.config(explicit).negatives == 1.5


# --- ranking protocol ---------------------------------------------------------------
def test_ranking_protocol_candidates(ranking):
    assert ranking.test_candidates.shape == ranking.val_candidates.shape == (30, 21)
    np.testing.assert_array_equal(ranking.test_candidates[:, 0], ranking.test[1])
    np.testing.assert_array_equal(ranking.val_candidates[:, 0], ranking.val[1])
    train = set(zip(ranking.train[0].tolist(), ranking.train[1].tolist()))
    known = train | set(zip(ranking.val[0].tolist(), ranking.val[1].tolist()))
    # test negatives avoid train and validation items, validation negatives avoid train
    for u, row in zip(ranking.test[0], ranking.test_candidates[:, 1:]):
        assert not any((u, i) in known for i in row.tolist())
    for u, row in zip(ranking.val[0], ranking.val_candidates[:, 1:]):
        assert not any((u, i) in train for i in row.tolist())
    again = RankingProtocol(_toy_split(), n_sampled=20, seed=3)
    np.testing.assert_array_equal(again.test_candidates, ranking.test_candidates)
    other = RankingProtocol(_toy_split(), n_sampled=20, seed=4)
    assert not np.array_equal(other.test_candidates, ranking.test_candidates)


def test_ranking_protocol_scores_a_baseline(ranking):
    pop = Popularity(ranking.n_users, ranking.n_items).fit(ranking.train)
    result = score_baseline("popularity", pop, ranking)
    assert set(result.test) == {"sampled_hr", "sampled_ndcg", "full_hr", "full_ndcg"}
    assert all(0 <= v <= 1 for v in [*result.test.values(), *result.val.values()])
    known = (np.r_[ranking.train[0], ranking.val[0]], np.r_[ranking.train[1], ranking.val[1]])
    full = full_ranking_metrics(pop.predict, *ranking.test[:2], *known, ranking.n_items)
    assert result.test["full_hr"] == full["hr"] and result.test["full_ndcg"] == full["ndcg"]


def test_ranking_protocol_trains_and_keeps_the_best_sampled_hr(ranking):
    run = train_and_score("gmf", lambda: GMF(30, 120, 4, head="logits"), ranking, FAST)
    assert "val_sampled_hr" in run.history.columns
    assert run.history.loc[run.best_epoch, "val_sampled_hr"] == pytest.approx(
        run.val["sampled_hr"])


def test_ranking_protocol_refuses_a_model_whose_outputs_are_not_logits(ranking):
    with pytest.raises(ValueError, match="head='logits'"):
        train_and_score("gmf", lambda: GMF(30, 120, 4), ranking, FAST)


def test_ranking_protocol_refuses_a_k_that_every_list_meets():
    with pytest.raises(ValueError, match=r"k=21 is not smaller than the 21 candidates"):
        RankingProtocol(_toy_split(), n_sampled=20, k=21)
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        RankingProtocol(_toy_split(), n_sampled=20, k=0)
    assert RankingProtocol(_toy_split(), n_sampled=20, k=20).k == 20


def test_metric_ranks():
    table = pd.DataFrame({"x": [0.1, 0.3, 0.2], "y": [0.3, 0.2, 0.1]}, index=list("abc"))
    ranks = metric_ranks(table, ["x", "y"])
    assert ranks["x"].tolist() == [3, 1, 2] and ranks["y"].tolist() == [1, 2, 3]
    with pytest.raises(ValueError):
        metric_ranks(table, ["z"])


def test_pca_2d_recovers_main_axis():
    rng = np.random.default_rng(0)
    x = np.outer(rng.normal(size=200), [3.0, 4.0, 0.0]) + 0.01 * rng.normal(size=(200, 3))
    coords, explained = pca_2d(x)
    assert coords.shape == (200, 2)
    assert explained[0] > 0.99 and explained.sum() <= 1 + 1e-12
    np.testing.assert_allclose(np.abs(coords[:, 0]), np.abs(x - x.mean(0)) @ [0.6, 0.8, 0],
                               atol=0.05)
    with pytest.raises(ValueError):
        pca_2d(np.ones(5))
    with pytest.raises(ValueError):
        pca_2d([[np.nan, 1.0], [1.0, 2.0]])


def test_primary_genre_and_top_rated():
    movies = pd.DataFrame({"title": ["a", "b", "c"],
                           "genres": ["Comedy|Drama", "Drama", None]}, index=[1, 2, 3])
    assert primary_genre(movies).tolist() == ["Comedy", "Drama", "unknown"]
    assert primary_genre(movies, order=["Drama"]).tolist() == ["Drama", "Drama", "other"]
    ratings = pd.DataFrame({"userId": [7, 7, 7], "movieId": [1, 2, 3],
                            "rating": [4.0, 5.0, 4.0], "timestamp": [1, 2, 3]})
    top = top_rated(ratings, movies, 7, n=2)
    assert top["title"].tolist() == ["b", "c"]
    with pytest.raises(KeyError):
        top_rated(ratings, movies, 99)


# --- refit on train + validation, early stopping on full HR ---------------------------
@pytest.fixture
def fit_calls(monkeypatch):
    """Records what the protocols hand to the engine: (train arrays, config, val_metric)."""
    calls = []

    def recording_fit(model, train, config=None, val_metric=None, loss=None):
        calls.append((train, config, val_metric))
        return real_fit(model, train, config, val_metric, loss)

    real_fit = evaluation.fit
    monkeypatch.setattr(evaluation, "fit", recording_fit)
    return calls


def test_refit_trains_on_train_and_validation_for_the_given_epochs(rating, fit_calls):
    make = lambda: BiasedMF(rating.n_users, rating.n_items, 4)  # noqa: E731
    config = dataclasses.replace(FAST, epochs=3, batch_size=64)
    result = refit_and_score("mf", make, rating, config)
    assert result.best_epoch == 3 and len(result.history) == 3 and result.val == {}
    assert list(result.history.columns) == ["train_loss", "lr", "samples", "train_seconds",
                                            "seconds"]
    (train, used, val_metric), = fit_calls
    assert val_metric is None and used.epochs == 3 and used.negatives == 0
    for got, a, b in zip(train, rating.train, rating.val):
        np.testing.assert_array_equal(got, np.r_[a, b])
    assert (result.history["samples"] == len(rating.train[0]) + len(rating.val[0])).all()
    assert result.test["rmse"] == pytest.approx(rmse_of(result.model, rating.test))
    again = refit_and_score("mf", make, rating, config)
    other = refit_and_score("mf", make, rating, dataclasses.replace(config, seed=1))
    assert again.test == result.test and again.test != other.test


def test_refit_ranking_positives_are_train_and_validation_items(ranking, fit_calls):
    result = refit_and_score("gmf", lambda: GMF(30, 120, 4, head="logits"), ranking,
                             dataclasses.replace(FAST, epochs=1))
    (train, used, _), = fit_calls
    np.testing.assert_array_equal(train[0], np.r_[ranking.train[0], ranking.val[0]])
    np.testing.assert_array_equal(train[1], np.r_[ranking.train[1], ranking.val[1]])
    assert (train[2] == 1).all()  # every rating is a positive
    assert used.negatives == 4  # four fresh negatives per positive by default
    assert result.history["samples"].iloc[0] == 5 * len(train[0])
    assert set(result.test) == {"sampled_hr", "sampled_ndcg", "full_hr", "full_ndcg"}


def test_full_ranking_protocol_stops_on_full_hit_rate(fit_calls):
    protocol = FullRankingProtocol(_toy_split(), n_sampled=20, seed=3)
    assert isinstance(protocol, RankingProtocol)
    run = train_and_score("gmf", lambda: GMF(30, 120, 4, head="logits"), protocol,
                          dataclasses.replace(FAST, epochs=3))
    assert fit_calls[0][2].name == "full_hr"
    full = full_ranking_metrics(run.model.predict, *protocol.val[:2], *protocol.train[:2],
                                protocol.n_items)["hr"]
    assert run.history.loc[run.best_epoch, "val_full_hr"] == pytest.approx(full)
    assert run.val["full_hr"] == pytest.approx(full)
