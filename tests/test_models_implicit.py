"""HistoryNeuMF (the rated movies in the user), score_all and the full softmax."""
import numpy as np
import pytest
import torch

from ncf_helpers.losses import LOSSES, FullSoftmaxLoss, SampledSoftmaxLoss, make_loss
from ncf_helpers.models import GMF, MLP, NCF, BiasedMF, HistoryNeuMF, NeuMF
from ncf_helpers.training import TrainConfig, fit

N_USERS, N_ITEMS = 6, 9
# user 5 rated nothing; user 0 rated item 2 twice (counted once)
HISTORY = (np.array([0, 0, 0, 1, 1, 2, 3, 3, 3, 3, 4]),
           np.array([2, 2, 5, 0, 8, 4, 1, 2, 3, 7, 6]))


def history_model(**kwargs):
    torch.manual_seed(0)
    return HistoryNeuMF(N_USERS, N_ITEMS, history=HISTORY, **{"gmf_dim": 4, **kwargs})


def all_pairs():
    users = torch.arange(N_USERS).repeat_interleave(N_ITEMS)
    items = torch.arange(N_ITEMS).repeat(N_USERS)
    return users, items


# ---------------------------------------------------------------- HistoryNeuMF
def test_history_is_stored_per_user_once():
    model = history_model()
    offsets, items = model.history_offsets.tolist(), model.history_items.tolist()
    assert offsets == [0, 2, 4, 5, 9, 10, 10]
    assert items == [2, 5, 0, 8, 4, 1, 2, 3, 7, 6]
    assert model.config["n_history"] == 10
    counts = np.diff(offsets)
    torch.testing.assert_close(model.history_norm(),
                               torch.tensor(np.maximum(counts, 1) ** -0.5, dtype=torch.float32))


def test_history_vector_is_the_scaled_sum_of_the_rated_items():
    model = history_model(history_exponent=1.0)
    users = torch.tensor([3, 0, 5, 3])
    got = model.history_vectors(users, "gmf")
    y = model.gmf_history.weight
    expected = torch.stack([y[[1, 2, 3, 7]].mean(0), y[[2, 5]].mean(0), torch.zeros(4),
                            y[[1, 2, 3, 7]].mean(0)])
    torch.testing.assert_close(got, expected)
    # the user side is p_u plus that vector, in both towers
    both = history_model(mlp_dim=4)
    torch.testing.assert_close(both.users(users, "mlp"),
                               both.mlp_user(users) + both.history_vectors(users, "mlp"))


@pytest.mark.parametrize("kwargs", [{}, {"mlp_dim": 4, "layers": (6, 3)},
                                    {"mlp_dim": 4, "use_bias": False, "dropout": 0.2}])
@pytest.mark.parametrize("head", ["bounded", "relu", "logits"])
def test_history_model_follows_the_contract(kwargs, head):
    model = history_model(head=head, **kwargs).eval()
    users, items = all_pairs()
    with torch.no_grad():
        out = model(users, items)
    assert out.shape == (N_USERS * N_ITEMS,) and out.dtype == torch.float32
    if head == "bounded":
        assert out.min() >= 1 and out.max() <= 5
    # rebuilt from its config (history size only), then loaded: the same outputs
    clone = HistoryNeuMF(**model.config)
    clone.load_state_dict(model.state_dict())
    torch.testing.assert_close(clone.eval()(users, items), out, rtol=0, atol=0)
    np.testing.assert_allclose(model.predict(users.numpy(), items.numpy()), out.double().numpy())
    top, _ = model.recommend([0, 5], n=3, exclude=HISTORY)
    assert not set(top[0]) & {2, 5}


def test_history_changes_the_score_of_a_user():
    model = history_model()
    with torch.no_grad():
        model.gmf_user.weight.zero_()  # only the history is left to tell users apart
    users = torch.tensor([0, 1, 5])
    scores = model.score_all(users)
    assert not torch.allclose(scores[0], scores[1])
    # user 5 has no history and a zero p_u: only the biases and the output's offset
    torch.testing.assert_close(scores[2], (model.output.bias + model.global_bias
                                           + model.user_bias.weight[5]
                                           + model.item_bias.weight[:, 0]).detach())


def test_history_penalty_adds_each_samples_history_part():
    model = history_model()
    users, items = torch.tensor([0, 0, 3]), torch.tensor([1, 4, 0])
    base = sum(t.weight[users].pow(2).sum() for t in (model.gmf_user, model.user_bias))
    base = base + sum(t.weight[items].pow(2).sum() for t in (model.gmf_item, model.item_bias))
    extra = model.history_vectors(users).pow(2).sum()
    torch.testing.assert_close(model.penalty(users, items, 2), (base + extra) / 3)


def test_history_model_refuses_bad_history():
    with pytest.raises(ValueError, match="pass history=\\(users, items\\)"):
        HistoryNeuMF(N_USERS, N_ITEMS)
    with pytest.raises(IndexError, match="history items"):
        HistoryNeuMF(N_USERS, N_ITEMS, history=(np.array([0]), np.array([N_ITEMS])))
    with pytest.raises(ValueError, match="n_history=3 does not match"):
        HistoryNeuMF(N_USERS, N_ITEMS, history=HISTORY, n_history=3)
    with pytest.raises(ValueError, match="a \\(users, items\\) pair"):
        HistoryNeuMF(N_USERS, N_ITEMS, history=np.zeros(3))


