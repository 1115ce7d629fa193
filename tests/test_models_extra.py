import pytest
import torch

from ncf_helpers.models import NeuMF, build_model


def test_neumf_penalize_layers_default_unchanged():
    model = NeuMF(5, 7)
    assert model.penalize_layers is True and "penalize_layers" not in model.config


def test_neumf_penalize_layers_false_skips_linear_weights():
    torch.manual_seed(0)
    users, items = torch.tensor([0, 1, 1]), torch.tensor([2, 3, 3])
    with_layers = NeuMF(5, 7, gmf_dim=4, mlp_dim=4)
    rows_only = NeuMF(5, 7, gmf_dim=4, mlp_dim=4, penalize_layers=False)
    rows_only.load_state_dict(with_layers.state_dict())
    linear = sum(m.weight.pow(2).sum() for m in with_layers.modules()
                 if isinstance(m, torch.nn.Linear))
    assert torch.allclose(with_layers.penalty(users, items, 2),
                          rows_only.penalty(users, items, 2) + linear)
    rebuilt = build_model("NeuMF", rows_only.config)
    assert rebuilt.penalize_layers is False


def test_neumf_penalize_layers_validated():
    with pytest.raises(ValueError, match="penalize_layers"):
        NeuMF(5, 7, penalize_layers="no")
