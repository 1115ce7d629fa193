import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ncf_helpers.losses import (
    BCEL1L2Loss,
    MSEL1L2Loss,
    OriginalMSEL1L2Loss,
    RegularizedLoss,
    check_shapes,
)
from ncf_helpers.models import GMF, BiasedMF
from ncf_helpers.sampling import NegativeSampler
from ncf_helpers.training import fit


@pytest.fixture
def model():
    torch.manual_seed(0)
    return GMF(5, 4, embedding_dim=3, head="logits")  # valid for every loss


USERS = torch.tensor([0, 1, 4, 1])
ITEMS = torch.tensor([3, 0, 0, 2])
TARGET = torch.tensor([4.0, 1.0, 5.0, 3.0])


# ---------------------------------------------------------------- check_shapes
def test_check_shapes_rejects_the_original_broadcast():
    with pytest.raises(ValueError, match=r"\(32, 1\).*\(32,\).*broadcast"):
        check_shapes(torch.zeros(32, 1), torch.zeros(32))
    check_shapes(torch.zeros(32), torch.zeros(32))  # fine


@pytest.mark.parametrize("loss_cls", [MSEL1L2Loss, BCEL1L2Loss])
def test_fixed_losses_reject_2d_predictions(model, loss_cls):
    with pytest.raises(ValueError, match="broadcast"):
        loss_cls(model)(torch.zeros(4, 1), torch.zeros(4), USERS, ITEMS)


