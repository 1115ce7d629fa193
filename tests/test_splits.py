import numpy as np
import pandas as pd
import pytest

from ncf_helpers.splits import (
    leakage_report,
    leave_last_out,
    random_split,
    stratified_split,
    train_val_test_split,
)


def make_ratings(n_users=40, n_items=60, density=0.3, seed=0):
    rng = np.random.default_rng(seed)
    mask = rng.random((n_users, n_items)) < density
    mask[:, 0] = True  # every user has at least one rating
    users, items = np.nonzero(mask)
    order = rng.permutation(len(users))  # file order is not sorted by user
    return pd.DataFrame({
        "userId": users[order] + 1,
        "movieId": items[order] + 1,
        "rating": rng.integers(1, 6, len(users)).astype(float),
        "timestamp": rng.integers(0, 10_000, len(users)),
    })


def key_set(frame):
    return set(zip(frame.userId, frame.movieId))


def assert_partition(ratings, *parts):
    keys = [key_set(p) for p in parts]
    assert sum(len(p) for p in parts) == len(ratings)
    for i in range(len(keys)):
        for j in range(i + 1, len(keys)):
            assert not keys[i] & keys[j]
    assert set().union(*keys) == key_set(ratings)
    for p in parts:
        assert list(p.columns) == list(ratings.columns)
        assert (p.index == np.arange(len(p))).all()


@pytest.mark.parametrize("split", [random_split, stratified_split])
def test_split_is_seeded_disjoint_and_complete(split):
    ratings = make_ratings()
    train, test = split(ratings, 0.2, seed=3)
    again_train, again_test = split(ratings, 0.2, seed=3)
    pd.testing.assert_frame_equal(train, again_train)
    pd.testing.assert_frame_equal(test, again_test)
    assert_partition(ratings, train, test)
    other_train, _ = split(ratings, 0.2, seed=4)
    assert key_set(other_train) != key_set(train)


def test_random_split_size():
    ratings = make_ratings()
    for fraction in (0.1, 0.25, 0.5):
        train, test = random_split(ratings, fraction, seed=0)
        assert len(test) == round(fraction * len(ratings))
        assert len(train) == len(ratings) - len(test)


def test_stratified_keeps_every_test_user_in_train_with_per_user_sizes():
    ratings = make_ratings(density=0.1)
    train, test = stratified_split(ratings, 0.25, seed=1)
    assert set(test.userId) <= set(train.userId)
    counts = ratings.userId.value_counts()
    test_counts = test.userId.value_counts().reindex(counts.index, fill_value=0)
    expected = np.minimum(np.round(counts * 0.25).astype(int), counts - 1)
    assert (test_counts == expected).all()
    assert leakage_report(train, test)["test_users_unseen"] == 0


def test_stratified_single_rating_user_stays_in_train():
    ratings = pd.DataFrame({"userId": [1, 2, 2, 2, 2], "movieId": [1, 1, 2, 3, 4],
                            "rating": 3.0, "timestamp": 0})
    train, test = stratified_split(ratings, 0.5, seed=0)
    assert 1 in set(train.userId) and 1 not in set(test.userId)
    assert (test.userId == 2).sum() == 2


def test_leave_last_out_holds_latest_per_user_ties_by_row_order():
    ratings = pd.DataFrame({
        "userId":    [1, 1, 1, 2, 2, 2, 3],
        "movieId":   [10, 11, 12, 10, 11, 12, 10],
        "rating":    [1.0, 2.0, 3.0, 4.0, 5.0, 1.0, 2.0],
        "timestamp": [5, 9, 1, 7, 7, 3, 4],
    })
    train, test = leave_last_out(ratings)
    # user 1: latest is movie 11; user 2: movies 10 and 11 tie at 7, the later row wins;
    # user 3 has one rating only, so stays in train.
    assert key_set(test) == {(1, 11), (2, 11)}
    assert (3, 10) in key_set(train)
    assert_partition(ratings, train, test)


def test_leave_last_out_on_random_data_is_the_max_timestamp():
    ratings = make_ratings()
    train, test = leave_last_out(ratings)
    assert test.userId.is_unique
    multi = ratings.userId.value_counts()
    assert set(test.userId) == set(multi[multi > 1].index)
    latest = train.groupby("userId").timestamp.max()
    assert (test.set_index("userId").timestamp >= latest.reindex(test.userId).values).all()


def test_leave_last_out_needs_timestamp():
    with pytest.raises(ValueError, match="timestamp"):
        leave_last_out(make_ratings().drop(columns="timestamp"))


@pytest.mark.parametrize("method", ["random", "stratified"])
def test_train_val_test_split_fractional(method):
    ratings = make_ratings()
    train, val, test = train_val_test_split(ratings, 0.1, 0.2, seed=5, method=method)
    assert_partition(ratings, train, val, test)
    again = train_val_test_split(ratings, 0.1, 0.2, seed=5, method=method)
    for a, b in zip((train, val, test), again):
        pd.testing.assert_frame_equal(a, b)
    if method == "random":
        assert len(test) == round(0.1 * len(ratings))
        assert len(val) == round(0.2 * (len(ratings) - len(test)))
    else:
        assert set(val.userId) <= set(train.userId)
        assert set(test.userId) <= set(train.userId) | set(val.userId)


def test_train_val_test_split_last():
    ratings = make_ratings(density=0.05)
    train, val, test = train_val_test_split(ratings, method="last")
    assert_partition(ratings, train, val, test)
    assert test.userId.is_unique and val.userId.is_unique
    both = test.merge(val, on="userId", suffixes=("_test", "_val"))
    assert (both.timestamp_test >= both.timestamp_val).all()
    assert set(val.userId) <= set(train.userId)


def test_bad_arguments():
    ratings = make_ratings()
    for bad in (0, 1, 1.5, -0.1, True, "0.1"):
        with pytest.raises(ValueError, match="test_fraction"):
            random_split(ratings, bad)
    with pytest.raises(ValueError, match="method"):
        train_val_test_split(ratings, method="temporal")
    with pytest.raises(TypeError):
        random_split(ratings.to_numpy())
    with pytest.raises(ValueError, match="movieId"):
        random_split(ratings.drop(columns="movieId"))


def test_leakage_report_hand_made():
    train = pd.DataFrame({"userId": [1, 1, 2, 3], "movieId": [10, 11, 10, 12]})
    test = pd.DataFrame({"userId": [1, 2, 4, 4, 3], "movieId": [10, 13, 10, 14, 11]})
    report = leakage_report(train, test)
    # (1, 10) is in both; user 4 is unseen; movies 13 and 14 are unseen;
    # rows with an unseen user or movie: (2, 13), (4, 10), (4, 14).
    assert report.to_dict() == {
        "train_rows": 4, "test_rows": 5, "shared_pairs": 1, "test_users_unseen": 1,
        "test_items_unseen": 2, "test_rows_with_unseen_user_or_item": 3,
    }
