import numpy as np
import pandas as pd
import pytest

from ncf_helpers.baselines import GlobalMean, Popularity
from ncf_helpers.evaluation import (RankingProtocol, metric_ranks, pca_2d, primary_genre,
                                    rating_scores, results_table, top_rated,
                                    train_ranking_model, train_rating_model)
from ncf_helpers.encoding import IdEncoder
from ncf_helpers.models import GMF, BiasedMF
from ncf_helpers.prepare import PreparedSplit


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
                           "genres": ["Drama|Comedy" if i % 2 else "Action" for i in range(n_items)]})
    return PreparedSplit(train, val, test, IdEncoder().fit(ratings), movies)


def test_rating_scores_and_table():
    scores = rating_scores(lambda u, i: np.full(len(u), 3.0), np.arange(2), np.arange(2),
                           np.array([1.0, 5.0]))
    assert scores == {"RMSE": 2.0, "MAE": 2.0}
    table = results_table({"a": {"RMSE": 2.0}, "b": {"RMSE": 1.0}}, "RMSE")
    assert list(table.index) == ["b", "a"]
    with pytest.raises(ValueError, match="not a metric"):
        results_table({"a": {"RMSE": 2.0}}, "MAE")
    with pytest.raises(ValueError, match="empty"):
        results_table({}, "RMSE")


def test_train_rating_model_uses_validation():
    split = _toy_split()
    model = BiasedMF(split.encoder.n_users, split.encoder.n_items, 4)
    history = train_rating_model(model, split, l2_weight=0.01, epochs=3, batch_size=64,
                                 progress=False)
    assert "val_rmse" in history.columns and 1 <= history.attrs["best_epoch"] <= 3


def test_ranking_protocol_candidates_and_training():
    split = _toy_split()
    protocol = RankingProtocol.from_split(split, n_negatives=20, seed=3)
    assert protocol.test_candidates.shape == (30, 21)
    assert protocol.val_candidates.shape == (30, 21)
    # test negatives never include an item the user rated in train or validation
    known = set(zip(*RankingProtocol._known(protocol.train, protocol.val)))
    for u, row in zip(protocol.test[0], protocol.test_candidates[:, 1:]):
        assert not any((u, i) in known for i in row)
    again = RankingProtocol.from_split(split, n_negatives=20, seed=3)
    np.testing.assert_array_equal(again.test_candidates, protocol.test_candidates)

    pop = Popularity().fit(protocol.train[0], protocol.train[1], None, 30, 120)
    result = protocol.evaluate(pop)
    assert set(result) == {"sampled HR", "sampled NDCG", "full HR", "full NDCG"}
    assert all(0 <= v <= 1 for v in result.values())

    model = GMF(30, 120, 4, head="logits")
    history = train_ranking_model(model, protocol, epochs=2, batch_size=128, progress=False)
    assert "val_hr10" in history.columns
    with pytest.raises(ValueError, match="logits"):
        train_ranking_model(GMF(30, 120, 4), protocol, epochs=1)


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
