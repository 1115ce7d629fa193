import numpy as np
import pandas as pd
import pytest

from ncf_helpers.recommend import recommend, similar_movies


class StubEncoder:
    """Minimal stand-in for the id encoder: userId/movieId <-> 0-based index."""

    def __init__(self, user_ids, item_ids):
        self.user_ids = np.asarray(user_ids)
        self.item_ids = np.asarray(item_ids)
        self.n_items = len(self.item_ids)

    @staticmethod
    def _lookup(ids, known, kind):
        index = {v: i for i, v in enumerate(known.tolist())}
        missing = [v for v in np.atleast_1d(ids).tolist() if v not in index]
        if missing:
            raise KeyError(f"unknown {kind} id {missing[0]}")
        return np.array([index[v] for v in np.atleast_1d(ids).tolist()], dtype=np.int64)

    def user_index(self, user_ids):
        return self._lookup(user_ids, self.user_ids, "user")

    def item_index(self, movie_ids):
        return self._lookup(movie_ids, self.item_ids, "movie")


ENCODER = StubEncoder(user_ids=[10, 20, 30], item_ids=[100, 200, 300, 400, 500])
MOVIES = pd.DataFrame(
    {"title": ["A", "B", "C", "D", "E"], "genres": ["x", "y", "x", "y", "z"]},
    index=pd.Index([100, 200, 300, 400, 500], name="movieId"),
)
# user index 1 (userId 20) rated items 4 and 1 in train
TRAIN_USERS, TRAIN_ITEMS = np.array([0, 1, 1, 2]), np.array([0, 4, 1, 3])


def item_score(users, items):
    return items * 1.0 + users * 0.0  # higher item index = better


def test_recommend_excludes_seen_items_and_sorts_by_score():
    top = recommend(item_score, ENCODER, 20, TRAIN_USERS, TRAIN_ITEMS, movies=MOVIES, n=2)
    assert list(top.columns) == ["rank", "movieId", "title", "genres", "score"]
    assert top["movieId"].tolist() == [400, 300]
    assert top["title"].tolist() == ["D", "C"]
    assert top["rank"].tolist() == [1, 2]
    assert top["score"].is_monotonic_decreasing


def test_recommend_without_movies_and_with_a_movie_id_column():
    top = recommend(item_score, ENCODER, 10, TRAIN_USERS, TRAIN_ITEMS, n=10)
    assert list(top.columns) == ["rank", "movieId", "score"]
    assert top["movieId"].tolist() == [500, 400, 300, 200]  # n capped by unseen items
    with_column = recommend(item_score, ENCODER, 10, TRAIN_USERS, TRAIN_ITEMS,
                            movies=MOVIES.reset_index()[["movieId", "title"]], n=1)
    assert with_column["title"].tolist() == ["E"]


def test_recommend_unknown_user():
    with pytest.raises(KeyError, match="99"):
        recommend(item_score, ENCODER, 99, TRAIN_USERS, TRAIN_ITEMS)


def test_recommend_validation():
    with pytest.raises(ValueError, match="same length"):
        recommend(item_score, ENCODER, 10, TRAIN_USERS, TRAIN_ITEMS[:2])
    with pytest.raises(ValueError, match="n must"):
        recommend(item_score, ENCODER, 10, TRAIN_USERS, TRAIN_ITEMS, n=0)
    with pytest.raises(ValueError, match="title"):
        recommend(item_score, ENCODER, 10, TRAIN_USERS, TRAIN_ITEMS, movies=MOVIES[["genres"]])


EMBEDDINGS = np.array([
    [1.0, 0.0],
    [0.9, 0.1],   # closest to item 0
    [0.0, 1.0],
    [-1.0, 0.0],  # opposite of item 0
    [0.0, 0.0],   # no direction
])


def test_similar_movies_closest_first():
    sim = similar_movies(EMBEDDINGS, ENCODER, 100, movies=MOVIES, n=3)
    assert list(sim.columns) == ["movieId", "title", "genres", "similarity"]
    assert sim["movieId"].tolist() == [200, 300, 500]
    assert 100 not in sim["movieId"].tolist()
    assert sim["similarity"].iloc[0] == pytest.approx(0.9 / np.hypot(0.9, 0.1))
    assert sim["similarity"].is_monotonic_decreasing
    full = similar_movies(EMBEDDINGS * 10, ENCODER, 100, n=10)  # scale-free
    assert full["movieId"].tolist()[-1] == 400 and len(full) == 4


def test_similar_movies_accepts_torch_tensors():
    torch = pytest.importorskip("torch")
    weights = torch.nn.Parameter(torch.tensor(EMBEDDINGS, dtype=torch.float32))
    assert similar_movies(weights, ENCODER, 100, n=1)["movieId"].tolist() == [200]


def test_similar_movies_errors():
    with pytest.raises(KeyError, match="999"):
        similar_movies(EMBEDDINGS, ENCODER, 999)
    with pytest.raises(ValueError, match="n_items=5"):
        similar_movies(EMBEDDINGS[:3], ENCODER, 100)


def test_ties_at_the_cut_off_go_to_the_lower_index():
    from ncf_helpers.recommend import _top_n

    scores = np.array([1.0, 3.0, 2.0, 2.0, 2.0, -np.inf, 3.0])
    assert _top_n(scores, 3).tolist() == [1, 6, 2]
    assert _top_n(scores, 10).tolist() == [1, 6, 2, 3, 4, 0]  # -inf (already seen) never