def test_history_model_trains_with_fit():
    model = history_model(mlp_dim=4)
    users, items = HISTORY
    ratings = np.where(items % 2 == 0, 5.0, 1.0)
    before = float(np.mean((model.predict(users, items) - ratings) ** 2))
    history = fit(model, (users, items, ratings), TrainConfig(epochs=30, lr=0.05, batch_size=4,
                                                              l2=1e-3, patience=None))
    after = float(np.mean((model.predict(users, items) - ratings) ** 2))
    assert after < before / 2 and len(history) == 30
    assert model.gmf_history.weight.grad is not None  # the history tables learn


# ---------------------------------------------------------------- score_all
def _models():
    torch.manual_seed(0)
    return [BiasedMF(N_USERS, N_ITEMS, embedding_dim=3, head="logits"),
            GMF(N_USERS, N_ITEMS, embedding_dim=3, head="logits"),
            NeuMF(N_USERS, N_ITEMS, gmf_dim=3, mlp_dim=4, layers=(5, 3), head="logits"),
            NeuMF(N_USERS, N_ITEMS, gmf_dim=3, mlp_dim=4, layers=(), use_bias=False),
            NCF(N_USERS, N_ITEMS, embedding_dim=3, layers=(4,), head="logits",
                user_features=np.eye(N_USERS)[:, :2]),
            MLP(num_users=N_USERS, num_items=N_ITEMS, latent_dim=2, layers=[4, 3]),
            history_model(head="logits"), history_model(mlp_dim=4, layers=(3,))]


@pytest.mark.parametrize("index", range(8))
def test_score_all_equals_the_pairwise_scores(index):
    model = _models()[index].eval()
    users = torch.tensor([4, 0, 4, 2])
    rows = model(users, None)
    assert rows.shape == (4, N_ITEMS)
    pairs = model(users.repeat_interleave(N_ITEMS), torch.arange(N_ITEMS).repeat(4))
    torch.testing.assert_close(rows, pairs.view(4, N_ITEMS), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- the full softmax
def test_full_softmax_is_cross_entropy_over_every_item():
    model = BiasedMF(N_USERS, N_ITEMS, embedding_dim=3, head="logits")
    loss = FullSoftmaxLoss(model)
    scores = torch.randn(5, N_ITEMS)
    items = torch.tensor([0, 3, 8, 3, 1])
    expected = torch.nn.functional.cross_entropy(scores, items)
    torch.testing.assert_close(loss(scores[torch.arange(5), items], scores), expected)
    # the sampled softmax with every *other* item as its negatives is the same number
    others = torch.stack([torch.cat([s[:i], s[i + 1:]]) for s, i in zip(scores, items)])
    sampled = SampledSoftmaxLoss(model)(scores[torch.arange(5), items], others)
    torch.testing.assert_close(sampled, expected)


def test_full_softmax_is_named_checked_and_needs_logits():
    model = GMF(N_USERS, N_ITEMS, embedding_dim=3, head="logits")
    assert LOSSES["full_softmax"] is FullSoftmaxLoss
    loss = make_loss("full_softmax", model, 0.0, 0.1)
    assert loss.catalogue and not loss.pairwise and loss.l2_weight == 0.1
    with pytest.raises(ValueError, match="positives only"):
        loss.check_targets(np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match="shape \\(B, n_items\\)"):
        loss(torch.zeros(3), torch.zeros(3))
    with pytest.raises(ValueError, match="head='logits'"):
        FullSoftmaxLoss(GMF(N_USERS, N_ITEMS, embedding_dim=3))
    assert TrainConfig(loss="full_softmax", negatives=4.0).loss == "full_softmax"


def test_fit_with_the_full_softmax_ranks_each_users_items_first():
    # users 0-2 like items 0-3, users 3-5 items 5-8
    users = np.repeat(np.arange(N_USERS), 3)
    rng = np.random.default_rng(0)
    items = np.concatenate([rng.choice(4, 3, replace=False) if u < 3 else
                            5 + rng.choice(4, 3, replace=False) for u in range(N_USERS)])
    torch.manual_seed(0)
    model = BiasedMF(N_USERS, N_ITEMS, embedding_dim=4, head="logits")
    history = fit(model, (users, items, np.ones(len(users))),
                  TrainConfig(epochs=40, lr=0.05, batch_size=6, loss="full_softmax",
                              negatives=3.0, patience=None, seed=1))
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]
    assert history["samples"].iloc[0] == len(users) * N_ITEMS  # every item per positive
    scores = model.predict(np.repeat(np.arange(N_USERS), N_ITEMS),
                           np.tile(np.arange(N_ITEMS), N_USERS)).reshape(N_USERS, N_ITEMS)
    assert (scores[:3, :4].mean() > scores[:3, 5:].mean()
            and scores[3:, 5:].mean() > scores[3:, :4].mean())
    # the same seed gives the same run
    torch.manual_seed(0)
    again = BiasedMF(N_USERS, N_ITEMS, embedding_dim=4, head="logits")
    fit(again, (users, items, np.ones(len(users))),
        TrainConfig(epochs=40, lr=0.05, batch_size=6, loss="full_softmax", negatives=3.0,
                    patience=None, seed=1))
    torch.testing.assert_close(again.user_embedding.weight, model.user_embedding.weight)
