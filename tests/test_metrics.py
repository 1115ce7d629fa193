import numpy as np
import pytest

from ncf_helpers.base import Recommender
from ncf_helpers.metrics import (
    ValMetric,
    full_ranking_metric,
    full_ranking_metrics,
    mae,
    ranking_metrics_from_candidates,
    ranking_metrics_from_ranks,
    rmse,
    rmse_metric,
    sample_candidates,
    sampled_auc_metric,
    sampled_ranking_metric,
)


# --- rating error -------------------------------------------------------------
def test_rmse_and_mae_hand_computed():
    y_true, y_pred = [1.0, 2.0, 3.0, 4.0], [2.0, 2.0, 1.0, 4.0]
    # errors: 1, 0, -2, 0
    assert rmse(y_true, y_pred) == pytest.approx(np.sqrt(5 / 4))
    assert mae(y_true, y_pred) == pytest.approx(3 / 4)
    assert rmse([3.0], [3.0]) == 0.0


@pytest.mark.parametrize("metric", [rmse, mae])
def test_rating_errors_reject_bad_input(metric):
    with pytest.raises(ValueError, match="same length"):
        metric([1, 2], [1])
    with pytest.raises(ValueError, match="empty"):
        metric([], [])
    with pytest.raises(ValueError, match="y_pred"):
        metric([1, 2], [1, np.nan])


# --- metrics from ranks -------------------------------------------------------
@pytest.mark.parametrize("rank, ndcg",
                         [(0, 1.0), (2, 0.5), (9, 1 / np.log2(11)), (10, 0.0), (50, 0.0)])
def test_single_held_out_item_at_known_rank(rank, ndcg):
    m = ranking_metrics_from_ranks([rank], [7], k=10)
    assert m["hr"] == float(rank < 10)
    assert m["ndcg"] == pytest.approx(ndcg)
    assert m["n_users"] == 1


def test_several_relevant_items_hand_example():
    # One user, K=5, held-out items at ranks 0, 3 and 7 (the last one misses).
    m = ranking_metrics_from_ranks([7, 0, 3], ["u", "u", "u"], k=5)
    assert m["hr"] == 1.0
    assert m["precision"] == pytest.approx(2 / 5)
    assert m["recall"] == pytest.approx(2 / 3)
    # AP@5: precision at the hits (1/1 at rank 0, 2/4 at rank 3) over min(5, 3).
    assert m["map"] == pytest.approx((1 + 2 / 4) / 3)
    dcg = 1 / np.log2(2) + 1 / np.log2(5)
    idcg = 1 / np.log2(2) + 1 / np.log2(3) + 1 / np.log2(4)
    assert m["ndcg"] == pytest.approx(dcg / idcg)


def test_metrics_are_means_over_users():
    # user 0: hit at rank 0; user 1: miss
    m = ranking_metrics_from_ranks([0, 20], [0, 1], k=10)
    assert m["hr"] == 0.5 and m["ndcg"] == 0.5 and m["n_users"] == 2


def test_ranks_validation():
    with pytest.raises(ValueError, match="distinct"):
        ranking_metrics_from_ranks([1, 1], [0, 0], k=10)
    with pytest.raises(ValueError, match="k must"):
        ranking_metrics_from_ranks([1], [0], k=0)
    with pytest.raises(IndexError, match="ranks must be non-negative; found -1"):
        ranking_metrics_from_ranks([-1], [0], k=5)


# --- toy data shared by the protocol tests ---------------------------------------
N_USERS, N_ITEMS = 30, 200


@pytest.fixture
def split():
    rng = np.random.default_rng(1)
    keys = rng.choice(N_USERS * N_ITEMS, size=1500, replace=False)
    users, items = keys // N_ITEMS, keys % N_ITEMS
    first = np.unique(users, return_index=True)[1]  # one test pair per user
    test = np.zeros(len(users), dtype=bool)
    test[first] = True
    return users[~test], items[~test], users[test], items[test]


def perfect_scorer(test_users, test_items):
    held_out = set(zip(test_users.tolist(), test_items.tolist()))

    def score(users, items):
        return np.array([float((u, i) in held_out) for u, i in zip(users.tolist(), items.tolist())])

    return score


# --- sampled protocol ---------------------------------------------------------------
def test_candidates_exclude_rated_items_and_are_unique(split):
    tr_u, tr_i, te_u, te_i = split
    cand = sample_candidates(te_u, te_i, tr_u, tr_i, N_ITEMS, n_sampled=99, seed=0)
    assert cand.shape == (len(te_u), 100)
    assert np.array_equal(cand[:, 0], te_i)
    rated = set(zip(tr_u.tolist(), tr_i.tolist())) | set(zip(te_u.tolist(), te_i.tolist()))
    for u, row in zip(te_u, cand):
        assert len(set(row[1:].tolist())) == 99
        assert not any((u, i) in rated for i in row[1:].tolist())


