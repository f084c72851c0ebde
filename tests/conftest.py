"""Shared fixtures: one seeded generator for every test that draws random numbers."""

import numpy as np
import pytest
import torch


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261125)


@pytest.fixture(autouse=True)
def _seed_torch():
    torch.manual_seed(0)
