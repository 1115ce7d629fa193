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


def test_get_device():
    assert get_device("cpu") == torch.device("cpu")
    assert get_device().type in {"cpu", "cuda", "mps"}
