import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ncf_helpers.models import (
    GMF,
    MLP,
    MODEL_REGISTRY,
    NCF,
    BiasedMF,
    NeuMF,
    RecModel,
    apply_head,
    build_model,
    count_parameters,
)

N_USERS, N_ITEMS = 7, 9


def make_model(name, **kwargs):
    """A small instance of each model; ``kwargs`` override the defaults."""
    if name == "MLP":
        cfg = dict(num_users=N_USERS, num_items=N_ITEMS, latent_dim=4, layers=[8, 6, 3])
        return MLP({**cfg, **kwargs})
    small = {
        "NCF": dict(embedding_dim=4, layers=(8, 6)),
        "GMF": dict(embedding_dim=4),
        "NeuMF": dict(gmf_dim=3, mlp_dim=4, layers=(8, 4)),
        "BiasedMF": dict(embedding_dim=4),
    }[name]
    return MODEL_REGISTRY[name](N_USERS, N_ITEMS, **{**small, **kwargs})


def batch(b=11, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(0, N_USERS, (b,), generator=g),
            torch.randint(0, N_ITEMS, (b,), generator=g))


def ncf_with_features():
    g = torch.Generator().manual_seed(1)
    return NCF(N_USERS, N_ITEMS, embedding_dim=4, layers=(8,),
               user_features=torch.randn(N_USERS, 3, generator=g),
               item_features=np.random.default_rng(1).normal(size=(N_ITEMS, 2)))


NAMES = sorted(MODEL_REGISTRY)


# ---------------------------------------------------------------- shapes, heads
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("head", ["bounded", "relu", "logits"])
def test_output_is_1d_for_every_model_and_head(name, head):
    torch.manual_seed(0)
    users, items = batch(11)
    out = make_model(name, head=head)(users, items)
    assert out.shape == (11,)
    assert out.dtype == torch.float32


@pytest.mark.parametrize("name", NAMES)
def test_bounded_head_stays_in_rating_range(name):
    torch.manual_seed(0)
    model = make_model(name, head="bounded", rating_range=(0.5, 5.0))
    # Blow the weights up so raw scores are far outside the range.
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(50)
    users, items = batch(200)
    assert model.score(users, items).abs().max() > 10  # the head has work to do
    out = model(users, items)
    assert out.min() >= 0.5 and out.max() <= 5.0


@pytest.mark.parametrize("name", NAMES)
def test_relu_head_is_non_negative(name):
    torch.manual_seed(0)
    model = make_model(name, head="relu")
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(50)
    assert (model(*batch(200)) >= 0).all()


def test_apply_head_values():
    x = torch.tensor([-100.0, 0.0, 100.0])
    torch.testing.assert_close(apply_head(x, "bounded", (1.0, 5.0)), torch.tensor([1.0, 3.0, 5.0]))
    torch.testing.assert_close(apply_head(x, "relu"), torch.tensor([0.0, 0.0, 100.0]))
    assert apply_head(x, "logits") is x
    for old in ("sigmoid", "linear"):  # "linear" was an alias of "logits"; one name now
        with pytest.raises(ValueError, match=rf"head must be one of \('bounded', 'relu', "
                                             rf"'logits'\), got '{old}'"):
            apply_head(x, old)
    with pytest.raises(ValueError, match="got 'linear'"):
        GMF(3, 3, head="linear")


# ---------------------------------------------------------------- config round trip
@pytest.mark.parametrize("name", NAMES)
def test_config_rebuild_and_load_state_dict_gives_identical_outputs(name):
    torch.manual_seed(0)
    model = make_model(name).eval()
    users, items = batch(20)
    clone = type(model)(**model.config)
    assert not torch.equal(clone(users, items), model(users, items))  # fresh init differs
    clone.load_state_dict(model.state_dict())
    torch.testing.assert_close(clone.eval()(users, items), model(users, items), rtol=0, atol=0)
    rebuilt = build_model(name, model.config)
    rebuilt.load_state_dict(model.state_dict())
    torch.testing.assert_close(rebuilt.eval()(users, items), model(users, items), rtol=0, atol=0)


