"""The machine a measurement ran on (shared by benchmarks.bench and benchmarks.scale)."""
import os
import platform
from pathlib import Path


def cpu_model():
    """The CPU's model name (from /proc/cpuinfo on Linux, else what platform knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average():
    """The 1-minute load average, NaN where the platform has none (Windows)."""
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):
        return float("nan")


def machine():
    """CPU, core count, torch threads and the versions that shape a timing."""
    import numpy as np
    import torch

    return {"cpu": cpu_model(), "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "numpy": np.__version__, "python": platform.python_version()}