def test_candidates_are_reproducible(split):
    tr_u, tr_i, te_u, te_i = split
    a = sample_candidates(te_u, te_i, tr_u, tr_i, N_ITEMS, n_sampled=20, seed=3)
    b = sample_candidates(te_u, te_i, tr_u, tr_i, N_ITEMS, n_sampled=20, seed=3)
    c = sample_candidates(te_u, te_i, tr_u, tr_i, N_ITEMS, n_sampled=20, seed=4)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_candidates_for_a_nearly_full_user_use_every_unrated_item():
    # User 0 rated all items but 5 of them: the 5 negatives must be exactly those.
    unrated = np.array([3, 17, 42, 99, 150])
    tr_i = np.setdiff1d(np.arange(N_ITEMS), np.append(unrated, 7))
    cand = sample_candidates([0], [7], np.zeros_like(tr_i), tr_i, N_ITEMS, n_sampled=5)
    assert np.array_equal(np.sort(cand[0, 1:]), unrated)


def test_candidates_error_when_user_has_too_few_unrated_items():
    tr_i = np.arange(1, N_ITEMS - 3)
    with pytest.raises(ValueError, match="user 4 has only 3 unrated items"):
        sample_candidates([4], [0], np.full_like(tr_i, 4), tr_i, N_ITEMS, n_sampled=99)


def test_candidates_validate_indices(split):
    tr_u, tr_i, te_u, te_i = split
    with pytest.raises(IndexError, match="test items"):
        sample_candidates(te_u, te_i + N_ITEMS, tr_u, tr_i, N_ITEMS)
    with pytest.raises(ValueError, match="same length"):
        sample_candidates(te_u, te_i[:-1], tr_u, tr_i, N_ITEMS)


def test_sampled_perfect_and_constant_scorers(split):
    tr_u, tr_i, te_u, te_i = split
    cand = sample_candidates(te_u, te_i, tr_u, tr_i, N_ITEMS)
    perfect = ranking_metrics_from_candidates(perfect_scorer(te_u, te_i), te_u, cand)
    assert perfect["hr"] == 1.0 and perfect["ndcg"] == 1.0
    assert perfect["n_test"] == len(te_u)
    # Pessimistic ties: a scorer that cannot tell items apart gets no credit.
    constant = ranking_metrics_from_candidates(lambda u, i: np.zeros(len(u)), te_u, cand)
    assert constant["hr"] == 0.0 and constant["ndcg"] == 0.0


def test_ranking_from_candidates_hand_example():
    cand = np.array([[10, 11, 12, 13], [20, 21, 22, 23]])
    # user 0: held-out item 10 scores below 11 and 12 -> rank 2; user 1: rank 0.
    score = {10: 0.5, 11: 0.9, 12: 0.7, 13: 0.1, 20: 1.0, 21: 0.0, 22: 0.0, 23: 0.0}
    score_fn = lambda u, i: np.array([score[x] for x in i.tolist()])  # noqa: E731
    m = ranking_metrics_from_candidates(score_fn, [0, 1], cand, k=2)
    assert m["hr"] == 0.5
    assert m["ndcg"] == pytest.approx(0.5)
    m = ranking_metrics_from_candidates(score_fn, [0, 1], cand, k=3)
    assert m["ndcg"] == pytest.approx((0.5 + 1) / 2)


def test_scorer_contract_is_checked(split):
    tr_u, tr_i, te_u, te_i = split
    cand = sample_candidates(te_u, te_i, tr_u, tr_i, N_ITEMS, n_sampled=5)
    with pytest.raises(ValueError, match="one score per pair"):
        ranking_metrics_from_candidates(lambda u, i: np.zeros(3), te_u, cand, k=3)
    with pytest.raises(ValueError, match="NaN"):
        ranking_metrics_from_candidates(lambda u, i: np.full(len(u), np.nan), te_u, cand, k=3)


# --- full protocol -------------------------------------------------------------------
def test_full_ranking_perfect_and_constant_scorers(split):
    tr_u, tr_i, te_u, te_i = split
    m = full_ranking_metrics(perfect_scorer(te_u, te_i), te_u, te_i, tr_u, tr_i, N_ITEMS,
                             chunk_size=7)
    assert m == pytest.approx({"hr": 1.0, "ndcg": 1.0, "precision": 0.1, "recall": 1.0,
                               "map": 1.0,
                               "n_users": len(np.unique(te_u))})
    m = full_ranking_metrics(lambda u, i: np.ones(len(u)), te_u, te_i, tr_u, tr_i, N_ITEMS)
    assert m["hr"] == 0.0


