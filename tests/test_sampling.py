import time

import numpy as np
import pytest
import torch

from ncf_helpers.sampling import (
    NegativeSampler,
    add_negatives,
    check_ratio,
    iterate_batches,
    to_tensors,
)


def dense_interactions(n_users=60, n_items=40, density=0.7, seed=0):
    rng = np.random.default_rng(seed)
    mask = rng.random((n_users, n_items)) < density
    mask[:, -1] = False  # leave every user at least one unseen item
    users, items = np.nonzero(mask)
    return users, items, n_items


@pytest.mark.parametrize("popularity", [None, 0.75])
def test_every_negative_is_unseen(popularity):
    users, items, n_items = dense_interactions()
    seen = set(zip(users.tolist(), items.tolist()))
    sampler = NegativeSampler(users, items, n_items, popularity=popularity)
    rng = np.random.default_rng(1)
    owners = rng.integers(0, 60, size=20_000)
    negatives = sampler.sample(owners, rng)
    assert negatives.shape == owners.shape
    assert negatives.min() >= 0 and negatives.max() < n_items
    assert not any((u, i) in seen for u, i in zip(owners.tolist(), negatives.tolist()))
    # contains() agrees with the set, both ways
    assert sampler.contains(users, items).all()
    assert not sampler.contains(owners, negatives).any()


@pytest.mark.parametrize("popularity", [None, 1.0])
def test_user_with_one_unseen_item_always_gets_it(popularity):
    n_items = 50
    users = np.r_[np.zeros(n_items - 1, dtype=int), 1]
    items = np.r_[np.delete(np.arange(n_items), 17), 3]  # user 0 has only item 17 unseen
    sampler = NegativeSampler(users, items, n_items, popularity=popularity)
    # 300 draws for user 0: rejection gives up after a few rounds, so the
    # enumerate-the-unseen fallback must supply them.
    negatives = sampler.sample(np.r_[np.zeros(300, dtype=int), np.ones(300, dtype=int)], 0)
    assert (negatives[:300] == 17).all()
    assert (negatives[300:] != 3).all()


def test_user_who_rated_everything_raises_quickly():
    n_items = 30
    users = np.r_[np.full(n_items, 4), 0]
    items = np.r_[np.arange(n_items), 0]
    sampler = NegativeSampler(users, items, n_items)
    start = time.perf_counter()
    with pytest.raises(ValueError, match="user index 4 has interacted with all 30 items"):
        sampler.sample([0, 4, 0])
    assert time.perf_counter() - start < 1.0


def test_unknown_user_has_no_interactions():
    sampler = NegativeSampler([0], [0], 5)
    assert set(sampler.sample(np.full(200, 9), 0)) == {0, 1, 2, 3, 4}


def test_constructor_validation():
    with pytest.raises(ValueError, match="empty"):
        NegativeSampler([], [], 10)
    with pytest.raises(ValueError, match="same length"):
        NegativeSampler([0, 1], [0], 10)
    with pytest.raises(IndexError, match=r"items must be in \[0, 10\); found 10"):
        NegativeSampler([0], [10], 10)
    with pytest.raises(ValueError, match="n_items"):
        NegativeSampler([0], [0], 0)
    with pytest.raises(IndexError, match="users must be non-negative; found -1"):
        NegativeSampler([-1], [0], 10)


@pytest.mark.parametrize("bad, error", [
    (-0.1, ValueError), (float("nan"), ValueError), (float("inf"), ValueError),
    ("0.5", ValueError), (None, ValueError), (True, ValueError),
])
def test_bad_ratio_raises(bad, error):
    with pytest.raises(error, match="negative_samples_ratio"):
        check_ratio(bad)
    sampler = NegativeSampler([0], [0], 5)
    with pytest.raises(error, match="negative_samples_ratio"):
        add_negatives(np.array([0]), np.array([0]), np.array([4.0]), sampler, bad)


def test_good_ratio_is_float():
    assert check_ratio(0) == 0.0 and check_ratio(np.float32(0.5)) == 0.5
    assert check_ratio(3) == 3.0  # more negatives than positives is allowed


@pytest.mark.parametrize("ratio", [0.4, 1.0, 2.5])
def test_add_negatives_adds_exactly_round_ratio_n_and_keeps_positives(ratio):
    users, items, n_items = dense_interactions(density=0.3)
    targets = np.random.default_rng(0).integers(1, 6, len(users)).astype(np.float32)
    sampler = NegativeSampler(users, items, n_items)
    u, i, t = add_negatives(users, items, targets, sampler, ratio, rng=2, negative_value=-1.0)
    n, n_neg = len(users), int(round(ratio * len(users)))
    assert len(u) == len(i) == len(t) == n + n_neg
    assert (u[:n] == users).all() and (i[:n] == items).all() and (t[:n] == targets).all()
    assert t.dtype == np.float32 and (t[n:] == -1.0).all()
    assert not sampler.contains(u[n:], i[n:]).any()
    # each positive's user gets floor(ratio) or ceil(ratio) negatives
    per_user_pos = np.bincount(users, minlength=60)
    per_user_neg = np.bincount(u[n:], minlength=60)
    assert (per_user_neg >= np.floor(ratio) * per_user_pos).all()
    assert (per_user_neg <= np.ceil(ratio) * per_user_pos).all()


