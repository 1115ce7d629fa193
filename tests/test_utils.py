import random

import numpy as np
import pytest
import torch

from ncf_helpers.utils import get_device, seed_everything


def draw():
    return random.random(), np.random.rand(), torch.rand(1).item()


def test_seed_everything_makes_every_generator_repeat():
    rng = seed_everything(7)
    first, first_rng = draw(), rng.random()
    rng = seed_everything(7)
    assert draw() == first and rng.random() == first_rng
    seed_everything(8)
    assert draw() != first


def test_seed_everything_turns_on_deterministic_algorithms():
    seed_everything(0)
    assert torch.are_deterministic_algorithms_enabled()


@pytest.mark.parametrize("bad", [-1, 1.5, "42", None, True])
def test_bad_seed(bad):
    with pytest.raises(ValueError, match="seed"):
        seed_everything(bad)


@pytest.fixture
def machine(monkeypatch):
    """Pretend the machine has ``n_cuda`` CUDA devices and Apple's MPS or not."""
    def have(n_cuda, mps):
        monkeypatch.setattr(torch.cuda, "device_count", lambda: n_cuda)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    return have


@pytest.mark.parametrize("n_cuda, mps, best", [(0, False, "cpu"), (0, True, "mps"),
                                               (2, True, "cuda"), (1, False, "cuda")])
def test_get_device_picks_cuda_then_mps_then_cpu(machine, n_cuda, mps, best):
    machine(n_cuda, mps)
    assert get_device() == torch.device(best)
    assert get_device("cpu") == torch.device("cpu")  # asked for, whatever else there is


def test_get_device_refuses_a_device_the_machine_lacks(machine):
    machine(1, False)
    assert get_device("cuda:0") == torch.device("cuda:0")
    for missing in ("cuda:1", "mps"):
        with pytest.raises(ValueError, match="not available on this machine"):
            get_device(missing)
    machine(0, False)
    with pytest.raises(ValueError, match="not available"):
        get_device("cuda")
    with pytest.raises(ValueError, match="not a torch device"):
        get_device("gpu")
