import numpy as np
import pandas as pd
import pytest

from ncf_helpers.encoding import IdEncoder


@pytest.fixture
def ratings():
    return pd.DataFrame({"userId": [7, 3, 7, 100, 3], "movieId": [50, 2, 9, 50, 1000],
                         "rating": [4.0, 3.0, 5.0, 1.0, 2.0]})


def test_contiguous_sorted_indices(ratings):
    enc = IdEncoder().fit(ratings)
    assert enc.n_users == 3 and enc.n_items == 4
    assert enc.user_ids.tolist() == [3, 7, 100]
    assert enc.item_ids.tolist() == [2, 9, 50, 1000]
    users, items = enc.transform(ratings)
    assert users.dtype == np.int64 and items.dtype == np.int64
    assert users.tolist() == [1, 0, 1, 2, 0]
    assert items.tolist() == [2, 0, 1, 2, 3]


def test_round_trip(ratings):
    enc = IdEncoder().fit(ratings)
    users, items = enc.transform(ratings)
    assert (enc.user_ids[users] == ratings.userId.to_numpy()).all()
    assert (enc.item_ids[items] == ratings.movieId.to_numpy()).all()
    restored = IdEncoder.from_dict(enc.to_dict())
    assert (restored.item_index([1000, 2]) == enc.item_index([1000, 2])).all()


def test_extra_catalogue_movies(ratings):
    enc = IdEncoder().fit(ratings, movie_ids=[1, 2, 5000])
    assert enc.item_ids.tolist() == [1, 2, 9, 50, 1000, 5000]


def test_unknown_id_raises_key_error_naming_it(ratings):
    enc = IdEncoder().fit(ratings)
    with pytest.raises(KeyError, match="unknown movie id 51"):
        enc.item_index([50, 51])
    with pytest.raises(KeyError, match="unknown user id 4 "):
        enc.user_index([4])
    with pytest.raises(KeyError, match="unknown movie id 2000"):  # beyond the largest id
        enc.item_index([2000])
    with pytest.raises(KeyError, match="unknown user id 0"):  # below the smallest id
        enc.user_index([0])


def test_non_integer_ids_raise_type_error(ratings):
    enc = IdEncoder().fit(ratings)
    with pytest.raises(TypeError, match="integers"):
        enc.item_index([50.0])
    with pytest.raises(TypeError, match="integers"):
        enc.user_index(["7"])


def test_fit_validation(ratings):
    with pytest.raises(ValueError, match="movieId"):
        IdEncoder().fit(ratings.drop(columns="movieId"))
    with pytest.raises(ValueError, match="empty"):
        IdEncoder().fit(ratings.iloc[:0])
    assert repr(IdEncoder()) == "IdEncoder(unfitted)"
    assert repr(IdEncoder().fit(ratings)) == "IdEncoder(n_users=3, n_items=4)"
