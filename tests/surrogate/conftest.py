"""Simulated task families for the surrogate tests."""

import numpy as np
import pytest
import torch


def task_data(rng: np.random.Generator, fns, n: int, d: int, noise: float = 0.05):
    """Stack ``n`` uniform points per function into ``train_X`` (task column last), ``train_Y``."""
    Xs, Ys = [], []
    for t, fn in enumerate(fns):
        x = rng.random((n, d))
        Xs.append(np.hstack([x, np.full((n, 1), t)]))
        Ys.append(fn(x) + noise * rng.standard_normal(n))
    return torch.tensor(np.vstack(Xs)), torch.tensor(np.concatenate(Ys)).unsqueeze(-1)


@pytest.fixture
def related_fns():
    """Five related functions: shifted, scaled and offset copies of one 2-D function."""

    def make(shift, scale, offset):
        return lambda x: scale * (np.sin(5 * (x[:, 0] + shift)) + (x[:, 1] - 0.3) ** 2) + offset

    return [make(0.02 * k, 1.0 + 0.5 * k, 3.0 * k) for k in range(5)]


@pytest.fixture
def make_task_data():
    """:func:`task_data` as a fixture (test modules cannot import conftest by name)."""
    return task_data
