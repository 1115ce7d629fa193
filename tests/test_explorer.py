"""The explorer's views on a toy, by hand, and its widget driven through its callbacks.

The toy: users 10, 20, 30 (indices 0-2); movies 100..500 (indices 0-4), titles A..D and
no row for movie 500. Train ratings (user index: item index = rating):

    u0: 0 = 5, 1 = 3, 2 = 4      u1: 0 = 4, 3 = 5      u2: 1 = 2, 3 = 1, 4 = 3

Item raters: 0 {u0, u1}, 1 {u0, u2}, 2 {u0}, 3 {u1, u2}, 4 {u2}. The scorer prefers higher
item indices, so user 10 (who rated 0, 1, 2) gets 4, then 3.
"""
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from ncf_helpers.baselines import BiasBaseline, Popularity
from ncf_helpers.explorer import Explorer, UserView, movie_view, user_view

ENCODER = SimpleNamespace(user_ids=np.array([10, 20, 30]),
                          item_ids=np.array([100, 200, 300, 400, 500]))
USERS = np.array([0, 0, 0, 1, 1, 2, 2, 2])
ITEMS = np.array([0, 1, 2, 0, 3, 1, 3, 4])
RATINGS = np.array([5, 3, 4, 4, 5, 2, 1, 3], dtype=float)
MOVIES = pd.DataFrame({"title": ["A", "B", "C", "D"], "genres": ["x", "y", "x|y", "z"]},
                      index=pd.Index([100, 200, 300, 400], name="movieId"))
# cosines: item 3 to 0 = 1, to 1 = 0, to 2 = 0.71, to 4 = -1; item 4 to 0..2: -1, 0, -0.71
EMBEDDINGS = np.array([[1, 0], [0, 1], [1, 1], [2, 0], [-1, 0]], dtype=float)


def score_fn(users, items):
    return 10.0 * items + users


def view(**kwargs):
    args = dict(user_id=10, model=score_fn, encoder=ENCODER, train_users=USERS,
                train_items=ITEMS, movies=MOVIES, train_ratings=RATINGS)
    return user_view(**(args | kwargs))


# --------------------------------------------------------------------------- user_view
def test_user_view_rated_best_first():
    rated = view().rated
    assert rated.columns.tolist() == ["movieId", "title", "genres", "rating"]
    assert rated["movieId"].tolist() == [100, 300, 200]
    assert rated["rating"].tolist() == [5.0, 4.0, 3.0]
    assert view(n_rated=2).rated["title"].tolist() == ["A", "C"]


def test_user_view_recommends_unrated_items_with_scores():
    recs = view().recommendations
    assert isinstance(view(), UserView)
    assert recs.columns.tolist() == ["rank", "movieId", "title", "genres", "score", "because"]
    assert recs["rank"].tolist() == [1, 2]  # only two unrated items, though n=10
    assert recs["movieId"].tolist() == [500, 400]
    assert recs["score"].tolist() == [40.0, 30.0]
    assert recs["title"].tolist() == ["movie 500", "D"]  # 500 has no row in MOVIES
    assert pd.isna(recs["genres"].iloc[0])
    assert view(n=1).recommendations["movieId"].tolist() == [500]


def test_user_view_because_by_co_rating():
    # cos(4, 1) = |{u2}| / sqrt(1 * 2); cos(4, 0) = cos(4, 2) = 0: not named.
    # cos(3, 0) = |{u1}| / sqrt(2 * 2) = cos(3, 1); cos(3, 2) = 0.
    because = view().recommendations["because"].tolist()
    assert because == ["B (0.71, rated 3)", "A (0.50, rated 5); B (0.50, rated 3)"]
    assert view(n_because=1).recommendations["because"].iloc[1] == "A (0.50, rated 5)"


def test_user_view_because_by_embeddings():
    # item 4 points away from every rated movie: nothing explains it.
    because = view(item_embeddings=EMBEDDINGS).recommendations["because"].tolist()
    assert because == ["", "A (1.00, rated 5); C (0.71, rated 4)"]


def test_user_view_accepts_a_torch_embedding_table():
    torch = pytest.importorskip("torch")
    table = torch.nn.Embedding(5, 2)
    with torch.no_grad():
        table.weight.copy_(torch.tensor(EMBEDDINGS))
    assert view(item_embeddings=table.weight).recommendations.equals(
        view(item_embeddings=EMBEDDINGS).recommendations)


def test_user_view_without_ratings():
    result = view(train_ratings=None)
    assert result.rated.columns.tolist() == ["movieId", "title", "genres"]
    assert result.rated["movieId"].tolist() == [100, 200, 300]  # train order
    assert result.recommendations["because"].tolist() == ["B (0.71)", "A (0.50); B (0.50)"]


def test_user_view_item_rated_twice_is_shown_once_with_its_best_rating():
    users, items = np.append(USERS, 0), np.append(ITEMS, 1)
    rated = view(train_users=users, train_items=items,
                 train_ratings=np.append(RATINGS, 4.5)).rated
    assert rated["movieId"].tolist() == [100, 200, 300]
    assert rated["rating"].tolist() == [5.0, 4.5, 4.0]


