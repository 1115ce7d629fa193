import numpy as np
import pandas as pd
import pytest
import torch

from ncf_helpers.base import Recommender
from ncf_helpers.encoding import IdEncoder
from ncf_helpers.models import GMF
from ncf_helpers.prepare import PreparedSplit
from ncf_helpers.recommend import _top_n, recommend, similar_movies

MOVIES = pd.DataFrame(
    {"title": ["A", "B", "C", "D", "E"], "genres": ["x", "y", "x", "y", "z"]},
    index=pd.Index([100, 200, 300, 400, 500], name="movieId"),
)


def ratings(pairs):
    return pd.DataFrame(pairs, columns=["userId", "movieId"]).assign(rating=4.0, timestamp=1)


# userId 20 rated movies 500 and 200 in train; 300 is its validation movie
TRAIN = ratings([(10, 100), (20, 500), (20, 200), (30, 400)])
VAL, TEST = ratings([(20, 300)]), ratings([(10, 300)])


def split(movies=MOVIES):
    encoder = IdEncoder().fit(pd.concat([TRAIN, VAL, TEST]))
    return PreparedSplit(TRAIN, VAL, TEST, encoder, movies)


class ItemScore(Recommender):
    """Scores every pair by its item index: movie 500 best, then 400, ..."""

    n_users, n_items = 3, 5

    def _predict(self, users, items):
        return items * 1.0


class Embeddings:
    def __init__(self, matrix):
        self.matrix = matrix

    def item_embeddings(self):
        return self.matrix


def test_recommend_excludes_the_train_movies_and_sorts_by_score():
    top = recommend(ItemScore(), split(), 20, n=2)
    assert list(top.columns) == ["rank", "movieId", "title", "genres", "score"]
    assert top["movieId"].tolist() == [400, 300]  # 500 and 200 were rated in train
    assert top["title"].tolist() == ["D", "C"]
    assert top["rank"].tolist() == [1, 2]
    assert top["score"].tolist() == [3.0, 2.0]


def test_recommend_returns_fewer_when_few_movies_are_left():
    top = recommend(ItemScore(), split(), 20, n=10)
    # the held-out movie (300) is a candidate: only train movies are excluded
    assert top["movieId"].tolist() == [400, 300, 100] and top["rank"].tolist() == [1, 2, 3]


def test_recommend_without_movies_and_with_a_movie_id_column():
    top = recommend(ItemScore(), split(movies=None), 10, n=2)
    assert list(top.columns) == ["rank", "movieId", "score"]
    assert top["movieId"].tolist() == [500, 400]
    with_column = recommend(ItemScore(), split(MOVIES.reset_index()[["movieId", "title"]]), 10,
                            n=1)
    assert list(with_column.columns) == ["rank", "movieId", "title", "score"]
    assert with_column["title"].tolist() == ["E"]


def test_recommend_with_a_trained_model_agrees_with_its_predictions():
    torch.manual_seed(0)
    model = GMF(3, 5, embedding_dim=2, head="logits")
    top = recommend(model, split(), 10, n=4)
    everything = model.predict(np.zeros(5, dtype=int), np.arange(5))
    unseen = np.array([1, 2, 3, 4])  # movie 100 (index 0) was rated in train
    best = unseen[np.argsort(-everything[unseen], kind="stable")]
    assert top["movieId"].tolist() == ((best + 1) * 100).tolist()
    np.testing.assert_allclose(top["score"], everything[best])


def test_recommend_validation():
    with pytest.raises(KeyError, match="99"):
        recommend(ItemScore(), split(), 99)
    with pytest.raises(ValueError, match="n must"):
        recommend(ItemScore(), split(), 10, n=0)
    with pytest.raises(TypeError, match="model must be a Recommender.*fitted model or baseline"):
        recommend(lambda u, i: i * 1.0, split(), 10)
    with pytest.raises(ValueError, match="title"):
        recommend(ItemScore(), split(MOVIES[["genres"]]), 10)
    twice = pd.concat([MOVIES, MOVIES.iloc[[1]]])
    with pytest.raises(ValueError, match="movieId 200 more than once; keep one row"):
        recommend(ItemScore(), split(twice), 10)


EMBEDDINGS = np.array([
    [1.0, 0.0],
    [0.9, 0.1],   # closest to item 0
    [0.0, 1.0],
    [-1.0, 0.0],  # opposite of item 0
    [0.0, 0.0],   # no direction
])


def test_similar_movies_closest_first():
    sim = similar_movies(Embeddings(EMBEDDINGS), split(), 100, n=3)
    assert list(sim.columns) == ["movieId", "title", "genres", "similarity"]
    assert sim["movieId"].tolist() == [200, 300, 500]
    assert sim["similarity"].tolist() == pytest.approx([0.9 / np.hypot(0.9, 0.1), 0.0, 0.0])
    full = similar_movies(Embeddings(EMBEDDINGS * 10), split(movies=None), 100, n=10)
    assert full["movieId"].tolist() == [200, 300, 500, 400]  # scale-free; never itself
    assert full["similarity"].iloc[-1] == pytest.approx(-1.0)


def test_similar_movies_of_a_model_use_its_item_embeddings():
    torch.manual_seed(0)
    model = GMF(3, 5, embedding_dim=2)
    with torch.no_grad():
        model.item_embedding.weight.copy_(torch.tensor(EMBEDDINGS[::-1].copy()))
    # reversed: movie 500 now holds item 0's vector, 400 the closest to it
    assert similar_movies(model, split(), 500, n=1)["movieId"].tolist() == [400]


def test_similar_movies_errors():
    with pytest.raises(KeyError, match="999"):
        similar_movies(Embeddings(EMBEDDINGS), split(), 999)
    with pytest.raises(ValueError, match="3 item embeddings but the split's encoder knows 5"):
        similar_movies(Embeddings(EMBEDDINGS[:3]), split(), 100)
    with pytest.raises(ValueError, match="NaN or infinite.*diverged"):
        similar_movies(Embeddings(np.full((5, 2), np.nan)), split(), 100)
    with pytest.raises(TypeError, match="model.item_embeddings must be callable"):
        similar_movies(EMBEDDINGS, split(), 100)
    with pytest.raises(ValueError, match="n must"):
        similar_movies(Embeddings(EMBEDDINGS), split(), 100, n=0)


def test_ties_at_the_cut_off_go_to_the_lower_index():
    scores = np.array([1.0, 3.0, 2.0, 2.0, 2.0, -np.inf, 3.0])
    assert _top_n(scores, 3).tolist() == [1, 6, 2]
    assert _top_n(scores, 10).tolist() == [1, 6, 2, 3, 4, 0]  # -inf (already seen) never
