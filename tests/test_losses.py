import dataclasses
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ncf_helpers.losses import (
    LOSSES,
    BCEL1L2Loss,
    BPRLoss,
    MSEL1L2Loss,
    OriginalMSEL1L2Loss,
    RegularizedLoss,
    SampledSoftmaxLoss,
    check_shapes,
    make_loss,
)
from ncf_helpers.models import GMF, BiasedMF
from ncf_helpers.training import TrainConfig, fit


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
    config = TrainConfig(epochs=1, device="cpu", progress=False)
    with pytest.raises(ValueError, match=r"BCE targets must lie in \[0, 1\].*from 1 to 5"):
        fit(model, (users, items, np.array([1.0, 5.0, 3.0, 4.0])), config,
            loss=BCEL1L2Loss(model))
    with pytest.raises(ValueError, match=r"from 1 to 2"):  # negative_value is a target too
        fit(model, (users, items, np.ones(4)),
            dataclasses.replace(config, negatives=1, negative_value=2.0), loss=BCEL1L2Loss(model))


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


# --- ranking losses: each positive against its own negatives ------------------------
NEGATIVES = torch.tensor([[1, 2], [3, 1], [2, 3], [0, 3]])


def scores(model):
    positive = model(USERS, ITEMS)
    negative = model(USERS.repeat_interleave(2), NEGATIVES.reshape(-1)).reshape(4, 2)
    return positive, negative


@pytest.mark.parametrize("cls", [BPRLoss, SampledSoftmaxLoss])
def test_ranking_losses_match_their_formulas(model, cls):
    positive, negative = scores(model)
    if cls is BPRLoss:
        expected = -F.logsigmoid(positive[:, None] - negative).mean()
    else:  # cross entropy with the positive as class 0
        expected = F.cross_entropy(torch.cat([positive[:, None], negative], 1),
                                   torch.zeros(4, dtype=torch.long))
    torch.testing.assert_close(cls(model)(positive, negative, USERS, ITEMS), expected)
    penalised = cls(model, l2_weight=0.5)(positive, negative, USERS, ITEMS)
    torch.testing.assert_close(penalised, expected + 0.5 * model.penalty(USERS, ITEMS, 2))


def test_bpr_only_sees_score_differences(model):
    positive, negative = scores(model)
    loss = BPRLoss(model)
    torch.testing.assert_close(loss(positive + 3.0, negative + 3.0), loss(positive, negative))
    # a positive far above its negatives costs nothing, far below costs a lot
    assert loss(negative.max(1).values + 20, negative) < 1e-6
    assert loss(negative.min(1).values - 20, negative) > 19


def test_ranking_losses_refuse_bad_use(model):
    positive, negative = scores(model)
    for cls in (BPRLoss, SampledSoftmaxLoss):
        with pytest.raises(ValueError, match=r"shape \(B, negatives\) with B = 4, got \(8,\)"):
            cls(model)(positive, negative.reshape(-1))
        with pytest.raises(ValueError, match=r"B = 4, got \(3, 2\)"):
            cls(model)(positive, negative[:3])
        with pytest.raises(ValueError, match="positives only"):
            cls(model).check_targets(np.array([1.0, 0.0, 1.0]))
        cls(model).check_targets(np.array([1.0, 5.0]))  # any positive target is fine
        with pytest.raises(ValueError, match=f"{cls.__name__} needs a model with head='logits'"):
            cls(BiasedMF(5, 4, embedding_dim=3))
    with pytest.raises(ValueError, match="users and items are needed"):
        BPRLoss(model, l2_weight=0.1)(positive, negative)


def test_make_loss_builds_each_named_loss_for_the_model(model):
    for name, cls in LOSSES.items():
        loss = make_loss(name, model, 0.1, 0.2)
        assert type(loss) is cls and loss.model is model
        assert (loss.l1_weight, loss.l2_weight) == (0.1, 0.2)
        assert loss.pairwise == (name in ("bpr", "softmax"))
    with pytest.raises(ValueError, match=r"loss must be one of \('mse', 'bce', 'bpr'.*'hinge'"):
        make_loss("hinge", model)
