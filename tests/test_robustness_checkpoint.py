"""Hostile but realistic checkpoints (issue 20): what ``extra`` may hold, files from a newer
version, and files that are cut off, damaged, empty, folders or not checkpoints at all.

Each is refused with a message that names the file or the key and says what to do; a
save that is refused writes nothing.
"""
import numpy as np
import pandas as pd
import pytest
import torch

from ncf_helpers.checkpoint import FORMAT_VERSION, load_checkpoint, save_checkpoint
from ncf_helpers.models import GMF


@pytest.fixture
def model():
    torch.manual_seed(0)
    return GMF(3, 4)


@pytest.fixture
def saved(tmp_path, model):
    return save_checkpoint(tmp_path / "m.pt", model, extra={"epoch": 3})


def rewrite(path, **changes):
    """Save ``path``'s payload again with keys changed (``None`` drops the key)."""
    payload = torch.load(path, weights_only=True)
    for key, value in changes.items():
        if value is None:
            payload.pop(key)
        else:
            payload[key] = value
    torch.save(payload, path)
    return path


# ------------------------------------------------------------------------- extra
def test_numpy_scalars_in_extra_load_back_as_python_numbers(tmp_path, model):
    extra = {"val_rmse": np.float64(0.91), "epoch": np.int64(12), "best": np.bool_(True),
             "history": [np.float32(1.5), (np.int32(2), "x")], "nested": {"k": np.uint8(7)}}
    save_checkpoint(tmp_path / "m.pt", model, extra=extra)
    _, _, loaded = load_checkpoint(tmp_path / "m.pt")
    assert loaded == {"val_rmse": 0.91, "epoch": 12, "best": True, "history": [1.5, (2, "x")],
                      "nested": {"k": 7}}
    assert type(loaded["val_rmse"]) is float and type(loaded["epoch"]) is int
    assert type(loaded["best"]) is bool and type(loaded["nested"]["k"]) is int


def test_tensors_and_plain_values_in_extra_round_trip(tmp_path, model):
    extra = {"curve": torch.arange(3.0), "name": "run 1", "none": None, "lr": 1e-3}
    save_checkpoint(tmp_path / "m.pt", model, extra=extra)
    _, _, loaded = load_checkpoint(tmp_path / "m.pt")
    assert torch.equal(loaded.pop("curve"), torch.arange(3.0))
    assert loaded == {"name": "run 1", "none": None, "lr": 1e-3}


@pytest.mark.parametrize("extra, pattern", [
    ({"table": pd.DataFrame({"a": [1]})}, r"extra\['table'\] is a pandas\.DataFrame.*\.to_dict"),
    ({"m": {"scores": np.arange(3)}}, r"extra\['m'\]\['scores'\] is a numpy\.ndarray.*\.tolist"),
    ({"runs": [1, pd.Series([1.0])]}, r"extra\['runs'\]\[1\] is a pandas\.Series"),
    ({"when": pd.Timestamp("2024-01-01")}, r"extra\['when'\] is a pandas.*Timestamp.*str\("),
])
def test_extra_a_safe_load_cannot_read_is_refused_and_nothing_written(tmp_path, model, extra,
                                                                      pattern):
    with pytest.raises(TypeError, match=pattern + ".*"):
        save_checkpoint(tmp_path / "m.pt", model, extra=extra)
    with pytest.raises(TypeError, match=r"use None, bool, int, float, str, tensors, and dicts"):
        save_checkpoint(tmp_path / "m.pt", model, extra=extra)
    assert list(tmp_path.iterdir()) == []


def test_refused_extra_keeps_the_old_file(saved, model):
    before = saved.read_bytes()
    with pytest.raises(TypeError, match="numpy.ndarray"):
        save_checkpoint(saved, model, extra={"x": np.zeros(2)})
    assert saved.read_bytes() == before


# ------------------------------------------------------------------------- versions
def test_newer_format_says_upgrade(saved):
    rewrite(saved, format_version=FORMAT_VERSION + 1, encoder=None, new_part={"a": 1})
    with pytest.raises(ValueError, match=rf"m\.pt' was written by a newer version of "
                                         rf"ncf_helpers \(checkpoint format "
                                         rf"{FORMAT_VERSION + 1}\); this version reads format "
                                         rf"{FORMAT_VERSION}: upgrade"):
        load_checkpoint(saved)


