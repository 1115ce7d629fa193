"""Reproducibility, device and memory helpers shared by every notebook."""
import os
import random
import resource

import numpy as np
import torch

from .checks import non_negative_int

# The one default seed of the package (training, protocols, samplers, the CLI).
DEFAULT_SEED = 42


def seed_everything(seed=DEFAULT_SEED):
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


def reset_peak_memory(device):
    """Start a new peak-memory window (process RSS on CPU, allocator peak on CUDA)."""
    if torch.device(device).type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    try:  # Linux: writing 5 to clear_refs resets the VmHWM high-water mark
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _proc_status_mib(field):
    """A memory field of /proc/self/status (``VmRSS``, ``VmHWM``) in MiB, or None."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def resident_memory_mib():
    """The process's resident memory now, MiB (Linux; NaN elsewhere)."""
    rss = _proc_status_mib("VmRSS")
    return float("nan") if rss is None else rss


def peak_memory_mib(device):
    """Peak memory since :func:`reset_peak_memory`, MiB: the process's peak resident
    set on CPU (VmHWM; lifetime ``ru_maxrss`` where /proc is missing), the peak of
    the CUDA allocator on GPU."""
    if torch.device(device).type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    peak = _proc_status_mib("VmHWM")
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 if peak is None else peak