# ---------------------------------------------------------------- weights
@pytest.mark.parametrize("kwargs, arg", [
    (dict(l1_weight=-1e-3), "l1_weight"),
    (dict(l2_weight=float("inf")), "l2_weight"),
    (dict(l2_weight="0.1"), "l2_weight"),
    (dict(l1_weight=True), "l1_weight"),
])
@pytest.mark.parametrize("loss_cls", [MSEL1L2Loss, BCEL1L2Loss, OriginalMSEL1L2Loss])
def test_invalid_weights_raise_value_error_naming_the_arg(model, loss_cls, kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        loss_cls(model, **kwargs)


def test_loss_needs_a_model_with_penalty():
    with pytest.raises(TypeError, match="penalty"):
        MSEL1L2Loss(torch.nn.Linear(2, 1))


def test_loss_does_not_own_the_model_parameters(model):
    loss_fn = MSEL1L2Loss(model, l2_weight=0.1)
    assert loss_fn.model is model
    assert list(loss_fn.parameters()) == [] and len(loss_fn.state_dict()) == 0


# ---------------------------------------------------------------- MSE
def test_mse_without_penalty_is_plain_mse(model):
    pred = model(USERS, ITEMS)
    loss = MSEL1L2Loss(model)(pred, TARGET, USERS, ITEMS)
    torch.testing.assert_close(loss, F.mse_loss(pred, TARGET))


def test_mse_adds_weighted_penalties(model):
    pred = model(USERS, ITEMS)
    loss = MSEL1L2Loss(model, l1_weight=0.01, l2_weight=0.1)(pred, TARGET, USERS, ITEMS)
    expected = (F.mse_loss(pred, TARGET) + 0.01 * model.penalty(USERS, ITEMS, 1)
                + 0.1 * model.penalty(USERS, ITEMS, 2))
    torch.testing.assert_close(loss, expected)


def test_mse_accepts_integer_ratings(model):
    pred = model(USERS, ITEMS)
    loss = MSEL1L2Loss(model)(pred, TARGET.long(), USERS, ITEMS)
    torch.testing.assert_close(loss, F.mse_loss(pred, TARGET))


def test_penalty_needs_users_and_items(model):
    pred = model(USERS, ITEMS)
    with pytest.raises(ValueError, match="users and items"):
        MSEL1L2Loss(model, l2_weight=0.1)(pred, TARGET)
    MSEL1L2Loss(model)(pred, TARGET)  # no penalty, no indices needed


def test_zero_weight_skips_the_penalty(model, monkeypatch):
    def boom(*args):
        raise AssertionError("penalty computed with weight 0")

    monkeypatch.setattr(model, "penalty", boom)
    MSEL1L2Loss(model, 0.0, 0.0)(model(USERS, ITEMS), TARGET, USERS, ITEMS)


# ---------------------------------------------------------------- BCE
def test_bce_matches_torch_with_logits():
    torch.manual_seed(0)
    model = GMF(5, 4, embedding_dim=3, head="logits")
    logits = model(USERS, ITEMS) * 10
    labels = torch.tensor([1.0, 0.0, 1.0, 0.0])
    loss = BCEL1L2Loss(model)(logits, labels, USERS, ITEMS)
    torch.testing.assert_close(loss, F.binary_cross_entropy_with_logits(logits, labels))
    loss_l2 = BCEL1L2Loss(model, l2_weight=0.5)(logits, labels, USERS, ITEMS)
    torch.testing.assert_close(loss_l2, loss + 0.5 * model.penalty(USERS, ITEMS, 2))


@pytest.mark.parametrize("bad", [[1.0, 0.0, 2.0, 0.0], [1.0, -0.5, 1.0, 0.0]])
def test_bce_rejects_targets_outside_unit_interval(bad):
    model = GMF(5, 4, embedding_dim=3, head="logits")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        BCEL1L2Loss(model).check_targets(np.array(bad))
    BCEL1L2Loss(model).check_targets(np.array([1.0, 0.0, 1.0, 0.0]))  # labels are fine


def test_fit_checks_the_targets_once_for_the_loss():
    model = GMF(5, 4, embedding_dim=3, head="logits")
    users, items = np.array([0, 1, 2, 3]), np.array([0, 1, 2, 3])
    metric = lambda m: 0.0  # noqa: E731
    with pytest.raises(ValueError, match=r"BCE targets must lie in \[0, 1\].*from 1 to 5"):
        fit(model, (users, items, np.array([1.0, 5.0, 3.0, 4.0])), metric,
            BCEL1L2Loss(model), epochs=1, progress=False)
    sampler = NegativeSampler(users, items, 4)
    with pytest.raises(ValueError, match=r"from 1 to 2"):  # negative_value is a target too
        fit(model, (users, items, np.ones(4)), metric, BCEL1L2Loss(model), epochs=1,
            sampler=sampler, negative_samples_ratio=1, negative_value=2.0, progress=False)


@pytest.mark.parametrize("head", ["bounded", "relu"])
def test_bce_refuses_a_model_whose_outputs_are_not_logits(head):
    with pytest.raises(ValueError, match=f"head={head!r}.*not logits.*head='logits'"):
        BCEL1L2Loss(GMF(5, 4, embedding_dim=3, head=head))


# ---------------------------------------------------------------- the original's bug
def test_seed_loss_is_mean_over_all_prediction_target_pairs(model):
    pred = torch.tensor([3.0, 2.0, 4.5, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the original loss must silence torch's warning
        loss = OriginalMSEL1L2Loss(model)(pred, TARGET, USERS, ITEMS)
    by_hand = sum((p - t) ** 2 for p in pred.tolist() for t in TARGET.tolist()) / 16
    assert loss.item() == pytest.approx(by_hand)
    assert loss.item() != pytest.approx(F.mse_loss(pred, TARGET).item())


def test_seed_loss_is_minimised_by_the_mean_target(model):
    original_loss, fixed_loss = OriginalMSEL1L2Loss(model), MSEL1L2Loss(model)
    # Best constant prediction under the original's loss is the batch mean target.
    grid = torch.linspace(0, 6, 601)
    losses = [original_loss(torch.full((4,), c.item()), TARGET).item() for c in grid]
    assert grid[int(torch.tensor(losses).argmin())].item() == pytest.approx(TARGET.mean().item())
    # Even per-sample predictions converge to the mean; the fixed MSE reaches the targets.
    for loss_fn, expected in [(original_loss, TARGET.mean().expand(4)), (fixed_loss, TARGET)]:
        pred = torch.zeros(4, requires_grad=True)
        opt = torch.optim.SGD([pred], lr=0.5)
        for _ in range(200):
            opt.zero_grad()
            loss_fn(pred, TARGET).backward()
            opt.step()
        torch.testing.assert_close(pred.detach(), expected, atol=1e-3, rtol=0)


def test_seed_loss_adds_unsquared_norms_of_all_parameters():
    torch.manual_seed(0)
    model = BiasedMF(3, 2, embedding_dim=2)
    pred = torch.tensor([3.0, 4.0])
    target = torch.tensor([3.0, 3.0])
    data = ((0 + 0 + 1 + 1) / 4)
    params = list(model.parameters())
    l1 = sum(p.abs().sum() for p in params).item()
    l2 = sum(p.pow(2).sum().sqrt() for p in params).item()  # per-tensor norm, not squared
    loss = OriginalMSEL1L2Loss(model, l1_weight=0.1, l2_weight=0.2)(pred, target)
    assert loss.item() == pytest.approx(data + 0.1 * l1 + 0.2 * l2, rel=1e-5)
    # The fixed loss only uses batch rows and squares them: a different number.
    fixed = MSEL1L2Loss(model, 0.1, 0.2)(pred, target, torch.tensor([0, 1]), torch.tensor([0, 0]))
    assert fixed.item() != pytest.approx(loss.item(), rel=1e-3)


def test_all_losses_share_the_regularized_loss_interface(model):
    for cls in (MSEL1L2Loss, BCEL1L2Loss, OriginalMSEL1L2Loss):
        assert issubclass(cls, RegularizedLoss)
        out = cls(model, 1e-3, 1e-3)(torch.full((4,), 0.5), torch.ones(4), USERS, ITEMS)
        assert out.ndim == 0 and torch.isfinite(out)


# --- ranking losses that draw their own negatives ------------------------------
def _fixed_negatives(loss, negatives):
    loss.negatives = lambda users: negatives  # the draw is tested on its own below
    return loss


@pytest.mark.parametrize("cls", ["BPRLoss", "SampledSoftmaxLoss"])
def test_ranking_losses_match_their_formulas(model, cls):
    import ncf_helpers.losses as losses

    negatives = torch.tensor([[1, 2], [3, 1], [2, 3], [0, 3]])
    loss = _fixed_negatives(getattr(losses, cls)(model, n_negatives=2), negatives)
    pred = model(USERS, ITEMS)
    neg = model(USERS.repeat_interleave(2), negatives.reshape(-1)).reshape(4, 2)
    if cls == "BPRLoss":
        expected = -F.logsigmoid(pred[:, None] - neg).mean()
    else:  # cross entropy with the positive as class 0
        expected = F.cross_entropy(torch.cat([pred[:, None], neg], 1),
                                   torch.zeros(4, dtype=torch.long))
    assert torch.allclose(loss(pred, torch.ones(4), USERS, ITEMS), expected)
    penalised = _fixed_negatives(getattr(losses, cls)(model, n_negatives=2, l2_weight=0.5),
                                 negatives)
    assert torch.allclose(penalised(pred, torch.ones(4), USERS, ITEMS),
                          expected + 0.5 * model.penalty(USERS, ITEMS, 2))


def test_ranking_loss_negatives_avoid_known_items_and_follow_the_seed(model):
    from ncf_helpers.losses import BPRLoss, SampledSoftmaxLoss
    from ncf_helpers.sampling import NegativeSampler

    # user u interacted with every item but (u + 1) % 4: the only possible negative
    users = torch.tensor([u for u in range(5) for _ in range(3)])
    items = torch.tensor([i for u in range(5) for i in range(4) if i != (u + 1) % 4])
    sampler = NegativeSampler(users.numpy(), items.numpy(), 4)
    drawn = BPRLoss(model, n_negatives=6, sampler=sampler).negatives(USERS)
    assert drawn.shape == (4, 6) and drawn.dtype == torch.long
    assert torch.equal(drawn, ((USERS + 1) % 4)[:, None].expand(4, 6))
    uniform = [SampledSoftmaxLoss(model, n_negatives=50, seed=s).negatives(USERS)
               for s in (0, 0, 1)]
    assert torch.equal(uniform[0], uniform[1]) and not torch.equal(uniform[0], uniform[2])
    assert uniform[0].min() >= 0 and uniform[0].max() < 4


def test_ranking_losses_refuse_bad_use(model):
    from ncf_helpers.losses import BPRLoss, SampledSoftmaxLoss

    loss = BPRLoss(model)
    with pytest.raises(ValueError, match="negative_samples_ratio=0"):
        loss.check_targets(np.array([1.0, 0.0, 1.0, 1.0]))  # fit calls it once
    with pytest.raises(ValueError, match="positives only"):  # fit adding negatives is refused
        fit(model, (USERS.numpy(), ITEMS.numpy(), np.ones(4)), lambda m: 0.0, loss, epochs=1,
            sampler=NegativeSampler(USERS.numpy(), ITEMS.numpy(), 4),
            negative_samples_ratio=1, progress=False)
    with pytest.raises(ValueError, match="needs the batch users"):
        loss(model(USERS, ITEMS), torch.ones(4))
    with pytest.raises(ValueError, match="head='logits'"):
        SampledSoftmaxLoss(BiasedMF(5, 4, embedding_dim=3))
    with pytest.raises(ValueError, match="n_negatives"):
        SampledSoftmaxLoss(model, n_negatives=0)
    with pytest.raises(TypeError, match="NegativeSampler"):
        BPRLoss(model, sampler="uniform")


@pytest.mark.parametrize("cls", ["BPRLoss", "SampledSoftmaxLoss"])
def test_ranking_losses_train_a_model_to_rank_positives_first(cls):
    import numpy as np

    import ncf_helpers.losses as losses
    from ncf_helpers.metrics import rmse_metric
    from ncf_helpers.sampling import NegativeSampler
    from ncf_helpers.training import fit, predict

    # 20 users, 40 items: even users like the first 20 items, odd users the last 20
    users = np.repeat(np.arange(20), 10)
    items = np.array([(u % 2) * 20 + j for u in range(20) for j in range(0, 20, 2)])
    torch.manual_seed(0)
    gmf = GMF(20, 40, embedding_dim=8, head="logits")
    loss = getattr(losses, cls)(gmf, n_negatives=4, sampler=NegativeSampler(users, items, 40))
    fit(gmf, (users, items, np.ones(len(users), np.float32)),
        rmse_metric(users[:5], items[:5], np.ones(5)), loss, epochs=30, batch_size=32,
        lr=0.05, patience=None, progress=False)
    # each user's items must now outscore the other half's items (0.5 before training)
    other = np.array([(1 - u % 2) * 20 + j for u in range(20) for j in range(0, 20, 2)])
    assert np.mean(predict(gmf, users, items) > predict(gmf, users, other)) > 0.95
