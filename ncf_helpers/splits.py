"""Train/validation/test splits of a ratings frame, and leakage checks.

Every split returns frames in the canonical ratings schema (see :mod:`ncf_helpers.data`)
with a fresh 0..n-1 index, and is reproducible from its ``seed``.
"""
import numpy as np
import pandas as pd


def _check_fraction(fraction, name="test_fraction"):
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
        raise ValueError(f"{name} must be a number strictly between 0 and 1, got {fraction!r}")


def _check_frame(ratings):
    if not isinstance(ratings, pd.DataFrame):
        raise TypeError(f"ratings must be a pandas DataFrame, got {type(ratings).__name__}")
    missing = [c for c in ("userId", "movieId") if c not in ratings.columns]
    if missing:
        raise ValueError(f"ratings is missing column(s) {missing}")
    if len(ratings) < 2:
        raise ValueError(f"need at least 2 ratings to split, got {len(ratings)}")


def _by_mask(ratings, test_mask):
    return (ratings[~test_mask].reset_index(drop=True),
            ratings[test_mask].reset_index(drop=True))


def random_split(ratings, test_fraction=0.1, seed=0):
    """The seed's random holdout: ``test_fraction`` of all rows, chosen uniformly.

    Unlike the seed's ``df.sample`` it is seeded, so the split is the same on every run.
    A user or movie may end up only in the test part (see :func:`leakage_report`).
    """
    _check_frame(ratings)
    _check_fraction(test_fraction)
    n_test = int(round(test_fraction * len(ratings)))
    test_mask = np.zeros(len(ratings), dtype=bool)
    test_mask[np.random.default_rng(seed).permutation(len(ratings))[:n_test]] = True
    return _by_mask(ratings, test_mask)


def stratified_split(ratings, test_fraction=0.1, seed=0):
    """Per-user holdout: each user keeps ``1 - test_fraction`` of their ratings in train
    (rounded, and at least one), so every test user is also a train user."""
    _check_frame(ratings)
    _check_fraction(test_fraction)
    rng = np.random.default_rng(seed)
    users = ratings["userId"].to_numpy()
    order = np.lexsort((rng.random(len(users)), users))  # shuffle within each user
    counts = np.bincount(pd.factorize(users[order])[0])
    position = np.arange(len(order)) - np.repeat(np.cumsum(counts) - counts, counts)
    n_test = np.minimum(np.round(counts * test_fraction).astype(int), counts - 1)
    test_mask = np.zeros(len(users), dtype=bool)
    test_mask[order] = position < np.repeat(n_test, counts)
    return _by_mask(ratings, test_mask)


def leave_last_out(ratings):
    """Hold out each user's latest rating (by ``timestamp``; ties broken by row order).

    The protocol of the NCF paper. Users with a single rating stay in train only.
    """
    _check_frame(ratings)
    if "timestamp" not in ratings.columns:
        raise ValueError("leave_last_out needs a 'timestamp' column")
    users = ratings["userId"].to_numpy()
    order = np.lexsort((np.arange(len(users)), ratings["timestamp"].to_numpy(), users))
    last = np.r_[users[order][1:] != users[order][:-1], True]
    first = np.r_[True, users[order][1:] != users[order][:-1]]
    test_mask = np.zeros(len(users), dtype=bool)
    test_mask[order[last & ~first]] = True
    return _by_mask(ratings, test_mask)


def train_val_test_split(ratings, test_fraction=0.1, val_fraction=0.1, seed=0,
                         method="random"):
    """Carve test, then validation from what is left, with the same ``method``.

    ``method`` is ``"random"``, ``"stratified"`` or ``"last"`` (leave-last-out twice:
    the latest rating is the test item, the one before it the validation item).
    ``val_fraction`` is a fraction of the remaining train part. Pick epochs and
    hyperparameters on validation; touch test once per model.
    """
    if method == "last":
        rest, test = leave_last_out(ratings)
        train, val = leave_last_out(rest)
    elif method in ("random", "stratified"):
        split = random_split if method == "random" else stratified_split
        _check_fraction(val_fraction, "val_fraction")
        rest, test = split(ratings, test_fraction, seed)
        train, val = split(rest, val_fraction, seed + 1)
    else:
        raise ValueError(f"method must be 'random', 'stratified' or 'last', got {method!r}")
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
