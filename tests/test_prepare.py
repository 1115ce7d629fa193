import numpy as np
import pandas as pd
import pytest

from ncf_helpers.data import load_movielens
from ncf_helpers.prepare import last_item_split, original_split


@pytest.fixture(scope="module")
def data():
    return load_movielens("ml-100k")


@pytest.fixture(scope="module")
def split(data):
    return original_split(42, data=data)


def test_seed_split_sizes_and_partition(split):
    parts = (split.train, split.val, split.test)
    assert [len(p) for p in parts] == [74760, 8307, 9230]
    assert sum(len(p) for p in parts) == 92297
    keys = [set(zip(p.userId, p.movieId)) for p in parts]
    assert not (keys[0] & keys[1] or keys[0] & keys[2] or keys[1] & keys[2])
    for p in parts:
        assert p.userId.max() < 1000 and p.movieId.max() < 1000
    assert split.encoder.n_users == 943 and split.encoder.n_items == 999


def test_seed_split_is_seeded(data, split):
    again = original_split(42, data=data)
    pd.testing.assert_frame_equal(split.test, again.test)
    assert not split.test.equals(original_split(7, data=data).test)


def test_summary(split):
    summary = split.summary()
    assert summary.loc["train"].tolist() == [74760, 943, 998]
    assert list(summary.columns) == ["ratings", "users", "movies"]


def test_arrays(split):
    users, items, ratings = split.arrays("test")
    assert users.dtype == np.int64 and items.dtype == np.int64 and ratings.dtype == np.float32
    assert len(users) == len(split.test)
    assert (split.encoder.user_ids[users] == split.test.userId.to_numpy()).all()
    assert (split.encoder.item_ids[items] == split.test.movieId.to_numpy()).all()
    assert (ratings == split.test.rating.to_numpy()).all()
    with pytest.raises(ValueError, match="part"):
        split.arrays("validation")


def test_arrays_are_encoded_once(split, monkeypatch):
    first = split.arrays("train")

    def no_more_encoding(*args):
        raise AssertionError("arrays() encoded the ids again")

    monkeypatch.setattr(split.encoder, "transform", no_more_encoding)
    again = split.arrays("train")
    assert all(a is b for a, b in zip(first, again))  # the same arrays, not copies


def test_last_item_split(data):
    split = last_item_split(data=data)
    assert len(split.test) == len(split.val) == 943  # every ml-100k user has >= 20 ratings
    assert split.test.userId.is_unique and split.val.userId.is_unique
    assert len(split.train) + 2 * 943 == 100_000
    latest_train = split.train.groupby("userId").timestamp.max()
    val = split.val.set_index("userId").timestamp
    test = split.test.set_index("userId").timestamp
    assert (val >= latest_train.reindex(val.index)).all()
    assert (test >= val.reindex(test.index)).all()
    assert split.encoder.n_items == 1682
