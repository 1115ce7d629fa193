import numpy as np
import pandas as pd
import pytest

from ncf_helpers.baselines import GlobalMean, Popularity
from ncf_helpers.encoding import IdEncoder
from ncf_helpers.evaluation import (
    RankingProtocol,
    RatingProtocol,
    Result,
    metric_ranks,
    pca_2d,
    primary_genre,
    results_table,
    score_baseline,
    seed_summary,
    top_rated,
    train_and_score,
)
from ncf_helpers.models import GMF, BiasedMF
from ncf_helpers.prepare import PreparedSplit
from ncf_helpers.training import predict


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


def test_rating_protocol_scores_and_table():
    split = _toy_split()
    protocol = RatingProtocol(split)
    assert protocol.evaluate(lambda u, i: np.full(len(u), 3.0), "val")["RMSE"] == pytest.approx(
        np.sqrt(np.mean((protocol.val[2] - 3.0) ** 2)))
    mean = GlobalMean().fit(*protocol.train, protocol.n_users, protocol.n_items)
    base = score_baseline("mean", mean, protocol)
    assert base.history is None and set(base.test) == {"RMSE", "MAE"}
    worse = score_baseline("three", lambda u, i: np.full(len(u), 5.0), protocol)
    table = results_table([worse, base], sort_by="test RMSE")
    assert list(table.index) == ["mean", "three"]
    assert {"test RMSE", "test MAE", "val RMSE", "best epoch", "seconds"} <= set(table.columns)
    with pytest.raises(ValueError, match="sort_by must be one of"):
        results_table([base], sort_by="RMSE")
    with pytest.raises(ValueError, match="Result objects"):
        results_table([])
    with pytest.raises(ValueError, match="part must be one of"):
        protocol.evaluate(mean, "train")
    with pytest.raises(TypeError, match="PreparedSplit"):
        RatingProtocol(protocol.train)


def test_train_and_score_uses_validation_and_scores_the_kept_weights():
    split = _toy_split()
    protocol = RatingProtocol(split)
    result = train_and_score("mf", lambda: BiasedMF(protocol.n_users, protocol.n_items, 4),
                             protocol, l2_weight=0.01, epochs=3, batch_size=64, progress=False)
    assert isinstance(result, Result) and 1 <= result.best_epoch <= 3
    assert result.history.loc[result.best_epoch, "val_rmse"] == pytest.approx(result.val["RMSE"])
    users, items, ratings = protocol.test
    assert result.test["RMSE"] == pytest.approx(
        np.sqrt(np.mean((predict(result.model, users, items) - ratings) ** 2)))


def test_train_and_score_seeds_the_initial_weights():
    protocol = RatingProtocol(_toy_split())
    make = lambda: GMF(protocol.n_users, protocol.n_items, 4)  # noqa: E731
    runs = [train_and_score("gmf", make, protocol, seed=s, epochs=2, progress=False)
            for s in (0, 0, 1)]
    assert runs[0].test == runs[1].test and runs[0].test != runs[2].test
    summary = seed_summary(runs, "test RMSE")
    assert summary.loc["gmf", "n"] == 3 and summary.loc["gmf", "std"] > 0


def test_train_and_score_rejects_bad_arguments():
    protocol = RatingProtocol(_toy_split())
    model = GMF(protocol.n_users, protocol.n_items, 4)
    with pytest.raises(TypeError, match="make_model must be a function, got a GMF model.*lambda"):
        train_and_score("gmf", model, protocol)
    with pytest.raises(TypeError, match="make_model must be callable"):
        train_and_score("gmf", "GMF", protocol)
    with pytest.raises(TypeError, match="RatingProtocol or RankingProtocol"):
        train_and_score("gmf", lambda: model, protocol.train)
    with pytest.raises(TypeError, match="'mode'"):
        train_and_score("gmf", lambda: model, protocol, mode="max")


def test_ranking_protocol_candidates_and_training():
    split = _toy_split()
    protocol = RankingProtocol.from_split(split, n_negatives=20, seed=3)
    assert protocol.test_candidates.shape == (30, 21)
    assert protocol.val_candidates.shape == (30, 21)
    # test negatives never include an item the user rated in train or validation
    known = set(zip(np.r_[protocol.train[0], protocol.val[0]],
                    np.r_[protocol.train[1], protocol.val[1]]))
    for u, row in zip(protocol.test[0], protocol.test_candidates[:, 1:]):
        assert not any((u, i) in known for i in row)
    again = RankingProtocol.from_split(split, n_negatives=20, seed=3)
    np.testing.assert_array_equal(again.test_candidates, protocol.test_candidates)

    pop = Popularity().fit(protocol.train[0], protocol.train[1], None, 30, 120)
    result = score_baseline("popularity", pop, protocol)
    assert set(result.test) == {"sampled HR", "sampled NDCG", "full HR", "full NDCG"}
    assert all(0 <= v <= 1 for v in [*result.test.values(), *result.val.values()])

    run = train_and_score("gmf", lambda: GMF(30, 120, 4, head="logits"), protocol, epochs=2,
                          batch_size=128, progress=False)
    assert "val_hr10" in run.history.columns
    assert run.history.loc[run.best_epoch, "val_hr10"] == pytest.approx(run.val["sampled HR"])
    with pytest.raises(ValueError, match="logits"):
        train_and_score("gmf", lambda: GMF(30, 120, 4), protocol, epochs=1)


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
class _RecordingLoss:
    """Wraps a loss and records the (user, item, target) rows it is trained on."""

    def __init__(self, loss):
        self.loss, self.rows = loss, []

    def __call__(self, pred, target, users, items):
        self.rows.append(np.c_[users.numpy(), items.numpy(), target.numpy()])
        return self.loss(pred, target, users, items)


