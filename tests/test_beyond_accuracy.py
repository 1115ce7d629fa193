"""Beyond-accuracy metrics against values computed by hand on a toy.

The toy: 4 users, 6 items, lists of K = 3.

train interactions (user: items)      u0: 0 0 1 2   (item 0 twice: a repeat)
                                      u1: 0 1    u2: 0 3    u3: 0 1 4
    n_i (interactions) = 5 3 1 1 1 0  (N = 11)
    m_i (distinct users) = 4 3 1 1 1 0  (M = 4)

lists    u0: 0 1 3    u1: 0 2 5    u2: 1 0 3    u3: 0 1 2
    item 0 in 4 lists, 1 in 3, 2 in 2, 3 in 2, 5 in 1, 4 in none

genres   0: A   1: A B   2: A C   3: C   4: A   5: none
"""
import itertools
import math

import numpy as np
import pandas as pd
import pytest

from ncf_helpers import beyond_accuracy as ba

TRAIN_USERS = np.array([0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 3])
TRAIN_ITEMS = np.array([0, 0, 1, 2, 0, 1, 0, 3, 0, 1, 4])
TOP = np.array([[0, 1, 3], [0, 2, 5], [1, 0, 3], [0, 1, 2]])
N_ITEMS = 6
GENRES = np.array([[1, 0, 0], [1, 1, 0], [1, 0, 1], [0, 0, 1], [1, 0, 0], [0, 0, 0]])


# --------------------------------------------------------------------------- coverage
def test_catalogue_coverage_by_hand():
    # union {0, 1, 2, 3, 5}: 5 of 6 items
    assert ba.catalogue_coverage(TOP, N_ITEMS) == pytest.approx(5 / 6)
    assert ba.catalogue_coverage(TOP, 10) == pytest.approx(5 / 10)


def test_coverage_curve_by_hand():
    curve = ba.coverage_curve(TOP, N_ITEMS)
    # k=1: {0, 1}; k=2: {0, 1, 2}; k=3: {0, 1, 2, 3, 5}
    assert curve.index.tolist() == [1, 2, 3] and curve.index.name == "k"
    np.testing.assert_allclose(curve.to_numpy(), [2 / 6, 3 / 6, 5 / 6])


def test_coverage_curve_matches_coverage_of_each_prefix():
    rng = np.random.default_rng(0)
    top = np.array([rng.choice(40, size=8, replace=False) for _ in range(25)])
    curve = ba.coverage_curve(top, 40)
    assert curve.tolist() == [ba.catalogue_coverage(top[:, :k], 40) for k in range(1, 9)]


# --------------------------------------------------------------------------- novelty
NOVELTY = (5 * 2 + 3 * math.log2(4 / 3)) / 12  # items 2, 3, 3, 2, 5 -> 2 bits, item 1 x3


def test_novelty_by_hand():
    # -log2(m_i / M): item 0 -> 0, item 1 -> log2(4/3), items 2, 3 -> 2 bits;
    # item 5 (no train user) counts as known to one user -> 2 bits.
    assert ba.novelty(TOP, TRAIN_USERS, TRAIN_ITEMS, N_ITEMS) == pytest.approx(NOVELTY)


def test_novelty_counts_users_not_interactions():
    # Dropping u0's repeated interaction with item 0 changes nothing (m_0 stays 4);
    # under the interaction share (5/11 for item 0) the value would differ.
    once = ba.novelty(TOP, TRAIN_USERS[1:], TRAIN_ITEMS[1:], N_ITEMS)
    assert once == ba.novelty(TOP, TRAIN_USERS, TRAIN_ITEMS, N_ITEMS)
    share_of_interactions = np.mean(-np.log2(np.maximum(np.bincount(TRAIN_ITEMS, minlength=6),
                                                        1)[TOP] / 11))
    assert once != pytest.approx(share_of_interactions)


# --------------------------------------------------------------------------- popularity
def test_mean_popularity_by_hand():
    # n_i of the 12 slots: item 0 (5) x4, item 1 (3) x3, items 2, 3 (1) x2 each, item 5 (0)
    assert ba.mean_popularity(TOP, TRAIN_ITEMS, N_ITEMS) == pytest.approx(33 / 12)


