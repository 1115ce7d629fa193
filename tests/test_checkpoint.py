import numpy as np
import pandas as pd
import pytest
import torch

from ncf_helpers.checkpoint import load_checkpoint, save_checkpoint
from ncf_helpers.encoding import IdEncoder
from ncf_helpers.models import MLP, MODEL_REGISTRY, NCF, NeuMF

N_USERS, N_ITEMS = 6, 8


def encoder():
    ratings = pd.DataFrame({"userId": [3, 10, 42, 7, 8, 99],
                            "movieId": [5, 1, 2, 300, 4, 6],
                            "rating": [4.0, 3.0, 5.0, 1.0, 2.0, 3.0]})
    return IdEncoder().fit(ratings, movie_ids=[11, 12])


def batch():
    g = torch.Generator().manual_seed(0)
    return (torch.randint(0, N_USERS, (20,), generator=g),
            torch.randint(0, N_ITEMS, (20,), generator=g))


def mlp(latent_dim=4):
    torch.manual_seed(0)
    return MLP(num_users=N_USERS, num_items=N_ITEMS, latent_dim=latent_dim,
               layers=[2 * latent_dim, 6, 3])


def test_round_trip_keeps_weights_config_encoder_and_extra(tmp_path):
    model, enc = mlp(), encoder()
    path = save_checkpoint(tmp_path / "m.pt", model, enc, extra={"epoch": 3, "val_rmse": 0.9})
    loaded, enc2, extra = load_checkpoint(path)
    assert type(loaded) is MLP and loaded.config == model.config
    for (k, v), (k2, v2) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)
    np.testing.assert_array_equal(enc2.user_ids, enc.user_ids)
    np.testing.assert_array_equal(enc2.item_ids, enc.item_ids)
    assert enc2.item_index([300]) == enc.item_index([300])
    assert extra == {"epoch": 3, "val_rmse": 0.9}
    assert not loaded.training


@pytest.mark.parametrize("name", sorted(MODEL_REGISTRY))
def test_predictions_identical_after_reload(tmp_path, name):
    torch.manual_seed(0)
    model = (mlp() if name == "MLP" else MODEL_REGISTRY[name](N_USERS, N_ITEMS)).eval()
    save_checkpoint(tmp_path / "m.pt", model)
    loaded, enc, extra = load_checkpoint(tmp_path / "m.pt")
    assert enc is None and extra is None
    users, items = batch()
    with torch.no_grad():
        assert torch.equal(model(users, items), loaded(users, items))


def test_load_into_given_model(tmp_path):
    model = mlp()
    save_checkpoint(tmp_path / "m.pt", model)
    torch.manual_seed(1)
    target = MLP(**model.config)
    same, _, _ = load_checkpoint(tmp_path / "m.pt", model=target)
    assert same is target
    users, items = batch()
    with torch.no_grad():
        assert torch.equal(model.eval()(users, items), target(users, items))


def test_mismatched_config_names_the_key(tmp_path):
    save_checkpoint(tmp_path / "m.pt", mlp(latent_dim=4))
    with pytest.raises(ValueError, match="latent_dim"):
        load_checkpoint(tmp_path / "m.pt", model=mlp(latent_dim=5))


def test_mismatched_class_is_rejected(tmp_path):
    save_checkpoint(tmp_path / "m.pt", mlp())
    with pytest.raises(ValueError, match="NeuMF"):
        load_checkpoint(tmp_path / "m.pt", model=NeuMF(N_USERS, N_ITEMS))


def test_ncf_with_side_features_round_trips(tmp_path):
    g = torch.Generator().manual_seed(1)
    model = NCF(N_USERS, N_ITEMS, embedding_dim=4, layers=(8,),
                user_features=torch.randn(N_USERS, 3, generator=g),
                item_features=torch.randn(N_ITEMS, 2, generator=g)).eval()
    save_checkpoint(tmp_path / "ncf.pt", model, encoder())
    loaded, _, _ = load_checkpoint(tmp_path / "ncf.pt")
    assert loaded.config == model.config
    assert torch.equal(loaded.user_features, model.user_features)
    assert torch.equal(loaded.item_features, model.item_features)
    users, items = batch()
    with torch.no_grad():
        assert torch.equal(model(users, items), loaded(users, items))


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "nope.pt")


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all"])
def test_corrupt_file_is_a_clear_error(tmp_path, content):
    (tmp_path / "bad.pt").write_bytes(content)
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "bad.pt")


def test_truncated_file_is_a_clear_error(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", mlp())
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_checkpoint(path)


def test_other_torch_file_is_rejected(tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a checkpoint written by save_checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_write_is_atomic_and_leaves_no_temp_file(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "m.pt", mlp())
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        save_checkpoint(path, mlp(latent_dim=5))
    assert path.read_bytes() == before  # the old checkpoint is intact
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]


def test_bad_arguments(tmp_path):
    with pytest.raises(TypeError, match="RecModel"):
        save_checkpoint(tmp_path / "m.pt", torch.nn.Linear(2, 2))
    with pytest.raises(TypeError, match="IdEncoder"):
        save_checkpoint(tmp_path / "m.pt", mlp(), encoder={"user_ids": []})
    with pytest.raises(TypeError, match="extra"):
        save_checkpoint(tmp_path / "m.pt", mlp(), extra=[1, 2])