def test_add_negatives_ratio_zero_and_reproducible():
    users, items, n_items = dense_interactions(density=0.3)
    targets = np.ones(len(users))
    sampler = NegativeSampler(users, items, n_items)
    u, i, t = add_negatives(users, items, targets, sampler, 0)
    assert len(u) == len(users) and t.dtype == np.float32
    first = add_negatives(users, items, targets, sampler, 0.5, rng=7)
    second = add_negatives(users, items, targets, sampler, 0.5, rng=7)
    for a, b in zip(first, second):
        assert (a == b).all()


def test_popularity_mode_prefers_popular_items():
    # Item 0 is rated by users 0..49 (count 50), item 1 once by user 50; the other
    # 8 items never. User 50 has not rated item 0: with alpha = 1 it should be drawn
    # with probability 51 / (51 + 8) = 0.86, against 1/9 = 0.11 when uniform.
    users = np.r_[np.arange(50), 50]
    items = np.r_[np.zeros(50, dtype=int), 1]
    owners = np.full(5_000, 50)
    popular = NegativeSampler(users, items, 10, popularity=1.0).sample(owners, 0)
    uniform = NegativeSampler(users, items, 10).sample(owners, 0)
    assert 0.80 < (popular == 0).mean() < 0.92
    assert 0.08 < (uniform == 0).mean() < 0.15
    assert (popular != 1).all() and (uniform != 1).all()


def test_no_dense_matrix_for_huge_catalogues():
    n = 1_000_000  # 1e6 users x 1e6 items = 1e12 cells; a dense mask would need ~1 TB
    users = np.array([0, 0, n - 1])
    items = np.array([0, n - 1, 5])
    for popularity in (None, 0.75):
        sampler = NegativeSampler(users, items, n, popularity=popularity)
        negatives = sampler.sample(np.array([n - 1, 0, n - 1, 12345]), 0)
        assert not sampler.contains([n - 1, 0, n - 1, 12345], negatives).any()
        assert sampler.contains([0, n - 1], [n - 1, 5]).all()
        assert sampler.keys.nbytes == 3 * 8


def test_iterate_batches_covers_every_row_once_and_is_reproducible():
    u, i, t = to_tensors(np.arange(103), np.arange(103) * 2, np.arange(103))
    assert u.dtype == torch.int64 and t.dtype == torch.float32

    def epoch(seed):
        g = torch.Generator().manual_seed(seed)
        return list(iterate_batches(u, i, t, batch_size=10, shuffle=True, generator=g))

    batches = epoch(0)
    assert [len(b[0]) for b in batches] == [10] * 10 + [3]
    seen = torch.cat([b[0] for b in batches])
    assert sorted(seen.tolist()) == list(range(103))
    assert not torch.equal(seen, torch.arange(103))  # shuffled
    for bu, bi, bt in batches:  # rows stay aligned
        assert torch.equal(bi, bu * 2) and torch.equal(bt, bu.float())
    assert all(torch.equal(a[0], b[0]) for a, b in zip(batches, epoch(0)))
    assert not torch.equal(seen, torch.cat([b[0] for b in epoch(1)]))
    ordered = torch.cat([b[0] for b in iterate_batches(u, i, t, 10, shuffle=False)])
    assert torch.equal(ordered, torch.arange(103))
    with pytest.raises(ValueError, match="batch_size"):
        next(iterate_batches(u, i, t, batch_size=0))


# ------------------------------------------------------------------ torch tensors
def test_tensor_sampling_stays_a_tensor_and_never_returns_a_known_pair():
    users, items, n_items = dense_interactions()
    sampler = NegativeSampler(users, items, n_items)
    owners = torch.as_tensor(np.repeat(np.arange(60), 200))
    drawn = sampler.sample(owners, torch.Generator().manual_seed(0))
    assert torch.is_tensor(drawn) and drawn.dtype == torch.int64
    assert drawn.device == owners.device and drawn.shape == owners.shape
    assert drawn.min() >= 0 and drawn.max() < n_items
    known = set(zip(users.tolist(), items.tolist()))
    assert not any(p in known for p in zip(owners.tolist(), drawn.tolist()))
    # every unseen item of user 0 is drawn: uniform over the unseen, not a subset
    assert set(drawn[owners == 0].tolist()) == set(range(n_items)) - set(items[users == 0].tolist())


