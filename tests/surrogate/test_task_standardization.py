"""Per-task standardization with scales pooled across tasks (hbo.surrogate.training_data)."""

import math

import numpy as np
import pytest
import torch

from hbo.meta import random_effects
from hbo.surrogate.training_data import task_standardization


def _tasks(rng, sds, ns, means=None):
    means = means or [0.0] * len(sds)
    Y = np.concatenate([m + s * rng.normal(size=n) for m, s, n in zip(means, sds, ns,
                                                                        strict=True)])
    labels = np.repeat(np.arange(len(ns)), ns)
    return torch.tensor(Y), torch.tensor(labels)


def test_a_few_points_on_a_plateau_take_the_sources_scale(rng):
    """Three points spread 1e-3 beside sources spread 0.05-0.1: the target's log scale is
    pulled most of the way to theirs (its own would make the plateau's differences the
    signal). Its sampling variance 2 / (3 - 1) = 1 against the sources' tau^2 (0.58 at this
    seed: their log variances lie within log(0.1^2 / 0.05^2) = 1.4 of each other) puts B at
    1 / 1.58 = 0.63; tau^2 between 0.1 and 1 gives 0.5 to 0.9."""
    Y, tasks = _tasks(rng, [0.05, 0.1, 0.07, 1e-3], [50, 50, 50, 3])
    _, std = task_standardization(Y, tasks, 4)
    own = math.log(Y[tasks == 3].std().item())
    sources = np.mean([math.log(Y[tasks == t].std().item()) for t in range(3)])
    pulled = (math.log(std[3].item()) - own) / (sources - own)
    assert 0.5 < pulled < 0.9
    # the sources' own 50 points dominate their estimates: within 15 % of their own spread
    for t in range(3):
        assert std[t].item() == pytest.approx(Y[tasks == t].std().item(), rel=0.15)


def test_the_shrinkage_is_the_normal_hierarchy_of_the_other_tasks_log_variances(rng):
    """Task 0's estimate by hand: DerSimonian-Laird (hbo.meta) on the others' log variances
    with sampling variances 2 / (n - 1), then B = v_0 / (v_0 + tau^2)."""
    ns = [4, 30, 20, 40, 25]
    Y, tasks = _tasks(rng, [0.3, 1.0, 2.0, 0.5, 1.5], ns)
    _, std = task_standardization(Y, tasks, 5)
    log_var = np.array([2 * math.log(Y[tasks == t].std().item()) for t in range(5)])
    sampling = 2 / (np.array(ns) - 1)
    fit = random_effects(log_var[1:], sampling[1:], method="DL")
    shrink = sampling[0] / (sampling[0] + fit.tau2)
    expected = (1 - shrink) * log_var[0] + shrink * fit.mu
    assert 2 * math.log(std[0].item()) == pytest.approx(expected, rel=1e-10)


def test_equivariant_so_standardizing_twice_is_standardizing_once(rng):
    Y, tasks = _tasks(rng, [0.3, 1.0, 2.0, 0.01], [5, 30, 20, 3], means=[1.0, -2.0, 5.0, 0.0])
    mean, std = task_standardization(Y, tasks, 4)
    scaled_mean, scaled_std = task_standardization(3e-7 * Y + 11.0, tasks, 4)
    torch.testing.assert_close(scaled_std, 3e-7 * std)
    torch.testing.assert_close(scaled_mean, 3e-7 * mean + 11.0)
    once = (Y - mean[tasks]) / std[tasks]
    # the Study's pass: centred, in one task's units; then the model's own pass
    first = (Y - mean[tasks]) / std[2]
    m2, s2 = task_standardization(first, tasks, 4)
    torch.testing.assert_close((first - m2[tasks]) / s2[tasks], once)


def test_without_two_other_tasks_a_task_keeps_its_own_scale(rng):
    Y, tasks = _tasks(rng, [0.3, 2.0], [6, 30])
    _, std = task_standardization(Y, tasks, 2)
    torch.testing.assert_close(std, torch.stack([Y[tasks == t].std() for t in range(2)]))
    # one observation: the other task's scale (before: 1 in the data's units)
    Y1 = torch.cat([Y[tasks == 1], torch.tensor([0.7], dtype=torch.double)])
    t1 = torch.tensor([0] * 30 + [1])
    _, std1 = task_standardization(Y1, t1, 2)
    assert std1[1].item() == pytest.approx(std1[0].item())
    # alone, one observation or a constant task: 1
    _, alone = task_standardization(torch.tensor([5.0, 5.0], dtype=torch.double),
                                    torch.tensor([0, 0]), 1)
    assert alone.item() == 1.0
