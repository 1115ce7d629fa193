"""Train/validation/test splits of a ratings frame, and leakage checks.

Every split returns frames in the canonical ratings schema (see :mod:`ncf_helpers.data`)
with a fresh 0..n-1 index, and is reproducible from its ``seed``.
"""
import numpy as np
import pandas as pd

from .checks import fraction, instance, non_negative_int, one_of, require_columns, time_order

# What to do when a split would leave a part empty, by method.
_EMPTY_HINT = {
    "random": "use more ratings or a fraction further from 0 and 1",
    "stratified": "a user keeps at least one rating in train, so only users with 2+ ratings "
                  "give test rows; use a larger fraction or users with more ratings",
    "last": "a user with a single rating stays in train; keep users with at least 2 ratings "
            "(3 for train_val_test_split(method='last'))",
}


def _frame(ratings):
    instance(ratings, pd.DataFrame, "ratings", "pass the ratings frame, e.g. "
             "load_movielens().ratings")
    require_columns(ratings, ["userId", "movieId"], "ratings")
    if len(ratings) < 2:
        raise ValueError(f"need at least 2 ratings to split, got {len(ratings)}")
    return ratings


# Each returns the positions of the test rows.
def _random_rows(ratings, test_fraction, seed):
    n_test = int(round(test_fraction * len(ratings)))
    return np.random.default_rng(seed).permutation(len(ratings))[:n_test]


def _stratified_rows(ratings, test_fraction, seed):
    rng = np.random.default_rng(seed)
    users = ratings["userId"].to_numpy()
    order = np.lexsort((rng.random(len(users)), users))  # shuffle within each user
    counts = np.bincount(pd.factorize(users[order])[0])
    position = np.arange(len(order)) - np.repeat(np.cumsum(counts) - counts, counts)
    n_test = np.minimum(np.round(counts * test_fraction).astype(int), counts - 1)
    return order[position < np.repeat(n_test, counts)]


def _last_rows(ratings):
    require_columns(ratings, ["timestamp"], "ratings (leave-last-out orders by time)")
    missing = ratings["timestamp"].isna().to_numpy()
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise ValueError(f"ratings['timestamp'] is missing at row {row} (userId "
                         f"{ratings['userId'].iloc[row]}) and {int(missing.sum()) - 1} more; "
                         "leave-last-out needs each rating's time: fill or drop those rows")
    times = time_order(ratings["timestamp"], "ratings['timestamp']")
    users = ratings["userId"].to_numpy()
    order = np.lexsort((np.arange(len(users)), times, users))
    last = np.r_[users[order][1:] != users[order][:-1], True]
    first = np.r_[True, users[order][1:] != users[order][:-1]]
    return order[last & ~first]  # a user's only rating is both: it stays in train


_TEST_ROWS = {"random": _random_rows, "stratified": _stratified_rows, "last": _last_rows}


def _split(ratings, method, part, *args):
    """``(rest, part)`` frames; an empty part is an error naming it and what to do."""
    test_mask = np.zeros(len(_frame(ratings)), dtype=bool)
    test_mask[_TEST_ROWS[method](ratings, *args)] = True
    for name, mask in (("train", ~test_mask), (part, test_mask)):
        if not mask.any():
            raise ValueError(f"the {name} part of this {method!r} split would be empty "
                             f"({len(ratings)} ratings in all); {_EMPTY_HINT[method]}")
    return (ratings[~test_mask].reset_index(drop=True),
            ratings[test_mask].reset_index(drop=True))


def random_split(ratings, test_fraction=0.1, seed=0):
    """The original's random holdout: ``test_fraction`` of all rows, chosen uniformly.

    Unlike the original's ``df.sample`` it is seeded, so the split is the same on every run.
    A user or movie may end up only in the test part (see :func:`leakage_report`).
    """
    return _split(ratings, "random", "test", fraction(test_fraction, "test_fraction"),
                  non_negative_int(seed, "seed"))


def stratified_split(ratings, test_fraction=0.1, seed=0):
    """Per-user holdout: each user keeps ``1 - test_fraction`` of their ratings in train
    (rounded, and at least one), so every test user is also a train user."""
    return _split(ratings, "stratified", "test", fraction(test_fraction, "test_fraction"),
                  non_negative_int(seed, "seed"))


def leave_last_out(ratings):
    """Hold out each user's latest rating (by ``timestamp``; ties broken by row order).

    The protocol of the NCF paper. Users with a single rating stay in train only.
    ``timestamp`` must hold numbers or datetimes (time-zone aware ones too); text is
    refused with a TypeError, as it would sort "100" before "99".
    """
    return _split(ratings, "last", "test")


def train_val_test_split(ratings, test_fraction=0.1, val_fraction=0.1, seed=0,
                         method="random"):
    """Carve test, then validation from what is left, with the same ``method``.

    ``method`` is ``"random"``, ``"stratified"`` or ``"last"`` (leave-last-out twice:
    the latest rating is the test item, the one before it the validation item).
    ``val_fraction`` is a fraction of the remaining train part. Pick epochs and
    hyperparameters on validation; touch test once per model.
    """
    one_of(method, tuple(_TEST_ROWS), "method")
    if method == "last":
        rest, test = _split(ratings, method, "test")
        train, val = _split(rest, method, "validation")
    else:
        test_fraction = fraction(test_fraction, "test_fraction")
        val_fraction = fraction(val_fraction, "val_fraction")
        seed = non_negative_int(seed, "seed")
        rest, test = _split(ratings, method, "test", test_fraction, seed)
        train, val = _split(rest, method, "validation", val_fraction, seed + 1)
    return train, val, test


def leakage_report(train, test):
    """Count what a test set shares with, or lacks from, its train set.

    Returns
    -------
    pandas.Series
        ``shared_pairs`` (must be 0: the same rating in both parts is leakage),
        ``test_users_unseen`` and ``test_items_unseen`` (users/movies the model never
        saw in train: their embeddings are untrained) and the rows they cover.
    """
    for name, frame in (("train", train), ("test", test)):
        require_columns(frame, ["userId", "movieId"], name)
    pairs = lambda f: pd.MultiIndex.from_frame(f[["userId", "movieId"]])  # noqa: E731
    unseen_user = ~test["userId"].isin(train["userId"].unique())
    unseen_item = ~test["movieId"].isin(train["movieId"].unique())
    return pd.Series({
        "train_rows": len(train),
        "test_rows": len(test),
        "shared_pairs": int(pairs(test).isin(pairs(train)).sum()),
        "test_users_unseen": int(test.loc[unseen_user, "userId"].nunique()),
        "test_items_unseen": int(test.loc[unseen_item, "movieId"].nunique()),
        "test_rows_with_unseen_user_or_item": int((unseen_user | unseen_item).sum()),
    })