def test_popularity_bias_by_hand():
    # head = ceil(0.1 * 6) = 1 item: item 0, 5/11 of the ratings, 4/12 of the slots
    assert ba.popularity_bias(TOP, TRAIN_ITEMS, N_ITEMS) == pytest.approx((4 / 12) / (5 / 11))


def test_popularity_bias_ties_go_to_the_lower_index():
    # head = 3 items: 0 (5), 1 (3), then 2 of the tied 2, 3, 4 (1 each):
    # 9/11 of the ratings, (4 + 3 + 2)/12 of the slots. Item 4 instead would give 7/12.
    assert ba.popularity_bias(TOP, TRAIN_ITEMS, N_ITEMS, head_share=0.5) == pytest.approx(
        (9 / 12) / (9 / 11))


def test_popularity_bias_of_lists_that_follow_the_ratings_is_one():
    # Every list shows every item, so the head's share of slots is its share of items:
    # with ratings spread evenly over the items, that is also its share of the ratings.
    top = np.tile(np.arange(10), (3, 1))
    assert ba.popularity_bias(top, np.arange(10), 10, head_share=0.2) == pytest.approx(1.0)


def test_head_size_is_not_fooled_by_float_rounding():
    assert ba._n_head(0.1, 30) == 3  # 0.1 * 30 = 3.0000000000000004
    assert ba._n_head(0.1, 6) == 1 and ba._n_head(0.1, 1682) == 169


def test_popularity_bins_by_hand():
    table = ba.popularity_bins(TOP, TRAIN_ITEMS, N_ITEMS, n_bins=3)
    # by popularity: 0, 1, 2, 3, 4, 5 -> groups {0, 1}, {2, 3}, {4, 5}
    assert table.index.tolist() == [1, 2, 3] and table.index.name == "group"
    assert table["n_items"].tolist() == [2, 2, 2]
    np.testing.assert_allclose(table["ratings_share"], [8 / 11, 2 / 11, 1 / 11])
    np.testing.assert_allclose(table["recommendations_share"], [7 / 12, 4 / 12, 1 / 12])


def test_popularity_bins_sizes_and_first_group_is_the_head():
    table = ba.popularity_bins(TOP, TRAIN_ITEMS, N_ITEMS, n_bins=4)
    assert table["n_items"].tolist() == [2, 2, 1, 1]
    rng = np.random.default_rng(1)
    items, top = rng.integers(0, 37, 500), np.argsort(rng.random((20, 37)), axis=1)[:, :5]
    deciles = ba.popularity_bins(top, items, 37)
    assert deciles["n_items"].sum() == 37 and deciles["n_items"].iloc[0] == 4
    ratio = deciles["recommendations_share"].iloc[0] / deciles["ratings_share"].iloc[0]
    assert ba.popularity_bias(top, items, 37) == pytest.approx(ratio)


# --------------------------------------------------------------------------- diversity
def test_genre_matrix_from_strings():
    genres = ba.genre_matrix(["A", "A|B", "A|C", "C", "A", "(no genres listed)"])
    assert genres.columns.tolist() == ["A", "B", "C"]
    np.testing.assert_array_equal(genres.to_numpy(), GENRES.astype(bool))
    assert not ba.genre_matrix(pd.Series(["A", np.nan, ""])).iloc[1:].to_numpy().any()


def test_intra_list_diversity_by_hand():
    # Jaccard distances: d(0,1) = 1/2, d(0,3) = 1, d(1,3) = 1, d(0,2) = 1/2, d(1,2) = 2/3.
    # u0, u2: (1/2 + 1 + 1)/3 = 5/6; u3: (1/2 + 1/2 + 2/3)/3 = 5/9;
    # u1: item 5 has no genres, so only the pair (0, 2) counts: 1/2.
    expected = (5 / 6 + 1 / 2 + 5 / 6 + 5 / 9) / 4
    assert ba.intra_list_diversity(TOP, GENRES) == pytest.approx(expected)
    assert ba.intra_list_diversity(TOP, GENRES.astype(bool)) == pytest.approx(expected)


def test_intra_list_diversity_leaves_out_lists_without_a_known_pair():
    assert ba.intra_list_diversity([[5, 0], [0, 1]], GENRES) == pytest.approx(0.5)
    assert math.isnan(ba.intra_list_diversity([[5, 0]], GENRES))