def test_user_view_with_movieid_column_and_no_genres():
    movies = MOVIES.drop(columns="genres").reset_index()
    recs = view(movies=movies).recommendations
    assert recs.columns.tolist() == ["rank", "movieId", "title", "score", "because"]
    assert recs["title"].tolist() == ["movie 500", "D"]


# --------------------------------------------------------------------------- movie_view
def test_movie_view_by_co_rating():
    # cos(3, 4) = 1 / sqrt(2), cos(3, 0) = cos(3, 1) = 1/2, cos(3, 2) = 0
    table = movie_view(400, ENCODER, USERS, ITEMS, MOVIES, n=3)
    assert table.columns.tolist() == ["movieId", "title", "genres", "similarity"]
    assert table["movieId"].tolist() == [500, 100, 200]
    np.testing.assert_allclose(table["similarity"], [2**-0.5, 0.5, 0.5])


def test_movie_view_by_embeddings():
    table = movie_view(400, ENCODER, USERS, ITEMS, MOVIES, item_embeddings=EMBEDDINGS)
    assert table["movieId"].tolist() == [100, 300, 200, 500]  # never the movie itself
    np.testing.assert_allclose(table["similarity"], [1, 2**-0.5, 0, -1], atol=1e-12)


# --------------------------------------------------------------------------- hostile input
@pytest.mark.parametrize("kwargs, error, match", [
    ({"user_id": 99}, KeyError, r"unknown user id 99; the encoder knows 3 users"),
    ({"model": "model"}, TypeError, r"model must be callable, got str; pass a fitted model"),
    ({"model": lambda u, i: np.zeros(3)}, ValueError, r"returned shape \(3,\) for 5"),
    ({"model": lambda u, i: np.full(len(i), np.nan)}, ValueError, r"NaN"),
    ({"model": Popularity(3, 4).fit((USERS, ITEMS % 4))}, ValueError,
     r"the model knows 3 users and 4 items but the encoder 3 and 5"),
    ({"encoder": object()}, TypeError, r"user_ids and item_ids arrays"),
    ({"train_items": np.append(ITEMS[:-1], 5)}, IndexError, r"train_items must be in \[0, 5\)"),
    ({"train_ratings": RATINGS[:3]}, ValueError, r"same length"),
    ({"train_ratings": np.where(RATINGS > 4, np.nan, RATINGS)}, ValueError,
     r"train_ratings contains NaN"),
    ({"movies": MOVIES.rename(columns={"title": "name"})}, ValueError,
     r"movies is missing required column\(s\) \['title'\]"),
    ({"movies": pd.concat([MOVIES, MOVIES.iloc[:1]])}, ValueError, r"movieId 100 more than once"),
    ({"item_embeddings": EMBEDDINGS[:4]}, ValueError, r"shape \(5, d\), got \(4, 2\)"),
    ({"item_embeddings": np.where(EMBEDDINGS > 1, np.inf, EMBEDDINGS)}, ValueError,
     r"NaN or infinite values \(first in row 3"),
    ({"n": 0}, ValueError, r"n must be an integer >= 1"),
])
def test_user_view_hostile(kwargs, error, match):
    with pytest.raises(error, match=match):
        view(**kwargs)


def test_movie_view_unknown_movie():
    with pytest.raises(KeyError, match=r"unknown movie id 600"):
        movie_view(600, ENCODER, USERS, ITEMS, MOVIES)


# --------------------------------------------------------------------------- widget
def plain_text(output):
    return "\n".join(o["data"]["text/plain"] for o in output.outputs)


@pytest.fixture
def explorer():
    pytest.importorskip("ipywidgets")
    return Explorer(score_fn, ENCODER, USERS, ITEMS, MOVIES, train_ratings=RATINGS)


def test_explorer_shows_the_first_user_and_the_most_rated_movie(explorer):
    assert explorer.user.value == 10 and explorer.movie.value == 100  # 100: rated by 2 users
    assert explorer.user_frames.recommendations["movieId"].tolist() == [500, 400]
    text = plain_text(explorer.user_output)
    assert "**user 10** rated 3 movies in train; the top 3:" in text
    assert "co-rating cosine" in text and "A (0.50, rated 5)" in text
    assert [o["output_type"] for o in explorer.user_output.outputs] == ["display_data"] * 4


def test_explorer_user_callback(explorer):
    explorer.user.value = 30  # what a reader's click does
    assert explorer.user_frames.rated["movieId"].tolist() == [500, 200, 400]
    assert explorer.user_frames.recommendations["movieId"].tolist() == [300, 100]
    text = plain_text(explorer.user_output)
    assert "user 10" not in text and "**user 30** rated 3 movies" in text
    assert len(explorer.user_output.outputs) == 4  # replaced, not appended