def test_ncf_with_features_round_trips_through_config():
    torch.manual_seed(0)
    model = ncf_with_features().eval()
    assert model.config["n_user_features"] == 3 and model.config["n_item_features"] == 2
    assert "user_features" not in model.config  # features live in the state_dict
    clone = NCF(**model.config)
    assert torch.count_nonzero(clone.user_features) == 0
    clone.load_state_dict(model.state_dict())
    torch.testing.assert_close(clone.user_features, model.user_features)
    users, items = batch(20)
    torch.testing.assert_close(clone.eval()(users, items), model(users, items), rtol=0, atol=0)


def test_mlp_accepts_seed_dict_and_keywords():
    cfg = dict(num_users=N_USERS, num_items=N_ITEMS, latent_dim=4, layers=[8, 4])
    assert MLP(cfg).config == MLP(**cfg).config
    assert MLP(cfg, head="relu").config["head"] == "relu"


def test_build_model_rejects_unknown_name():
    with pytest.raises(ValueError, match="BookModel"):
        build_model("BookModel", {})


# ---------------------------------------------------------------- theory checks
def test_ncf_features_equal_one_hot_concat_features_times_matrix():
    torch.manual_seed(0)
    model = ncf_with_features().eval()
    users, items = batch(15)

    def latent(n, emb, proj, feats, idx):
        x = torch.cat([torch.eye(n), feats], dim=1)          # (n, n + m): one-hot | features
        w = torch.cat([emb.weight, proj.weight.T], dim=0)    # (n + m, d)
        return x[idx] @ w

    u = latent(N_USERS, model.user_embedding, model.user_feature_proj, model.user_features, users)
    i = latent(N_ITEMS, model.item_embedding, model.item_feature_proj, model.item_features, items)
    torch.testing.assert_close(model.latent("user", users), u)
    torch.testing.assert_close(model.latent("item", items), i)
    hidden = model.tower(torch.cat([u, i], dim=1))
    expected = 1 + 4 * torch.sigmoid(model.output(hidden)[:, 0])
    torch.testing.assert_close(model(users, items), expected)


def test_embedding_equals_one_hot_times_linear_in_values_and_gradients():
    torch.manual_seed(0)
    n, d = 6, 3
    emb = nn.Embedding(n, d)
    lin = nn.Linear(n, d, bias=False)
    with torch.no_grad():
        lin.weight.copy_(emb.weight.T)
    idx = torch.tensor([0, 3, 3, 5, 1])
    out_emb = emb(idx)
    out_lin = lin(F.one_hot(idx, n).float())
    torch.testing.assert_close(out_emb, out_lin)
    upstream = torch.randn(len(idx), d)
    (out_emb * upstream).sum().backward()
    (out_lin * upstream).sum().backward()
    torch.testing.assert_close(emb.weight.grad, lin.weight.grad.T)
    assert torch.all(emb.weight.grad[[2, 4]] == 0)  # unused rows get no gradient