def test_intra_list_diversity_matches_a_loop_over_pairs():
    rng = np.random.default_rng(2)
    genres = rng.random((30, 5)) < 0.3
    top = np.argsort(rng.random((200, 30)), axis=1)[:, :6]
    per_list = []
    for row in top:
        d = [1 - (genres[a] & genres[b]).sum() / (genres[a] | genres[b]).sum()
             for a, b in itertools.combinations(row, 2) if genres[a].any() and genres[b].any()]
        if d:
            per_list.append(np.mean(d))
    assert ba.intra_list_diversity(top, genres) == pytest.approx(np.mean(per_list))


def test_intra_list_diversity_in_several_blocks_of_users(monkeypatch):
    rng = np.random.default_rng(3)
    genres = rng.random((30, 5)) < 0.4
    top = np.argsort(rng.random((50, 30)), axis=1)[:, :4]
    whole = ba.intra_list_diversity(top, genres)
    monkeypatch.setattr(ba, "_PAIRS_PER_BLOCK", 3 * 4 * 4)  # 3 users per block
    assert ba.intra_list_diversity(top, genres) == pytest.approx(whole)


def test_personalisation_by_hand():
    # overlaps: u0-u1 1, u0-u2 3, u0-u3 2, u1-u2 1, u1-u3 2, u2-u3 2 -> 11 of 6 pairs x K=3
    assert ba.personalisation(TOP) == pytest.approx(1 - 11 / 18)
    assert ba.personalisation([[0, 1], [0, 1]]) == 0.0
    assert ba.personalisation([[0, 1], [2, 3], [4, 5]]) == 1.0


def test_personalisation_matches_a_loop_over_pairs():
    rng = np.random.default_rng(4)
    top = np.argsort(rng.random((30, 15)), axis=1)[:, :5]
    overlaps = [len(set(a) & set(b)) / 5 for a, b in itertools.combinations(top, 2)]
    assert ba.personalisation(top) == pytest.approx(1 - np.mean(overlaps))


# --------------------------------------------------------------------------- all at once
def test_beyond_accuracy_metrics_row_by_hand():
    row = ba.beyond_accuracy_metrics(TOP, TRAIN_USERS, TRAIN_ITEMS, N_ITEMS, GENRES, name="toy")
    assert list(row) == ["model", "k", "n_users", "coverage", "novelty", "mean_popularity",
                         "popularity_bias", "diversity", "personalisation"]
    assert row["model"] == "toy" and row["k"] == 3 and row["n_users"] == 4
    expected = {"coverage": 5 / 6, "novelty": NOVELTY, "mean_popularity": 33 / 12,
                "popularity_bias": (4 / 12) / (5 / 11),
                "diversity": (5 / 6 + 1 / 2 + 5 / 6 + 5 / 9) / 4, "personalisation": 7 / 18}
    assert {k: row[k] for k in expected} == pytest.approx(expected)


def test_beyond_accuracy_metrics_table_of_models():
    rows = [ba.beyond_accuracy_metrics(top, TRAIN_USERS, TRAIN_ITEMS, N_ITEMS, name=name)
            for name, top in [("toy", TOP), ("same for all", np.tile([0, 1, 2], (4, 1)))]]
    table = pd.DataFrame(rows).set_index("model")
    assert "diversity" not in table.columns  # no genres given
    assert table.loc["same for all", "personalisation"] == 0.0
    assert table.loc["same for all", "coverage"] == pytest.approx(3 / 6)
    one_user = ba.beyond_accuracy_metrics([[0]], [0], [0], 2, [[1], [0]])
    assert "model" not in one_user
    assert math.isnan(one_user["personalisation"]) and math.isnan(one_user["diversity"])