def test_newer_format_is_named_even_when_its_keys_changed(saved):
    rewrite(saved, format_version=FORMAT_VERSION + 1, state_dict=None, weights={})
    with pytest.raises(ValueError, match="newer version"):
        load_checkpoint(saved)


@pytest.mark.parametrize("version, pattern", [
    (0, r"format 0, which no version of ncf_helpers wrote"),
    (str(FORMAT_VERSION), r"invalid format_version '1'"),
    (True, r"invalid format_version True"),
])
def test_unknown_or_invalid_format_version(saved, version, pattern):
    rewrite(saved, format_version=version)
    with pytest.raises(ValueError, match=pattern):
        load_checkpoint(saved)


# --------------------------------------------------------------------- damaged files
@pytest.mark.parametrize("key", ["model_class", "config", "state_dict", "encoder", "extra"])
def test_missing_key_is_named(saved, key):
    rewrite(saved, **{key: None})
    with pytest.raises(ValueError, match=rf"m\.pt' is a damaged checkpoint: key\(s\) "
                                         rf"\['{key}'\] are missing; save it again"):
        load_checkpoint(saved)


def test_wrong_type_of_a_part_is_named(saved):
    rewrite(saved, config=[1, 2], model_class=7)
    with pytest.raises(ValueError, match=r"damaged checkpoint: wrong type for model_class "
                                         r"\(int\), config \(list\)"):
        load_checkpoint(saved)


def test_weights_that_do_not_fit_are_named(saved):
    rewrite(saved, state_dict={})
    with pytest.raises(ValueError, match=r"m\.pt' is a damaged checkpoint: its weights or "
                                         r"encoder do not fit its GMF model \(.*Missing key"):
        load_checkpoint(saved)


def test_unknown_model_class_is_named_with_the_file(saved):
    rewrite(saved, model_class="TransformerRec")
    with pytest.raises(ValueError, match=r"m\.pt': cannot rebuild its TransformerRec model "
                                         r"\(.*\); the checkpoint is damaged, or comes from "
                                         r"another version"):
        load_checkpoint(saved)


def test_cut_off_file(saved):
    saved.write_bytes(saved.read_bytes()[:300])
    with pytest.raises(ValueError, match=r"not a readable checkpoint: it is cut off or corrupt "
                                         r"\(an interrupted copy or download\?\)"):
        load_checkpoint(saved)


@pytest.mark.parametrize("content, pattern", [
    (b"", r"it is empty \(0 bytes\); save it again"),
    (b"hello, not a checkpoint\n", r"it is not a file written by torch\.save"),
])
def test_not_a_checkpoint_at_all(tmp_path, content, pattern):
    (tmp_path / "x.pt").write_bytes(content)
    with pytest.raises(ValueError, match=pattern):
        load_checkpoint(tmp_path / "x.pt")


def test_another_torch_file(tmp_path):
    torch.save([torch.zeros(2)], tmp_path / "x.pt")
    with pytest.raises(ValueError, match=r"not a checkpoint written by save_checkpoint: it holds "
                                         r"a value of type list"):
        load_checkpoint(tmp_path / "x.pt")


def test_a_bare_state_dict_says_how_to_load_it(tmp_path, model):
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    with pytest.raises(ValueError, match=r"not a checkpoint written by save_checkpoint: it holds "
                                         r"a dict with keys \[.*'user_embedding\.weight'\]\. A "
                                         r"bare state_dict loads with model\.load_state_dict"):
        load_checkpoint(tmp_path / "weights.pt")


def test_objects_a_safe_load_refuses_are_named(saved):
    """E.g. a checkpoint saved by an older version with numpy values in ``extra``."""
    payload = torch.load(saved, weights_only=True)
    payload["extra"] = {"val_rmse": np.float64(0.9)}
    torch.save(payload, saved)
    with pytest.raises(ValueError, match=r"holds objects that a safe load refuses to rebuild "
                                         r"\(.*numpy.*\).*if you trust the file, load it with "
                                         r"torch\.load\(path, weights_only=False\)"):
        load_checkpoint(saved)


def test_a_folder_as_the_path(tmp_path, model):
    with pytest.raises(IsADirectoryError, match="is a folder; pass the checkpoint file in it"):
        load_checkpoint(tmp_path)
    with pytest.raises(IsADirectoryError, match="it is a folder; give a file name"):
        save_checkpoint(tmp_path, model)