# ---------------------------------------------------------------- penalty
def test_penalty_matches_hand_computation_biased_mf():
    model = BiasedMF(3, 2, embedding_dim=2, head="logits")
    with torch.no_grad():
        model.user_embedding.weight.copy_(torch.tensor([[1.0, -2.0], [3.0, 0.5], [9.0, 9.0]]))
        model.item_embedding.weight.copy_(torch.tensor([[-1.0, 1.0], [2.0, -3.0]]))
        model.user_bias.weight.copy_(torch.tensor([[0.5], [-1.0], [7.0]]))
        model.item_bias.weight.copy_(torch.tensor([[2.0], [-0.25]]))
        model.global_bias.fill_(100.0)  # never penalised
    users, items = torch.tensor([0, 1, 0]), torch.tensor([1, 1, 0])
    # user rows 0, 1, 0 (user 0 counted twice, user 2 unused); item rows 1, 1, 0
    l1 = (3 + 3.5 + 3) + (0.5 + 1 + 0.5) + (5 + 5 + 2) + (0.25 + 0.25 + 2)
    l2 = (5 + 9.25 + 5) + (0.25 + 1 + 0.25) + (13 + 13 + 2) + (0.0625 * 2 + 4)
    # rows are averaged over the batch of 3 (BiasedMF has no Linear layer)
    assert model.penalty(users, items, 1).item() == pytest.approx(l1 / 3)
    assert model.penalty(users, items, 2).item() == pytest.approx(l2 / 3)


def test_penalty_covers_embedding_rows_only():
    torch.manual_seed(0)
    model = GMF(4, 4, embedding_dim=2)
    users, items = torch.tensor([1]), torch.tensor([2])
    rows = torch.cat([model.user_embedding.weight[1], model.item_embedding.weight[2]])
    # the dense affine layer is left to weight_decay: see RecModel.penalty
    torch.testing.assert_close(model.penalty(users, items, 2), rows.pow(2).sum())
    torch.testing.assert_close(model.penalty(users, items, 1), rows.abs().sum())
    with pytest.raises(ValueError, match=r"p must be one of \(1, 2\)"):
        model.penalty(users, items, 3)


@pytest.mark.parametrize("name", NAMES)
def test_penalty_gradient_only_touches_batch_rows(name):
    torch.manual_seed(0)
    model = make_model(name)
    users, items = torch.tensor([0, 0, 2]), torch.tensor([1, 1, 1])
    model.penalty(users, items, 2).backward()
    for emb in model.tables("user"):
        assert torch.all(emb.weight.grad[[1, 3, 4, 5, 6]] == 0)
        torch.testing.assert_close(emb.weight.grad[0], 2 * 2 * emb.weight[0].detach() / 3)
    for emb in model.tables("item"):
        assert torch.all(emb.weight.grad[0] == 0)
        torch.testing.assert_close(emb.weight.grad[1], 3 * 2 * emb.weight[1].detach() / 3)


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize("kwargs, arg", [
    (dict(n_users=0), "n_users"),
    (dict(n_items=2.5), "n_items"),
    (dict(embedding_dim=-1), "embedding_dim"),
    (dict(layers=(8, 0)), r"layers\[1\]"),
    (dict(dropout=1.0), "dropout"),
    (dict(head="sigmoid"), "head"),
    (dict(rating_range=(5.0, 1.0)), "rating_range"),
    (dict(user_features=np.ones((3, 2))), "user_features"),
    (dict(n_item_features=0), "n_item_features"),
])
def test_ncf_invalid_args_raise_value_error_naming_the_arg(kwargs, arg):
    args = {**dict(n_users=N_USERS, n_items=N_ITEMS, embedding_dim=4), **kwargs}
    with pytest.raises(ValueError, match=arg):
        NCF(**args)


