"""The Cornac and LensKit wrappers of experiments.peers, on small data.

Skipped, test by test, where the optional peers (requirements-peers.txt) are not installed.
"""
import importlib

import numpy as np
import pytest
import torch

from experiments import contenders, neumf_check, peers

# users 0-3 rate items 0-3, users 4-7 items 4-7; user 8 rates nothing, item 8 is unrated
N_USERS, N_ITEMS = 9, 9
_RNG = np.random.default_rng(0)
USERS = np.repeat(np.arange(8), 3)
ITEMS = np.concatenate([(u // 4) * 4 + _RNG.choice(4, 3, replace=False) for u in range(8)])


def cornac():
    return pytest.importorskip("cornac")


def lenskit():
    return pytest.importorskip("lenskit")


def test_missing_says_how_to_install_the_peers(monkeypatch):
    real = importlib.import_module

    def fake(name, *args):
        if name in ("cornac", "lenskit"):
            raise ImportError(f"No module named {name!r}")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", fake)
    for name in ("Cornac EASE", "LensKit ItemKNN"):
        assert "pip install --no-deps -r requirements-peers.txt" in contenders.missing(name)
    assert contenders.missing("BiasedMF") is None


def test_cornac_dataset_keeps_our_indices():
    cornac()
    data = peers.cornac_dataset(USERS, ITEMS, np.ones(len(USERS)), N_USERS, N_ITEMS)
    assert (data.num_users, data.num_items) == (N_USERS, N_ITEMS)
    np.testing.assert_array_equal(data.uir_tuple[0], USERS)
    np.testing.assert_array_equal(data.uir_tuple[1], ITEMS)


def test_cornac_ease_is_stecks_closed_form():
    cornac()
    scorer = peers.cornac_ease({"lamb": 2.0, "posB": False}, USERS, ITEMS, N_USERS, N_ITEMS)
    x = np.zeros((N_USERS, N_ITEMS))
    x[USERS, ITEMS] = 1.0
    p = np.linalg.inv(x.T @ x + 2.0 * np.eye(N_ITEMS))
    b = -p / np.diag(p)
    np.fill_diagonal(b, 0.0)
    np.testing.assert_allclose(scorer.scores, x @ b, atol=1e-8)
    clipped = peers.cornac_ease({"lamb": 2.0, "posB": True}, USERS, ITEMS, N_USERS, N_ITEMS)
    np.testing.assert_allclose(clipped.scores, x @ np.maximum(b, 0), atol=1e-8)


def _learns_blocks(scorer):
    same = scorer(USERS, ITEMS)
    other = scorer(USERS, (ITEMS + 4) % 8)
    return np.mean(same > other)


def test_cornac_bpr_learns_the_blocks_and_is_reproducible():
    cornac()
    config = {"k": 4, "max_iter": 200, "learning_rate": 0.05, "lambda_reg": 0.001}
    scorer = peers.cornac_bpr(config, USERS, ITEMS, N_USERS, N_ITEMS, seed=1)
    assert _learns_blocks(scorer) > 0.9
    again = peers.cornac_bpr(config, USERS, ITEMS, N_USERS, N_ITEMS, seed=1)
    np.testing.assert_array_equal(again.scores, scorer.scores)


def test_fast_negatives_are_uniform_over_each_users_unrated_items():
    cornac()
    data = peers.cornac_dataset(USERS, ITEMS, np.ones(len(USERS)), N_USERS, N_ITEMS, seed=3,
                                fast_negatives=True)
    counts = np.zeros((N_USERS, N_ITEMS))
    for _ in range(400):
        for users, items, labels in data.uir_iter(5, shuffle=True, binary=True, num_zeros=2):
            n = len(users) // 3  # the batch's positives first, then their negatives
            np.testing.assert_array_equal(users[n:], np.repeat(users[:n], 2))
            assert (labels[:n] == 1).all() and (labels[n:] == 0).all()
            np.add.at(counts, (users[n:], items[n:]), 1)
    rated = np.zeros((N_USERS, N_ITEMS), bool)
    rated[USERS, ITEMS] = True
    assert counts[rated].sum() == 0  # never a rated item
    for user in range(8):  # each user: 400 epochs x 3 positives x 2 negatives over 6 items
        row = counts[user, ~rated[user]]
        assert row.sum() == 2400
        expected = row.sum() / len(row)
        assert ((row - expected) ** 2 / expected).sum() < 25  # chi-square, 5 dof, p ~ 1e-4


def test_our_neumf_is_cornacs_architecture():
    cornac()
    from cornac.models.ncf.backend_pt import NeuMF as CornacNet

    torch.manual_seed(0)
    theirs = CornacNet(N_USERS, N_ITEMS, num_factors=8, layers=(64, 32, 16, 8))
    protocol = type("P", (), {"n_users": N_USERS, "n_items": N_ITEMS})()
    ours = neumf_check.our_neumf(protocol)
    used = sum(p.numel() for name, p in theirs.named_parameters()
               if not name.startswith(("gmf.logit", "mlp.logit")))  # unused in NeuMF
    assert sum(p.numel() for p in ours.parameters()) == used
    with torch.no_grad():
        ours.gmf_user.weight.copy_(theirs.gmf.user_embedding.weight)
        ours.gmf_item.weight.copy_(theirs.gmf.item_embedding.weight)
        ours.mlp_user.weight.copy_(theirs.mlp.user_embedding.weight)
        ours.mlp_item.weight.copy_(theirs.mlp.item_embedding.weight)
        mine = [m for m in ours.tower if isinstance(m, torch.nn.Linear)]
        cornacs = [m for m in theirs.mlp.mlp_model if isinstance(m, torch.nn.Linear)]
        for a, b in zip(mine, cornacs, strict=True):
            a.weight.copy_(b.weight)
            a.bias.copy_(b.bias)
        ours.output.weight.copy_(theirs.logit.weight)
        ours.output.bias.copy_(theirs.logit.bias)
        users = torch.arange(N_USERS).repeat_interleave(N_ITEMS)
        items = torch.arange(N_ITEMS).repeat(N_USERS)
        logits = theirs.logit(torch.cat([theirs.gmf.h(users, items),
                                         theirs.mlp.h(users, items)], dim=-1)).squeeze(-1)
        torch.testing.assert_close(ours(users, items), logits)
        torch.testing.assert_close(torch.sigmoid(ours(users, items)), theirs(users, items))
    neumf_check.cornac_init(ours)
    assert abs(float(ours.gmf_user.weight.detach().std()) - 0.01) < 0.005


def test_cornac_neumf_stops_on_our_metric_and_keeps_the_best_epoch():
    cornac()
    calls = []

    def scripted(scorer):  # best at epoch 3, then two epochs without improvement
        calls.append(scorer.scores.copy())
        return [0.1, 0.2, 0.3, 0.25, 0.2, 0.5][len(calls) - 1]

    config = {"num_factors": 4, "depth": 1, "num_neg": 2, "lr": 0.01, "batch_size": 8,
              "reg": 0.0}
    scorer, best = peers.cornac_neumf(config, USERS, ITEMS, N_USERS, N_ITEMS, seed=0,
                                      val_metric=scripted, epochs=10, patience=2)
    assert best == 3 and len(calls) == 5
    np.testing.assert_allclose(scorer.scores, calls[2])
    refit, epochs = peers.cornac_neumf(config, USERS, ITEMS, N_USERS, N_ITEMS, seed=0, epochs=3)
    assert epochs == 3
    np.testing.assert_allclose(refit.scores, calls[2], rtol=1e-6)  # same seed, same 3 epochs


def test_lenskit_vocabularies_are_our_indices():
    lenskit()
    data = peers.lenskit_dataset(USERS, ITEMS, np.ones(len(USERS)), N_USERS, N_ITEMS)
    assert data.user_count == N_USERS and data.item_count == N_ITEMS


def test_lenskit_rating_scorers_predict_every_pair():
    lenskit()
    ratings = np.where(ITEMS % 2 == 0, 5.0, 2.0) - 0.5 * (USERS % 2)  # even items liked
    users, items = np.repeat(np.arange(N_USERS), N_ITEMS), np.tile(np.arange(N_ITEMS), N_USERS)
    for name, config in [("ItemKNN", {"max_nbrs": 5, "min_nbrs": 2, "min_sim": 1e-6}),
                         ("BiasedMF", {"embedding_size": 2, "epochs": 5})]:
        scorer = peers.lenskit_scorer(name, config, USERS, ITEMS, ratings, N_USERS, N_ITEMS)
        with np.errstate(invalid="ignore"):  # LensKit's bias of unrated user 8: 0/0 -> 0
            predicted = scorer(users, items)
        assert np.isfinite(predicted).all(), name  # the bias model fills what kNN cannot
        # user 8 and item 8 have no ratings: the bias model's global mean plus one bias
        assert 1.0 <= predicted.min() and predicted.max() <= 6.0
        assert predicted[(users == 0) & (items % 2 == 0)].mean() > \
            predicted[(users == 0) & (items % 2 == 1)].mean()


def test_lenskit_ranking_scorers_rank_what_they_cannot_score_last():
    lenskit()
    knn = peers.lenskit_scorer("ItemKNN", {"max_nbrs": 5, "min_nbrs": 1, "min_sim": 1e-6},
                               USERS, ITEMS, None, N_USERS, N_ITEMS)
    assert isinstance(knn, peers.MatrixScorer) and knn.n_missing > 0
    assert np.isfinite(knn.scores).all()
    assert knn.scores[:, 8].max() < knn.scores[~np.isnan(knn.scores)].max()
    assert _learns_blocks(knn) > 0.9
    mf = peers.lenskit_scorer("ImplicitMF", {"embedding_size": 4, "epochs": 10,
                                             "weight": 10.0}, USERS, ITEMS, None, N_USERS,
                              N_ITEMS)
    assert _learns_blocks(mf) > 0.9


def test_matrix_scorer_fills_nan_below_every_score():
    scorer = peers.MatrixScorer(np.array([[1.0, np.nan], [-2.0, 3.0]]))
    assert scorer.n_missing == 1 and scorer.scores[0, 1] == -3.0
    np.testing.assert_array_equal(scorer(np.array([1, 0]), np.array([1, 0])), [3.0, 1.0])


def test_only_tune_and_compare_install_the_peers(tmp_path):
    from tools import tasks

    for name in (*tasks.INSTALL_INPUTS, tasks.PEERS_FILE):
        (tmp_path / name).write_text("")
    tasks.venv_python(tmp_path).parent.mkdir(parents=True)
    tasks.venv_python(tmp_path).touch()
    tasks.stamp(tmp_path).touch()  # the main install is current
    for task in ("run", "test", "unit", "nbval", "bench"):
        assert all(tasks.PEERS_FILE not in s.argv for s in tasks.plan(task, tmp_path)), task
    for task in tasks.PEER_TASKS:
        first, script = tasks.plan(task, tmp_path)
        assert first.argv[-3:] == ["--no-deps", "-r", tasks.PEERS_FILE]
        assert first.marks == tasks.peers_stamp(tmp_path) and script.argv[-1].endswith(task)
    tasks.peers_stamp(tmp_path).touch()  # installed since the file last changed: skipped
    assert [s.argv[-1] for s in tasks.plan("compare", tmp_path)] == ["experiments.compare"]