def test_tensor_contains_agrees_with_numpy():
    users, items, n_items = dense_interactions()
    sampler = NegativeSampler(users, items, n_items)
    rng = np.random.default_rng(3)
    qu, qi = rng.integers(0, 60, 500), rng.integers(0, n_items, 500)
    mask = sampler.contains(torch.as_tensor(qu), torch.as_tensor(qi))
    assert torch.is_tensor(mask) and mask.dtype == torch.bool
    np.testing.assert_array_equal(mask.numpy(), sampler.contains(qu, qi))
    assert 0 < mask.sum() < 500


def test_tensor_sampling_follows_the_generator():
    users, items, n_items = dense_interactions(density=0.3)
    sampler = NegativeSampler(users, items, n_items)
    owners = torch.arange(60).repeat(10)
    first = sampler.sample(owners, torch.Generator().manual_seed(5))
    assert torch.equal(first, sampler.sample(owners, torch.Generator().manual_seed(5)))
    assert torch.equal(first, sampler.sample(owners, 5))  # a seed builds the same generator
    assert not torch.equal(first, sampler.sample(owners, 6))


@pytest.mark.parametrize("popularity", [None, 1.0])
def test_tensor_sampling_of_a_user_with_one_unseen_item_is_exact(popularity):
    users, items = np.zeros(999, dtype=np.int64), np.delete(np.arange(1000), 500)
    sampler = NegativeSampler(np.r_[users, 1], np.r_[items, 0], 1000, popularity=popularity)
    drawn = sampler.sample(torch.zeros(50, dtype=torch.long), torch.Generator().manual_seed(1))
    assert (drawn == 500).all()


def test_tensor_sampling_refuses_a_user_who_rated_everything_and_bad_indices():
    sampler = NegativeSampler([0, 1, 1, 1], [0, 0, 1, 2], 3, n_users=2)
    with pytest.raises(ValueError, match="user index 1 has interacted with all 3 items"):
        sampler.sample(torch.tensor([0, 1]), 0)
    with pytest.raises(IndexError, match=r"users must be in \[0, 2\); found 2"):
        sampler.sample(torch.tensor([0, 2]), 0)


def test_add_negatives_on_tensors_refuses_a_user_who_rated_everything():
    # The device draw picks the j-th unseen item: with none unseen it would return -1.
    users, items = np.r_[0, 0, 0, 1], np.r_[0, 1, 2, 0]
    sampler = NegativeSampler(users, items, 3)
    for data in (to_tensors(users, items, np.ones(4)), (users, items, np.ones(4))):
        with pytest.raises(ValueError, match="user index 0 has interacted with all 3 items"):
            add_negatives(*data, sampler, 1.0, rng=0)


def test_tensor_popularity_mode_prefers_popular_items():
    users = np.r_[np.arange(50), 50]
    items = np.r_[np.zeros(50, dtype=int), 1]
    popular = NegativeSampler(users, items, 10, popularity=1.0).sample(
        torch.full((5_000,), 50), torch.Generator().manual_seed(0))
    assert 0.80 < (popular == 0).float().mean() < 0.92 and (popular != 1).all()


@pytest.mark.parametrize("ratio", [0.4, 2.5])
def test_add_negatives_on_tensors(ratio):
    users, items, n_items = dense_interactions(density=0.3)
    targets = np.random.default_rng(0).integers(1, 6, len(users)).astype(np.float32)
    sampler = NegativeSampler(users, items, n_items)
    u, i, t = add_negatives(*to_tensors(users, items, targets), sampler, ratio,
                            rng=torch.Generator().manual_seed(2), negative_value=-1.0)
    n, n_neg = len(users), int(round(ratio * len(users)))
    assert all(torch.is_tensor(a) for a in (u, i, t)) and t.dtype == torch.float32
    assert len(u) == len(i) == len(t) == n + n_neg
    assert (u[:n].numpy() == users).all() and (i[:n].numpy() == items).all()
    assert (t[:n].numpy() == targets).all() and (t[n:] == -1.0).all()
    assert not sampler.contains(u[n:], i[n:]).any()
    per_user_pos = np.bincount(users, minlength=60)
    per_user_neg = np.bincount(u[n:].numpy(), minlength=60)
    assert (per_user_neg >= np.floor(ratio) * per_user_pos).all()
    assert (per_user_neg <= np.ceil(ratio) * per_user_pos).all()
    again = add_negatives(*to_tensors(users, items, targets), sampler, ratio,
                          rng=torch.Generator().manual_seed(2))
    assert torch.equal(again[1], i)
