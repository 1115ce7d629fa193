"""Reproducibility and device helpers shared by every notebook."""
import os
import random

import numpy as np
import torch


def seed_everything(seed=42):
    """Seed every random number generator the series uses.

    Seeds Python's ``random``, NumPy's global generator and PyTorch, and turns on
    PyTorch's deterministic algorithms so reruns give bit-identical results.

    Parameters
    ----------
    seed : int
        The seed. Notebooks call this first, with the seed they state.

    Returns
    -------
    numpy.random.Generator
        A fresh generator seeded with ``seed``, for code that takes an explicit ``rng``.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
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
        Force a device (e.g. ``"cpu"``). ``None`` auto-selects.
    """
    if prefer is not None:
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
