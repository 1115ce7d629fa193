"""Save a trained model (with its id encoder) to one file and load it back.

A checkpoint stores the model's class name and ``config`` (enough to rebuild the
architecture with :func:`ncf_helpers.models.build_model`), its ``state_dict`` (weights
and side-feature buffers), the :class:`~ncf_helpers.encoding.IdEncoder`'s id maps and
any ``extra`` metadata (epoch, metrics, ...). Writing goes to a temporary file first and
is then renamed over the target, so a crash mid-write never leaves half a checkpoint.
"""
import io
import os
import tempfile
from pathlib import Path

import torch

from .checks import instance
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
        Metadata made of plain Python values and tensors (they load with
        ``weights_only=True``), e.g. ``{"epoch": 12, "val_rmse": 0.91}``.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    FileNotFoundError, IsADirectoryError
        If the folder is missing or ``path`` is a folder.
    OSError
        If the write fails (disk full, no permission); the old file is left intact.
    """
    instance(model, RecModel, "model")
    instance(encoder, (IdEncoder, type(None)), "encoder", "pass the fitted IdEncoder or None")
    instance(extra, (dict, type(None)), "extra", 'e.g. {"epoch": 12}')
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


def _read(path):
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{str(path)!r} is a folder; pass the checkpoint file in it")
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {str(path)!r}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, not a torch file, unsafe pickle...
        raise ValueError(f"{str(path)!r} is not a readable checkpoint "
                         f"({type(exc).__name__}: {exc})") from exc
    if not isinstance(payload, dict) or any(k not in payload for k in _KEYS):
        raise ValueError(f"{str(path)!r} is not a checkpoint written by save_checkpoint")
    if payload["format_version"] != FORMAT_VERSION:
        raise ValueError(f"{str(path)!r} has checkpoint format "
                         f"{payload['format_version']}, expected {FORMAT_VERSION}")
    return payload


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
        If the file is not a valid checkpoint, or ``model``'s config differs (the
        message lists the differing keys).
    """
    payload = _read(path)
    if model is None:
        model = build_model(payload["model_class"], payload["config"])
    else:
        _check_same_architecture(model, payload)
    model.load_state_dict(payload["state_dict"])
    encoder = None if payload["encoder"] is None else IdEncoder.from_dict(payload["encoder"])
    return model.eval(), encoder, payload["extra"]