def test_explorer_movie_callback(explorer):
    explorer.movie.value = 400
    assert explorer.movie_frame["movieId"].tolist()[:3] == [500, 100, 200]
    assert "Nearest neighbours of D" in plain_text(explorer.movie_output)
    # the movie dropdown lists titles alphabetically, ids as values
    assert explorer.movie.options[0] == ("A", 100) and explorer.movie.options[-1] == (
        "movie 500", 500)


def test_explorer_with_embeddings_and_chosen_start():
    pytest.importorskip("ipywidgets")
    e = Explorer(score_fn, ENCODER, USERS, ITEMS, MOVIES, item_embeddings=EMBEDDINGS, n=1,
                 user_id=20, movie_id=400)
    assert e.user_frames.recommendations["movieId"].tolist() == [500]
    assert e.movie_frame["movieId"].tolist() == [100]
    assert "cosine of the item embeddings" in plain_text(e.movie_output)
    bundle = e._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    # one fixed line where no widget is drawn, not the repr of every child
    assert bundle["text/plain"] == ("Explorer: pick a user or a movie (a widget; run the "
                                    "notebook in JupyterLab to use it)")


def test_explorer_refuses_an_unknown_start():
    pytest.importorskip("ipywidgets")
    with pytest.raises(KeyError, match=r"unknown movie id 7"):
        Explorer(score_fn, ENCODER, USERS, ITEMS, MOVIES, movie_id=7)


# --------------------------------------------------------------------------- the models' contract
def test_user_view_ranks_with_the_models_recommend():
    # Popularity counts 2, 2, 1, 2, 1: user 10 (rated 0, 1, 2) gets 3 (count 2), then 4.
    model = Popularity(3, 5).fit((USERS, ITEMS))
    recs = view(model=model).recommendations
    items, scores = model.recommend([0], n=10, exclude=(np.zeros(3, int), np.array([0, 1, 2])))
    assert recs["movieId"].tolist() == ENCODER.item_ids[items[0][items[0] >= 0]].tolist()
    assert recs["movieId"].tolist() == [400, 500]
    assert recs["score"].tolist() == [2.0, 1.0]
    # the same lists as model.recommend for every user
    for user in range(3):
        mine = ITEMS[USERS == user]
        top, _ = model.recommend([user], n=2, exclude=(np.full(len(mine), user), mine))
        shown = view(model=model, user_id=ENCODER.user_ids[user], n=2).recommendations
        assert shown["movieId"].tolist() == ENCODER.item_ids[top[0]].tolist()


def test_user_view_ties_go_to_the_lower_index_as_in_recommend():
    recs = view(model=lambda u, i: np.zeros(len(i))).recommendations
    assert recs["movieId"].tolist() == [400, 500]


def test_user_view_with_a_rating_baseline():
    model = BiasBaseline(3, 5).fit((USERS, ITEMS, RATINGS))
    recs = view(model=model, user_id=30).recommendations
    unrated = np.array([0, 2])  # user 30 rated items 1, 3 and 4
    expected = model.predict(np.array([2, 2]), unrated)
    assert recs["movieId"].tolist() == ENCODER.item_ids[unrated[np.argsort(-expected)]].tolist()
    np.testing.assert_allclose(recs["score"], np.sort(expected)[::-1])


def test_explorer_with_a_model_labels_and_a_noun():
    pytest.importorskip("ipywidgets")
    model = Popularity(3, 5).fit((USERS, ITEMS))
    labels = pd.Series(["C-1", "C-2", "C-3"], index=[10, 20, 30])
    e = Explorer(model, ENCODER, USERS, ITEMS, MOVIES, n=2, user_labels=labels,
                 noun="product")
    assert e.user.options == (("C-1", 10), ("C-2", 20), ("C-3", 30))
    assert e.movie.description == "product" and e.widget.titles[1] == "pick a product"
    text = plain_text(e.user_output)
    # without ratings: the user's items in train order, "has", not "rated"
    assert "**C-1** has 3 products in train; the first 2:" in text
    assert "the user's products most similar to it (co-rating cosine)" in text
    assert e.user_frames.recommendations["movieId"].tolist() == [400, 500]
    e.user.value = 20
    assert "**C-2** has 2 products" in plain_text(e.user_output)
    assert e.user_frames.recommendations["movieId"].tolist() == [200, 300]
    with pytest.raises(KeyError, match=r"unknown product id 7; the encoder knows 5 products"):
        Explorer(model, ENCODER, USERS, ITEMS, MOVIES, movie_id=7, noun="product")


def test_the_notebook_runner_keeps_no_widget_state(tmp_path):
    # Stored widget state makes the book load the widget manager from a CDN (an offline
    # book must not), so tools.run_notebooks, which writes the committed outputs, keeps none.
    pytest.importorskip("ipywidgets")
    nbformat = pytest.importorskip("nbformat")
    from tools.run_notebooks import execute

    path = tmp_path / "widget.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import ipywidgets\nipywidgets.Dropdown(options=[1, 2])")]), path)
    nb, _ = execute(path)
    assert "widgets" not in nb.metadata
    assert "application/vnd.jupyter.widget-view+json" in nb.cells[0].outputs[0]["data"]
