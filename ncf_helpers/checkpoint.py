"""Save a trained model (with its id encoder) to one file and load it back.

A checkpoint stores the model's class name and ``config`` (enough to rebuild the
architecture with :func:`ncf_helpers.models.build_model`), its ``state_dict`` (weights
and side-feature buffers), the :class:`~ncf_helpers.encoding.IdEncoder`'s id maps and
any ``extra`` metadata (epoch, metrics, ...). Writing goes to a temporary file first and
is then renamed over the target, so a crash mid-write never leaves half a checkpoint.

Loading uses ``torch.load(weights_only=True)``, which runs no code from the file; so
``extra`` may hold only what that reads back (checked when saving). A file that is not
a checkpoint, is cut off, or was written by a newer version is refused with a message
that says so.
"""
import io
import os
import pickle
import tempfile
from pathlib import Path

import torch

from .checks import instance, plain_data
from .encoding import IdEncoder
from .models import RecModel, build_model

FORMAT_VERSION = 1
_KEYS = ("format_version", "model_class", "config", "state_dict", "encoder", "extra")


def save_checkpoint(path, model, encoder=None, extra=None):
    """Write ``model`` (and optionally its encoder and metadata) to ``path``, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Target file; its folder must exist. An existing file is replaced and keeps its
        permissions; a new one gets ``0o666`` minus the umask, like ``open``.
    model : ncf_helpers.models.RecModel
    encoder : IdEncoder, optional
        The fitted encoder whose indices the model was trained on.
    extra : dict, optional
        Metadata made of None, bool, int, float, str, tensors, and dicts, lists and
        tuples of them (what loads with ``weights_only=True``), e.g. ``{"epoch": 12,
        "val_rmse": 0.91}``. Numpy scalars are stored as the Python numbers they hold
        (``np.float64(0.91)`` loads back as ``0.91``); anything else (an array, a
        DataFrame) is refused.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    FileNotFoundError, IsADirectoryError
        If the folder is missing or ``path`` is a folder.
    TypeError
        If ``extra`` holds something a safe load cannot read back (the message names
        its key and the types allowed); nothing is written.
    OSError
        If the write fails (disk full, no permission); the old file is left intact.
    """
    instance(model, RecModel, "model")
    instance(encoder, (IdEncoder, type(None)), "encoder", "pass the fitted IdEncoder or None")
    instance(extra, (dict, type(None)), "extra", 'e.g. {"epoch": 12}')
    extra = plain_data(extra, "extra")
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"cannot save a checkpoint to {path}: it is a folder; "
                                f"give a file name, e.g. {path / 'model.pt'}")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot save a checkpoint to {path}: folder {path.parent} "
                                "does not exist; create it first (Path(...).mkdir(parents=True))")
    payload = {"format_version": FORMAT_VERSION, "model_class": type(model).__name__,
               "config": dict(model.config),
               # Saved on CPU so a GPU-trained checkpoint loads anywhere.
               "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
               "encoder": None if encoder is None else encoder.to_dict(), "extra": extra}
    buffer = io.BytesIO()  # serialise first: a failed write then raises a plain OSError
    torch.save(payload, buffer)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), _mode_for(path))  # mkstemp makes 0600
            f.write(buffer.getbuffer())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise OSError(f"could not write the checkpoint {path} ({exc.strerror or exc}; is the "
                      "disk full or the folder read-only?); the previous file, if any, is "
                      "unchanged") from exc
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _mode_for(path):
    """An existing file's permissions, or what ``open`` would give a new file."""
    if path.exists():
        return path.stat().st_mode & 0o7777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_TYPES = {"model_class": str, "config": dict, "state_dict": dict, "encoder": (dict, type(None)),
          "extra": (dict, type(None))}