# --------------------------------------------------------------------------- hostile input
@pytest.mark.parametrize("top, error, match", [
    (np.zeros((1, 7), int), ValueError, r"K=7 items.*only n_items=6"),
    (np.empty((0, 3), int), ValueError, r"top_items is empty"),
    (np.empty((3, 0), int), ValueError, r"top_items is empty"),
    ([[0, 6]], IndexError, r"in \[0, 6\); found 6 in row 0, position 1"),
    ([[0, 1], [-2, 2]], IndexError, r"found -2 in row 1, position 0"),
    ([[0, 1], [2, -1]], ValueError, r"-1 \(an empty place\) in row 1, position 1.*smaller K"),
    ([[0, np.nan]], ValueError, r"contains NaN \(first in row 0, position 1\)"),
    ([[0.0, 1.0]], TypeError, r"integer item indices, got dtype float64"),
    ([[0, 1], [2, 2]], ValueError, r"row 1 lists item 2 more than once"),
    ([[0, 1], [2]], ValueError, r"2-D array \(n_users, K\)"),
    ([0, 1, 2], ValueError, r"2-D array \(n_users, K\), got shape \(3,\)"),
])
def test_hostile_top_items(top, error, match):
    with pytest.raises(error, match=match):
        ba.catalogue_coverage(top, N_ITEMS)
    with pytest.raises(error, match=match):
        ba.beyond_accuracy_metrics(top, TRAIN_USERS, TRAIN_ITEMS, N_ITEMS)


@pytest.mark.parametrize("users, items, error, match", [
    ([], [], ValueError, r"train_items is empty"),
    ([0, 1], [0, 6], IndexError, r"train_items must be in \[0, 6\); found 6"),
    ([0, 1], [0.0, 1.0], TypeError, r"train_items must hold integer indices"),
    ([0, np.nan], [0, 1], TypeError, r"train_users must hold integer indices"),
    ([0], [0, 1], ValueError, r"same length"),
])
def test_hostile_train(users, items, error, match):
    with pytest.raises(error, match=match):
        ba.novelty(TOP, users, items, N_ITEMS)


@pytest.mark.parametrize("call, error, match", [
    (lambda: ba.popularity_bias(TOP, TRAIN_ITEMS, N_ITEMS, head_share=0), ValueError,
     r"head_share must be in \(0, 1\)"),
    (lambda: ba.popularity_bias(TOP, TRAIN_ITEMS, N_ITEMS, head_share=np.nan), ValueError,
     r"head_share must be a finite number"),
    (lambda: ba.popularity_bins(TOP, TRAIN_ITEMS, N_ITEMS, n_bins=7), ValueError,
     r"n_bins=7 is more than the 6 items"),
    (lambda: ba.mean_popularity(TOP, [], N_ITEMS), ValueError, r"train_items is empty"),
    (lambda: ba.catalogue_coverage(TOP, 0), ValueError, r"n_items must be an integer >= 1"),
    (lambda: ba.personalisation([[0, 1]]), ValueError, r"at least 2 users, got 1"),
    (lambda: ba.intra_list_diversity([[0], [1]], GENRES), ValueError,
     r"at least 2 items; top_items has K=1"),
    (lambda: ba.intra_list_diversity(TOP, GENRES * 2), ValueError,
     r"only 0 and 1 .* found 2.0 in row 0, column 0"),
    (lambda: ba.intra_list_diversity(TOP, np.where(GENRES, np.nan, 0)), ValueError,
     r"item_genres contains NaN"),
    (lambda: ba.intra_list_diversity(TOP, GENRES[:4]), IndexError, r"in \[0, 4\); found 5"),
    (lambda: ba.beyond_accuracy_metrics(TOP, TRAIN_USERS, TRAIN_ITEMS, N_ITEMS, GENRES[:5]),
     ValueError, r"item_genres must have shape \(6, d\), got \(5, 3\)"),
])
def test_hostile_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("dtype", [object, "str"])
def test_genre_matrix_has_no_column_for_empty_names(dtype):
    # pandas 3 stores text as Arrow strings, whose get_dummies names a column "" for "".
    genres = pd.Series(["A", "", None, "A||B", "B |C", " ", "(no genres listed)"], dtype=dtype)
    matrix = ba.genre_matrix(genres)
    assert matrix.columns.tolist() == ["A", "B", "C"]
    np.testing.assert_array_equal(matrix.to_numpy(), [[1, 0, 0], [0, 0, 0], [0, 0, 0],
                                                      [1, 1, 0], [0, 1, 1], [0, 0, 0],
                                                      [0, 0, 0]])
    assert ba.genre_matrix(pd.Series(["", None], dtype=dtype)).shape == (2, 0)
