import numpy as np
import pandas as pd
import pytest
import torch

from ncf_helpers.encoding import IdEncoder
from ncf_helpers.features import (
    AGE_BUCKETS,
    age_bucket,
    count_buckets,
    decade_label,
    item_features,
    user_features,
)
from ncf_helpers.models import NCF

AGES = [label for label, _ in AGE_BUCKETS]


def encoder_for(user_ids, movie_ids):
    ratings = pd.DataFrame({"userId": np.repeat(user_ids, len(movie_ids)),
                            "movieId": np.tile(movie_ids, len(user_ids))})
    return IdEncoder().fit(ratings)


@pytest.fixture
def users():
    # Deliberately not in id order, with an extra user the encoder does not know.
    return pd.DataFrame(
        {"age": [56, 17, 18, 45, 99], "gender": ["F", "M", "M", "F", "M"],
         "occupation": ["writer", "student", "writer", "doctor", "none"]},
        index=pd.Index([30, 10, 20, 40, 50], name="userId"))


@pytest.fixture
def movies():
    return pd.DataFrame(
        {"title": ["B", "A", "C", "D"],
         "genres": ["Drama", "Action|Comedy", "(no genres listed)", "Comedy|Drama"],
         "year": pd.array([1995, 1972, pd.NA, 1990], dtype="Int64")},
        index=pd.Index([2, 1, 3, 4], name="movieId"))


# ------------------------------------------------------------------------ users
def test_user_features_exact(users):
    enc = encoder_for([10, 20, 30, 40], [1])
    got = user_features(users, enc)
    assert list(got.index) == [10, 20, 30, 40]
    assert got.index.name == "userId"
    assert list(got.columns) == (
        [f"age:{a}" for a in AGES] + ["gender:F", "gender:M"]
        + ["occupation:doctor", "occupation:student", "occupation:writer"])
    expected = np.array([
        # <18 18-24 25-34 35-44 45-49 50-55 56+  F  M  doc stu wri
        [1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0],  # user 10: 17, M, student
        [0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1],  # user 20: 18, M, writer
        [0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1],  # user 30: 56, F, writer
        [0, 0, 0, 0, 1, 0, 0, 1, 0, 1, 0, 0],  # user 40: 45, F, doctor
    ], dtype=np.float32)
    np.testing.assert_array_equal(got.to_numpy(), expected)
    assert got.to_numpy().dtype == np.float32


def test_user_features_accepts_id_column_and_uses_the_encoder_users_values(users):
    enc = encoder_for([10, 20], [1])
    got = user_features(users.reset_index(), enc)
    pd.testing.assert_frame_equal(got, user_features(users, enc))
    # only the values of the encoder's users: M, student and writer
    assert list(got.columns[-3:]) == ["gender:M", "occupation:student", "occupation:writer"]
    np.testing.assert_array_equal(got.to_numpy()[:, -3:], [[1, 1, 0], [1, 0, 1]])


def test_user_features_missing_id_is_key_error(users):
    enc = encoder_for([10, 77], [1])
    with pytest.raises(KeyError, match="user id 77"):
        user_features(users, enc)


@pytest.mark.parametrize("column", ["age", "gender", "occupation"])
def test_user_features_missing_column_is_named(users, column):
    with pytest.raises(ValueError, match=f"'{column}'"):
        user_features(users.drop(columns=column), encoder_for([10], [1]))


def test_user_features_rejects_missing_values(users):
    enc = encoder_for([10, 20], [1])
    broken = users.astype({"gender": object})
    broken.loc[20, "gender"] = None
    with pytest.raises(ValueError, match="'gender' is missing for user id 20; fill it in"):
        user_features(broken, enc)


def test_user_features_rejects_duplicates_and_unfitted_encoder(users):
    with pytest.raises(ValueError, match="user id 10 more than once"):
        user_features(pd.concat([users, users.loc[[10]]]), encoder_for([10], [1]))
    with pytest.raises(ValueError, match="IdEncoder is not fitted yet; call IdEncoder"):
        user_features(users, IdEncoder())
    with pytest.raises(TypeError, match="DataFrame"):
        user_features(users.to_numpy(), encoder_for([10], [1]))