def _read(path):
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{str(path)!r} is a folder; pass the checkpoint file in it")
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {str(path)!r}")
    if path.stat().st_size == 0:
        raise ValueError(f"{str(path)!r} is not a readable checkpoint: it is empty (0 bytes); "
                         "save it again")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = next((line.strip() for line in str(exc).splitlines()
                      if "Unsupported global" in line), None)
        if found is None:  # garbage also fails the safe load, without naming a global
            raise ValueError(_unreadable(path, exc)) from exc
        raise ValueError(f"{str(path)!r} holds objects that a safe load refuses to rebuild "
                         f"({found}), e.g. numpy values in extra from an "
                         "older ncf_helpers; if you trust the file, load it with "
                         "torch.load(path, weights_only=False) and save it again") from exc
    except Exception as exc:  # truncated, not a torch file...
        raise ValueError(_unreadable(path, exc)) from exc
    if not isinstance(payload, dict) or "format_version" not in payload:
        what = (f"a dict with keys {sorted(map(str, payload))[:6]}" if isinstance(payload, dict)
                else f"a value of type {type(payload).__name__}")
        raise ValueError(f"{str(path)!r} is not a checkpoint written by save_checkpoint: it "
                         f"holds {what}. A bare state_dict loads with "
                         "model.load_state_dict(torch.load(path))")
    version = payload["format_version"]
    if not isinstance(version, int) or isinstance(version, bool):
        raise ValueError(f"{str(path)!r} has an invalid format_version {version!r}; it was not "
                         "written by save_checkpoint, or it was altered")
    if version > FORMAT_VERSION:
        raise ValueError(f"{str(path)!r} was written by a newer version of ncf_helpers "
                         f"(checkpoint format {version}); this version reads format "
                         f"{FORMAT_VERSION}: upgrade ncf_helpers (git pull, then pip install "
                         "-e .)")
    if version < FORMAT_VERSION:
        raise ValueError(f"{str(path)!r} has checkpoint format {version}, which no version of "
                         f"ncf_helpers wrote (this one writes and reads {FORMAT_VERSION}); it "
                         "was altered")
    missing = [k for k in _KEYS if k not in payload]
    wrong = [k for k, types in _TYPES.items() if k in payload
             and not isinstance(payload[k], types)]
    if missing or wrong:
        raise ValueError(f"{str(path)!r} is a damaged checkpoint: "
                         + "; ".join(filter(None, [
                             missing and f"key(s) {missing} are missing",
                             wrong and "wrong type for " + ", ".join(
                                 f"{k} ({type(payload[k]).__name__})" for k in wrong)]))
                         + "; save it again")
    return payload


def _unreadable(path, exc):
    with open(path, "rb") as f:
        zipped = f.read(4) == b"PK\x03\x04"  # what torch.save writes
    why = ("it is cut off or corrupt (an interrupted copy or download?)" if zipped else
           "it is not a file written by torch.save")
    return (f"{str(path)!r} is not a readable checkpoint: {why} "
            f"({type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''})")


def _check_same_architecture(model, payload):
    if type(model).__name__ != payload["model_class"]:
        raise ValueError(f"model is a {type(model).__name__} but the checkpoint holds a "
                         f"{payload['model_class']}")
    mine, theirs = model.config, payload["config"]
    differ = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
    if differ:
        details = ", ".join(f"{k}: model {mine.get(k)!r} vs checkpoint {theirs.get(k)!r}"
                            for k in differ)
        raise ValueError(f"model config differs from the checkpoint's in {differ} ({details})")


def load_checkpoint(path, model=None):
    """Load a checkpoint written by :func:`save_checkpoint`.

    Parameters
    ----------
    path : str or os.PathLike
    model : RecModel, optional
        Load the weights into this model (its class and ``config`` must match the
        checkpoint's). Default: rebuild the model with :func:`build_model`.

    Returns
    -------
    model : RecModel
        In eval mode, on the device ``model`` was on (CPU when rebuilt).
    encoder : IdEncoder or None
    extra : dict or None

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is empty, cut off, not a checkpoint, damaged (missing keys, weights
        that do not fit), written by a newer version of ncf_helpers, or holds objects a
        safe load refuses; or if ``model``'s config differs (the message lists the
        differing keys).
    """
    payload = _read(path)
    if model is None:
        try:
            model = build_model(payload["model_class"], payload["config"])
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{str(path)!r}: cannot rebuild its {payload['model_class']} "
                             f"model ({exc}); the checkpoint is damaged, or comes from another "
                             "version of ncf_helpers") from exc
    else:
        _check_same_architecture(model, payload)
    try:
        model.load_state_dict(payload["state_dict"])
        encoder = None if payload["encoder"] is None else IdEncoder.from_dict(payload["encoder"])
    except (RuntimeError, ValueError) as exc:
        why = " ".join(str(exc).split())[:300]  # torch's message spans several lines
        raise ValueError(f"{str(path)!r} is a damaged checkpoint: its weights or encoder do not "
                         f"fit its {payload['model_class']} model ({why}); save it again") from exc
    return model.eval(), encoder, payload["extra"]
