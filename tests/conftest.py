"""Shared fixtures: one seeded generator for every test that draws random numbers."""

import numpy as np
import pytest
import torch

# pytest-xdist runs one worker per core; intra-op threads on top of that oversubscribe the
# cores, and the small matrices of these tests then spend their time waiting on each other.
torch.set_num_threads(1)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261125)


@pytest.fixture(autouse=True)
def _seed_torch():
    torch.manual_seed(0)