def test_full_ranking_masks_train_items(split):
    tr_u, tr_i, te_u, te_i = split
    train = set(zip(tr_u.tolist(), tr_i.tolist()))
    test = set(zip(te_u.tolist(), te_i.tolist()))

    # Train items score highest, then the held-out item: once the train items are
    # masked out, the held-out item is on top.
    def cheater(users, items):
        pairs = zip(users.tolist(), items.tolist())
        return np.array([2.0 if p in train else 1.0 if p in test else 0.0 for p in pairs])

    m = full_ranking_metrics(cheater, te_u, te_i, tr_u, tr_i, N_ITEMS, k=1)
    assert m["hr"] == 1.0 and m["ndcg"] == 1.0


def test_full_ranking_several_held_out_items_hand_example():
    # User 0 rated item 0 in train; held-out items 2, 5 and 6. Scores rank the
    # items 0 (masked), 1, 2, 3, 4, 5, ... so the ranks are 1, 4 and 5.
    m = full_ranking_metrics(lambda u, i: -i.astype(float), [0, 0, 0], [2, 5, 6], [0], [0],
                             n_items=10, k=5)
    assert m["hr"] == 1.0
    assert m["precision"] == pytest.approx(2 / 5)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["map"] == pytest.approx((1 / 2 + 2 / 5) / 3)
    assert m["ndcg"] == pytest.approx((1 / np.log2(3) + 1 / np.log2(6))
                                      / (1 + 1 / np.log2(3) + 1 / np.log2(4)))


def test_full_ranking_matches_brute_force(split):
    tr_u, tr_i, te_u, te_i = split
    rng = np.random.default_rng(0)
    # Coarse scores so that many ties occur; extra held-out items for some users.
    table = rng.integers(0, 5, size=(N_USERS, N_ITEMS)).astype(float)
    extra = np.setdiff1d(np.arange(N_ITEMS), tr_i[tr_u == 0])[:4]
    te_u, te_i = np.append(te_u, [0, 0, 0, 0]), np.append(te_i, extra)
    got = full_ranking_metrics(lambda u, i: table[u, i], te_u, te_i, tr_u, tr_i, N_ITEMS,
                               k=10, chunk_size=4)

    ranks, groups = [], []
    for user in np.unique(te_u):
        held_out = np.unique(te_i[te_u == user])
        candidates = np.setdiff1d(np.arange(N_ITEMS), np.setdiff1d(tr_i[tr_u == user], held_out))
        # ascending sort on (is_held_out, -score, item) puts held-out items last among ties
        is_held_out = np.isin(candidates, held_out)
        ranked = candidates[np.lexsort((candidates, is_held_out, -table[user, candidates]))]
        ranks += [int(np.flatnonzero(ranked == i)[0]) for i in held_out]
        groups += [user] * len(held_out)
    assert got == pytest.approx(ranking_metrics_from_ranks(ranks, groups, k=10))


# --- k against the candidates ---------------------------------------------------
def test_k_must_leave_candidates_out_of_the_top_k(split):
    tr_u, tr_i, te_u, te_i = split
    cand = sample_candidates(te_u, te_i, tr_u, tr_i, N_ITEMS, n_sampled=9)
    constant = lambda u, i: np.zeros(len(u))  # noqa: E731
    assert ranking_metrics_from_candidates(constant, te_u, cand, k=9)["hr"] == 0.0
    for k in (10, 50):  # every held-out item would be in the top k: HR = 1 for any model
        with pytest.raises(ValueError, match=rf"k={k} is not smaller than the 10 candidates "
                                             r"of each list.*use k < 10"):
            ranking_metrics_from_candidates(constant, te_u, cand, k=k)
        with pytest.raises(ValueError, match=rf"k={k} is not smaller than the 10 candidates"):
            sampled_ranking_metric(te_u, cand, k=k)


def test_full_ranking_k_must_be_smaller_than_every_users_candidates():
    # user 3 rated 6 of the 10 items in train: 4 candidates are left
    train_items = np.arange(6)
    args = ([3, 5], [7, 7], np.full(6, 3), train_items, 10)
    constant = lambda u, i: np.zeros(len(u))  # noqa: E731
    assert full_ranking_metrics(constant, *args, k=3)["hr"] == 0.0
    with pytest.raises(ValueError, match=r"k=4 but user 3 has only 4 candidate items.*k < 4"):
        full_ranking_metrics(constant, *args, k=4)
    with pytest.raises(ValueError, match=r"k=4 but user 3 has only 4 candidate items"):
        full_ranking_metric(*args, k=4)


# --- validation metrics for fit ----------------------------------------------
class Table(Recommender):
    """A "model" whose score for (user, item) is a fixed table entry."""

    def __init__(self, table):
        self.table = np.asarray(table, dtype=np.float64)
        self.n_users, self.n_items = self.table.shape

    def _predict(self, users, items):
        return self.table[users, items]