def test_refit_trains_on_train_and_validation_for_the_given_epochs():
    from ncf_helpers.evaluation import refit_and_score
    from ncf_helpers.losses import MSEL1L2Loss

    protocol = RatingProtocol(_toy_split())
    recorders = []

    def recording(model):
        recorders.append(_RecordingLoss(MSEL1L2Loss(model)))
        return recorders[-1]

    make = lambda: BiasedMF(protocol.n_users, protocol.n_items, 4)  # noqa: E731
    result = refit_and_score("mf", make, protocol, 3, loss_fn=recording, batch_size=64,
                             progress=False)
    assert result.best_epoch == 3 and len(result.history) == 3 and result.val == {}
    assert list(result.history.columns) == ["train_loss", "lr", "seconds"]
    per_epoch = len(protocol.train[0]) + len(protocol.val[0])
    seen = np.concatenate(recorders[0].rows)
    assert len(seen) == 3 * per_epoch  # every epoch is one pass over train + validation
    expected = np.r_[np.c_[protocol.train], np.c_[protocol.val]]
    np.testing.assert_array_equal(np.unique(seen[:per_epoch], axis=0), np.unique(expected, axis=0))
    users, items, ratings = protocol.test
    assert result.test["RMSE"] == pytest.approx(
        np.sqrt(np.mean((predict(result.model, users, items) - ratings) ** 2)))
    again = refit_and_score("mf", make, protocol, 3, batch_size=64, progress=False)
    other = refit_and_score("mf", make, protocol, 3, batch_size=64, progress=False, seed=1)
    assert again.test == refit_and_score("mf", make, protocol, 3, batch_size=64,
                                         progress=False).test
    assert again.test != other.test
    with pytest.raises(TypeError, match="'patience'"):
        refit_and_score("mf", make, protocol, 3, patience=2)
    with pytest.raises(ValueError, match="epochs"):
        refit_and_score("mf", make, protocol, 0)


def test_refit_ranking_positives_are_train_and_validation_items():
    from ncf_helpers.evaluation import refit_and_score
    from ncf_helpers.losses import BCEL1L2Loss

    protocol = RankingProtocol.from_split(_toy_split(), n_negatives=20, seed=1)
    recorder = []

    def recording(model):
        recorder.append(_RecordingLoss(BCEL1L2Loss(model)))
        return recorder[-1]

    result = refit_and_score("gmf", lambda: GMF(30, 120, 4, head="logits"), protocol, 1,
                             loss_fn=recording, batch_size=128, progress=False)
    seen = np.concatenate(recorder[0].rows)
    positives = {(u, i) for u, i, t in seen.tolist() if t == 1}
    negatives = {(u, i) for u, i, t in seen.tolist() if t == 0}
    known = set(zip(np.r_[protocol.train[0], protocol.val[0]].tolist(),
                    np.r_[protocol.train[1], protocol.val[1]].tolist()))
    assert positives == known and not negatives & known
    assert len(seen) == 5 * len(known)  # four negatives per positive by default
    assert set(result.test) == {"sampled HR", "sampled NDCG", "full HR", "full NDCG"}


def test_full_ranking_protocol_stops_on_full_hit_rate():
    from ncf_helpers.evaluation import FullRankingProtocol
    from ncf_helpers.metrics import full_ranking_metrics, model_scorer

    protocol = FullRankingProtocol.from_split(_toy_split(), n_negatives=20, seed=3)
    assert isinstance(protocol, RankingProtocol)
    run = train_and_score("gmf", lambda: GMF(30, 120, 4, head="logits"), protocol, epochs=3,
                          batch_size=128, progress=False)
    assert "val_full_hr10" in run.history.columns
    full = full_ranking_metrics(model_scorer(run.model), *protocol.val[:2], *protocol.train[:2],
                                protocol.n_items)["hit_rate"]
    assert run.history.loc[run.best_epoch, "val_full_hr10"] == pytest.approx(full)
    assert run.val["full HR"] == pytest.approx(full)