def test_age_bucket_edges():
    ages = [0, 17, 18, 24, 25, 34, 35, 44, 45, 49, 50, 55, 56, 90]
    assert list(age_bucket(ages)) == ["<18", "<18", "18-24", "18-24", "25-34", "25-34",
                                      "35-44", "35-44", "45-49", "45-49", "50-55", "50-55",
                                      "56+", "56+"]
    with pytest.raises(ValueError, match="non-negative"):
        age_bucket([20, -1])


# ------------------------------------------------------------------------ movies
def test_item_features_exact(movies):
    enc = encoder_for([1], [1, 2, 3, 4])
    got = item_features(movies, enc)
    assert list(got.index) == [1, 2, 3, 4]
    assert got.index.name == "movieId"
    assert list(got.columns) == ["genre:Action", "genre:Comedy", "genre:Drama",
                                 "year:1970s", "year:1990s", "year:unknown"]
    expected = np.array([
        # Act Com Dra 70s 90s unk
        [1, 1, 0, 1, 0, 0],  # movie 1: Action|Comedy, 1972
        [0, 0, 1, 0, 1, 0],  # movie 2: Drama, 1995
        [0, 0, 0, 0, 0, 1],  # movie 3: no genres, no year
        [0, 1, 1, 0, 1, 0],  # movie 4: Comedy|Drama, 1990
    ], dtype=np.float32)
    np.testing.assert_array_equal(got.to_numpy(), expected)
    assert got.to_numpy().dtype == np.float32


def test_item_features_columns_come_from_the_encoder_movies(movies):
    got = item_features(movies, encoder_for([1], [1, 2]))
    # movie 3 (no genres, no year) and movie 4 are not in the encoder: no column of theirs,
    # but year:unknown is always there.
    assert list(got.columns) == ["genre:Action", "genre:Comedy", "genre:Drama",
                                 "year:1970s", "year:1990s", "year:unknown"]
    np.testing.assert_array_equal(got.to_numpy(), [[1, 1, 0, 1, 0, 0], [0, 0, 1, 0, 1, 0]])
    assert list(item_features(movies, encoder_for([1], [3])).columns) == ["year:unknown"]


def test_item_features_missing_id_and_columns(movies):
    with pytest.raises(KeyError, match="movie id 9"):
        item_features(movies, encoder_for([1], [1, 9]))
    for column in ("genres", "year"):
        with pytest.raises(ValueError, match=f"'{column}'"):
            item_features(movies.drop(columns=column), encoder_for([1], [1]))


def test_decade_label():
    got = decade_label(pd.array([1899, 1900, 1999, pd.NA], dtype="Int64"))
    assert list(got) == ["year:1890s", "year:1900s", "year:1990s", "year:unknown"]


# ------------------------------------------------------------------ with the model
def test_features_feed_ncf(users, movies):
    enc = encoder_for([10, 20, 30, 40], [1, 2, 3, 4])
    uf, itf = user_features(users, enc), item_features(movies, enc)
    model = NCF(enc.n_users, enc.n_items, embedding_dim=3, layers=(4,),
                user_features=np.array(uf), item_features=np.array(itf))
    assert model.config["n_user_features"] == uf.shape[1]
    assert model.config["n_item_features"] == itf.shape[1]
    out = model(torch.tensor([0, 3]), torch.tensor([2, 1]))
    assert out.shape == (2,)


# ------------------------------------------------------------------ count buckets
def test_count_buckets():
    got = count_buckets([0, 1, 20, 21, 50, 51, 100, 101, 5000], [20, 50, 100])
    assert list(got.categories) == ["0", "1-20", "21-50", "51-100", "101+"]
    assert list(got) == ["0", "1-20", "1-20", "21-50", "21-50", "51-100", "51-100",
                         "101+", "101+"]
    assert got.ordered


@pytest.mark.parametrize("edges", [[], [0, 5], [10, 10], [20, 5]])
def test_count_buckets_rejects_bad_edges(edges):
    with pytest.raises(ValueError, match="edges"):
        count_buckets([1, 2], edges)


def test_count_buckets_rejects_bad_counts():
    with pytest.raises(ValueError, match="non-negative integers"):
        count_buckets([1, -1], [10])
    with pytest.raises(ValueError, match="non-negative integers"):
        count_buckets([1.5], [10])
