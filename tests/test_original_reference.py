import numpy as np
import pandas as pd
import pytest
import torch

from ncf_helpers.original_reference import OriginalBookDataset
from ncf_helpers.sampling import NegativeSampler, add_negatives


def make_interactions(n_users=20, n_items=50, n=400, seed=0):
    rng = np.random.default_rng(seed)
    pairs = rng.choice(n_users * n_items, size=n, replace=False)
    return pd.DataFrame({"userId": pairs // n_items, "movieId": pairs % n_items,
                         "rating": rng.integers(1, 6, n).astype(float)})


def one_epoch(dataset):
    return [torch.stack(column) for column in zip(*(dataset[i] for i in range(len(dataset))))]


def test_items_are_float32_and_length_is_the_frame():
    frame = make_interactions()
    data = OriginalBookDataset(frame, movie_ids=np.arange(50), negative_samples_ratio=0.0)
    assert len(data) == len(frame)  # not (1 + ratio) * n: negatives displace positives
    user, movie, rating = data[3]
    assert user.dtype == movie.dtype == rating.dtype == torch.float32
    assert (user.item(), movie.item(), rating.item()) == tuple(frame.iloc[3][
        ["userId", "movieId", "rating"]])


def test_seed_bug_drops_about_ratio_of_positives_per_epoch():
    frame = make_interactions()
    n, ratio = len(frame), 0.4
    np.random.seed(0)
    users, movies, ratings = one_epoch(OriginalBookDataset(frame, np.arange(50), ratio))
    kept = int((ratings > 0).sum())
    # Binomial(400, 0.6): mean 240, sd ~10; the epoch has n rows, never more.
    assert len(ratings) == n
    assert 200 < kept < 280
    # its negatives are genuine (the original's scan is slow, not wrong) ...
    seen = set(zip(frame.userId, frame.movieId))
    negatives = ratings == 0
    assert not any((int(u), int(m)) in seen
                   for u, m in zip(users[negatives], movies[negatives]))
    # ... while add_negatives keeps all n positives and adds round(ratio * n) negatives
    sampler = NegativeSampler(frame.userId, frame.movieId, 50)
    _, _, targets = add_negatives(frame.userId.to_numpy(), frame.movieId.to_numpy(),
                                  frame.rating.to_numpy(), sampler, ratio, rng=0)
    assert int((targets > 0).sum()) == n and int((targets == 0).sum()) == round(ratio * n)


def test_reproducible_with_global_numpy_seed():
    frame = make_interactions(n=100)
    data = OriginalBookDataset(frame, np.arange(50), 0.5)
    np.random.seed(3)
    first = one_epoch(data)
    np.random.seed(3)
    second = one_epoch(data)
    assert all(torch.equal(a, b) for a, b in zip(first, second))


def test_ratio_outside_unit_interval_rejected_like_the_seed():
    frame = make_interactions()
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match=r"negative_samples_ratio must be in \[0, 1\]"):
            OriginalBookDataset(frame, np.arange(50), bad)
    with pytest.raises(ValueError, match="rating"):
        OriginalBookDataset(frame.drop(columns="rating"), np.arange(50))
