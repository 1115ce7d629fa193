"""Reproducibility and device helpers shared by every notebook."""
import os
import random

import numpy as np
import torch

from .checks import non_negative_int


def seed_everything(seed=42):
    """Seed every random number generator the series uses.

    Seeds Python's ``random``, NumPy's global generator and PyTorch, and turns on
    PyTorch's deterministic algorithms so reruns give bit-identical results.

    Parameters
    ----------
    seed : int
        The seed, in ``[0, 2**32)`` (NumPy's limit). Notebooks call this first, with
        the seed they state.

    Returns
    -------
    numpy.random.Generator
        A fresh generator seeded with ``seed``, for code that takes an explicit ``rng``.
    """
    seed = non_negative_int(seed, "seed")
    if seed >= 2**32:
        raise ValueError(f"seed must be below 2**32 (NumPy's limit), got {seed}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    # cuBLAS needs this for deterministic matmuls on GPU; harmless on CPU.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    return np.random.default_rng(seed)


def get_device(prefer=None):
    """Pick the best available torch device: CUDA, then Apple MPS, then CPU.

    Parameters
    ----------
    prefer : str or torch.device, optional
        Force a device (e.g. ``"cpu"``, ``"cuda:1"``). ``None`` auto-selects.

    Raises
    ------
    ValueError
        If ``prefer`` is not a device name, or names a device this machine lacks (the
        message lists the available ones).
    """
    n_cuda = torch.cuda.device_count()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if prefer is None:
        return torch.device("cuda" if n_cuda else "mps" if mps else "cpu")
    available = ["cpu"] + [f"cuda:{k}" for k in range(n_cuda)] + ["mps"] * mps
    try:
        device = torch.device(prefer)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"{prefer!r} is not a torch device ({exc}); "
                         f"available here: {available}") from None
    if not (device.type == "cpu" or (device.type == "mps" and mps)
            or (device.type == "cuda" and (device.index or 0) < n_cuda)):
        raise ValueError(f"device {str(device)!r} is not available on this machine "
                         f"(available: {available}); pass None to pick the best one")
    return device