def test_val_metric_holds_a_name_a_mode_and_a_function():
    metric = ValMetric("constant", "max", lambda model: np.float32(0.25))
    assert metric(None) == 0.25 and type(metric(None)) is float
    assert (metric.name, metric.mode) == ("constant", "max")
    assert repr(metric) == "ValMetric('constant', 'max')"
    with pytest.raises(ValueError, match=r"mode must be one of \('min', 'max'\), got 'up'"):
        ValMetric("x", "up", len)
    with pytest.raises(TypeError, match="fn must be callable"):
        ValMetric("x", "min", 3.0)
    with pytest.raises(TypeError, match="name must be a str"):
        ValMetric(None, "min", len)


def test_rmse_metric_is_rmse_of_the_model_predictions():
    table = np.arange(12.0).reshape(3, 4)
    users, items, ratings = np.array([0, 2, 1]), np.array([3, 0, 1]), np.array([3.0, 9.0, 5.0])
    metric = rmse_metric(users, items, ratings)
    assert (metric.name, metric.mode) == ("rmse", "min")
    # predictions 3, 8, 5: errors 0, -1, 0
    assert metric(Table(table)) == pytest.approx(np.sqrt(1 / 3))
    with pytest.raises(ValueError, match="same length"):
        rmse_metric(users, items, ratings[:2])
    with pytest.raises(ValueError, match="validation users is empty"):
        rmse_metric([], [], [])


def test_sampled_auc_metric_orders_positives_above_negatives():
    n_users, n_items = 3, 6
    users, items = np.array([0, 1, 2]), np.array([0, 1, 2])
    known_u, known_i = np.r_[users, 0, 1], np.r_[items, 5, 4]
    metric = sampled_auc_metric(users, items, known_u, known_i, n_items, seed=1, name="auc")
    assert (metric.name, metric.mode) == ("auc", "max")
    held_out = np.zeros((n_users, n_items))
    held_out[users, items] = 1.0
    assert metric(Table(held_out)) == 1.0       # every positive above its negative
    assert metric(Table(-held_out)) == 0.0      # every positive below
    assert metric(Table(np.zeros((n_users, n_items)))) == 0.5  # ties count one half
    with pytest.raises(IndexError, match="items must be in"):
        sampled_auc_metric(users, items, known_u, known_i + 10, n_items)


@pytest.mark.parametrize("name", ["hr", "ndcg"])
def test_sampled_ranking_metric_matches_ranking_metrics(split, name):
    tr_u, tr_i, te_u, te_i = split
    cand = sample_candidates(te_u, te_i, tr_u, tr_i, N_ITEMS, seed=3)
    model = Table(np.random.default_rng(0).random((N_USERS, N_ITEMS)))
    metric = sampled_ranking_metric(te_u, cand, k=5, metric=name)
    assert (metric.name, metric.mode) == (f"sampled_{name}", "max")
    expected = ranking_metrics_from_candidates(model.predict, te_u, cand, 5)[name]
    assert metric(model) == expected and 0 < expected < 1
    with pytest.raises(ValueError, match="sample_candidates"):
        sampled_ranking_metric(te_u, cand[:, 0])
    with pytest.raises(ValueError, match="k must"):
        sampled_ranking_metric(te_u, cand, k=0)
    with pytest.raises(ValueError, match=r"metric must be one of \('hr', 'ndcg'\)"):
        sampled_ranking_metric(te_u, cand, metric="map")


@pytest.mark.parametrize("name", ["hr", "ndcg", "map"])
def test_full_ranking_metric_matches_full_ranking_metrics(split, name):
    tr_u, tr_i, te_u, te_i = split
    table = np.random.default_rng(2).random((N_USERS, N_ITEMS))
    metric = full_ranking_metric(te_u, te_i, tr_u, tr_i, N_ITEMS, k=20, metric=name,
                                 chunk_size=7)
    assert (metric.name, metric.mode) == (f"full_{name}", "max")
    expected = full_ranking_metrics(Table(table).predict, te_u, te_i, tr_u, tr_i, N_ITEMS,
                                    k=20)[name]
    assert metric(Table(table)) == pytest.approx(expected) and 0 < expected < 1
    # a model that scores the held-out items highest hits every one of them
    best = table.copy()
    best[te_u, te_i] = 2.0
    assert metric(Table(best)) == 1.0
    with pytest.raises(ValueError, match="k must"):
        full_ranking_metric(te_u, te_i, tr_u, tr_i, N_ITEMS, k=0)
    with pytest.raises(IndexError, match="validation items"):
        full_ranking_metric(te_u, te_i + N_ITEMS, tr_u, tr_i, N_ITEMS)
    with pytest.raises(ValueError, match="validation users is empty.*nothing to validate"):
        full_ranking_metric([], [], tr_u, tr_i, N_ITEMS)