@pytest.mark.parametrize("cls, kwargs, arg", [
    (GMF, dict(embedding_dim=True), "embedding_dim"),
    (NeuMF, dict(gmf_dim=0), "gmf_dim"),
    (NeuMF, dict(mlp_dim=4, layers=[6, 0]), r"layers\[1\]"),
    (BiasedMF, dict(global_bias=float("nan")), "global_bias"),
    (BiasedMF, dict(rating_range=(1.0,)), "rating_range"),
])
def test_other_models_invalid_args(cls, kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        cls(N_USERS, N_ITEMS, **kwargs)


def test_neumf_use_bias_must_be_a_bool():
    with pytest.raises(TypeError, match="use_bias must be a bool.*True or False"):
        NeuMF(N_USERS, N_ITEMS, use_bias="yes")


def test_mlp_first_layer_must_be_twice_latent_dim():
    cfg = dict(num_users=N_USERS, num_items=N_ITEMS, latent_dim=8, layers=[8, 4])
    with pytest.raises(ValueError, match=r"layers\[0\].*2 \* latent_dim = 16"):
        MLP(cfg)


@pytest.mark.parametrize("cfg, msg", [
    (dict(num_users=3, num_items=3, layers=[8]), "missing.*latent_dim"),
    (dict(num_users=3, num_items=3, latent_dim=4, layers=[8], n_factors=2), "unknown.*n_factors"),
    (dict(num_users=0, num_items=3, latent_dim=4, layers=[8]), "num_users"),
])
def test_mlp_config_errors(cfg, msg):
    with pytest.raises(ValueError, match=msg):
        MLP(cfg)


@pytest.mark.parametrize("name", NAMES)
def test_out_of_range_index_raises_index_error_naming_it(name):
    model = make_model(name)
    ok = torch.tensor([0, 1])
    with pytest.raises(IndexError, match=rf"users must be in \[0, {N_USERS}\); found {N_USERS}"):
        model(torch.tensor([0, N_USERS]), ok)
    with pytest.raises(IndexError, match=rf"items must be in \[0, {N_ITEMS}\); found -1"):
        model(ok, torch.tensor([-1, 2]))


def test_bad_index_shapes_and_dtypes():
    model = make_model("GMF")
    with pytest.raises(ValueError, match="same shape"):
        model(torch.tensor([0, 1, 2]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="1-D"):
        model(torch.tensor([[0, 1]]), torch.tensor([[0, 1]]))
    with pytest.raises(TypeError, match="integer indices"):
        model(torch.tensor([0.0, 1.0]), torch.tensor([0, 1]))
    # any integer dtype works (embedding lookups need int64, converted once here)
    torch.testing.assert_close(model(torch.tensor([0, 1], dtype=torch.uint8), torch.tensor([0, 1])),
                               model(torch.tensor([0, 1]), torch.tensor([0, 1])))


# ---------------------------------------------------------------- utilities
def test_count_parameters_and_item_embeddings():
    model = BiasedMF(5, 6, embedding_dim=3)
    assert count_parameters(model) == 5 * 3 + 6 * 3 + 5 + 6 + 1
    emb = model.item_embeddings()
    assert isinstance(emb, np.ndarray) and emb.shape == (6, 3)
    np.testing.assert_array_equal(emb, model.item_embedding.weight.detach().numpy())
    emb[:] = 0  # a copy: changing it leaves the model alone
    assert model.item_embedding.weight.abs().sum() > 0
    neumf = NeuMF(5, 6, gmf_dim=2, mlp_dim=3)
    both = neumf.item_embeddings()
    assert both.shape == (6, 5)
    np.testing.assert_array_equal(both[:, :2], neumf.gmf_item.weight.detach().numpy())
    np.testing.assert_array_equal(both[:, 2:], neumf.mlp_item.weight.detach().numpy())
    ncf = ncf_with_features()
    assert ncf.item_embeddings().shape == (N_ITEMS, 4)
    # Feature buffers are not trainable parameters.
    assert count_parameters(ncf) == sum(p.numel() for p in ncf.parameters())


def test_every_registered_model_is_a_recmodel():
    assert set(MODEL_REGISTRY) == {"NCF", "MLP", "GMF", "NeuMF", "BiasedMF"}
    assert all(issubclass(cls, RecModel) for cls in MODEL_REGISTRY.values())


# ---------------------------------------------------------------- the package's contract
class Dot(RecModel):
    """A model whose score is a dot product, seen through dropout."""

    def __init__(self):
        super().__init__(4, 5, head="logits")
        self.user_embedding, self.item_embedding = nn.Embedding(4, 2), nn.Embedding(5, 2)
        self.dropout = nn.Dropout(0.5)

    def score(self, users, items):
        return self.dropout((self.user_embedding(users) * self.item_embedding(items)).sum(-1))


def test_predict_scores_numpy_pairs_in_eval_mode_and_restores_the_mode():
    torch.manual_seed(0)
    model = Dot().train()
    users, items = np.array([0, 1, 2, 3, 0]), np.array([4, 3, 2, 1, 0])
    scores = model._predict(users, items, batch_size=3)  # two batches
    expected = (model.user_embedding.weight[users] * model.item_embedding.weight[items]).sum(-1)
    assert scores.dtype == np.float64 and scores.shape == (5,)
    np.testing.assert_allclose(scores, expected.detach().numpy(), rtol=1e-6)  # no dropout
    np.testing.assert_array_equal(model.predict(users, items), scores)
    assert model.training  # the caller's mode is restored
    assert model.predict([], []).shape == (0,)


def test_predict_checks_its_indices_once_at_the_boundary():
    model = make_model("GMF")
    with pytest.raises(IndexError, match=rf"items must be in \[0, {N_ITEMS}\); found {N_ITEMS}"):
        model.predict([0], [N_ITEMS])
    with pytest.raises(TypeError, match="users must hold integer indices"):
        model.predict([0.5], [1])
    with pytest.raises(ValueError, match="same length"):
        model.predict([0, 1], [1])


def test_recommend_ranks_unseen_items_and_pads_when_they_run_out():
    model = make_model("GMF", head="logits")
    items, scores = model.recommend([0, 3], n=4)
    everything = model.predict(np.repeat([0, 3], N_ITEMS), np.tile(np.arange(N_ITEMS), 2))
    for row in range(2):
        mine = everything[row * N_ITEMS:(row + 1) * N_ITEMS]
        assert items[row].tolist() == np.argsort(-mine, kind="stable")[:4].tolist()
        np.testing.assert_array_equal(scores[row], mine[items[row]])
    # user 1 has seen all items but two: those two, then padding
    seen = np.delete(np.arange(N_ITEMS), [2, 5])
    items, scores = model.recommend([1], n=4, exclude=(np.ones_like(seen), seen))
    assert sorted(items[0, :2].tolist()) == [2, 5] and items[0, 2:].tolist() == [-1, -1]
    assert np.isfinite(scores[0, :2]).all() and (scores[0, 2:] == -np.inf).all()


def test_fit_trains_in_place_and_returns_the_model():
    from ncf_helpers.training import TrainConfig

    users, items, ratings = synthetic_ratings()
    model = make_model("BiasedMF")
    before = model.predict(users.numpy(), items.numpy())
    config = TrainConfig(epochs=3, lr=0.05, batch_size=64, device="cpu", progress=False)
    assert model.fit((users.numpy(), items.numpy(), ratings.numpy()), config) is model
    assert list(model.history_.index) == [1, 2, 3]
    assert model.history_["train_loss"].is_monotonic_decreasing
    assert not np.array_equal(before, model.predict(users.numpy(), items.numpy()))


# ---------------------------------------------------------------- learning
def synthetic_ratings(n=300, seed=0):
    g = torch.Generator().manual_seed(seed)
    pu, qi = torch.randn(N_USERS, 2, generator=g), torch.randn(N_ITEMS, 2, generator=g)
    users = torch.randint(0, N_USERS, (n,), generator=g)
    items = torch.randint(0, N_ITEMS, (n,), generator=g)
    ratings = (3 + (pu[users] * qi[items]).sum(1)).clamp(1, 5)
    return users, items, ratings


@pytest.fixture
def one_thread():
    # Tiny ops: extra threads only add sync overhead, which dominates on busy CI boxes.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("name", NAMES)
def test_adam_steps_decrease_mse(name, one_thread):
    torch.manual_seed(0)
    users, items, ratings = synthetic_ratings()
    model = make_model(name)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = F.mse_loss(model(users, items), ratings)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]
