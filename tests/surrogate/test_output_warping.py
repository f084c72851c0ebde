"""Output warping (hbo/surrogate/output_warping.py): Yeo-Johnson per task, against scipy."""

import numpy as np
import pytest
import torch
from scipy import stats

import hbo
from hbo.surrogate.output_warping import MIN_POINTS, warp_tasks, yeo_johnson


def test_the_transform_is_yeo_johnsons_four_branches():
    z = np.array([-2.0, -0.5, 0.0, 0.7, 3.0])
    for lam in (0.0, 0.5, 2.0, 3.0):
        pos, neg = np.maximum(z, 0), np.minimum(z, 0)  # each branch on its own side
        expected = np.where(
            z >= 0,
            np.log1p(pos) if lam == 0 else ((pos + 1) ** lam - 1) / lam,
            -np.log1p(-neg) if lam == 2 else -((1 - neg) ** (2 - lam) - 1) / (2 - lam),
        )
        np.testing.assert_allclose(yeo_johnson(z, lam), expected, rtol=1e-12)


def test_each_task_gets_its_own_exponent_and_keeps_its_order(rng):
    # task 0: a long tail of bad values (accuracy-like, skewed to the left); task 1 a long
    # tail of good ones; task 2 all equal, task 3 too few to warp
    bad_tail = 1.0 - rng.exponential(0.1, 60)
    good_tail = rng.exponential(1.0, 40)
    y = np.concatenate([bad_tail, good_tail, [0.3, 0.3, 0.3], [0.1, 0.9]])
    tasks = torch.tensor([0] * 60 + [1] * 40 + [2] * 3 + [3] * 2)
    warped, lam = warp_tasks(torch.tensor(y), tasks, 4)
    assert lam[0] > 1 > lam[1] and torch.isnan(lam[2:]).all()
    for t, values in ((0, bad_tail), (1, good_tail)):
        z = (values - values.mean()) / values.std()
        assert lam[t] == pytest.approx(stats.yeojohnson_normmax(z))
        np.testing.assert_allclose(warped[tasks == t].numpy(), stats.yeojohnson(z, lam[t].item()))
        order = np.argsort(values)
        assert np.all(np.diff(warped[tasks == t].numpy()[order]) > 0)  # increasing
        # closer to normal: the skew shrinks
        assert abs(stats.skew(warped[tasks == t].numpy())) < 0.5 * abs(stats.skew(values))
    np.testing.assert_array_equal(warped[tasks >= 2].numpy(), [0.3, 0.3, 0.3, 0.1, 0.9])
    assert MIN_POINTS == 3


def test_a_study_warps_one_outcome_unless_told_not_to(monkeypatch):
    space = hbo.SearchSpace([hbo.Float("x", 0.0, 1.0)])
    calls = []
    import hbo.proposer.hierarchical as hierarchical

    real = hierarchical.warp_tasks
    monkeypatch.setattr(hierarchical, "warp_tasks",
                        lambda *a: calls.append(a) or real(*a))
    for warping, expected in ((True, 1), (False, 0)):
        calls.clear()
        study = hbo.Study(space, seed=0, n_initial=3, output_warping=warping)
        for x in (0.1, 0.5, 0.9):
            study.enqueue({"x": x})
            study.tell(study.ask(), (x - 0.3) ** 2)
        study.ask()
        assert len(calls) == expected
    two = hbo.Study(space, seed=0, n_initial=3, objectives={"a": "minimize", "b": "minimize"})
    calls.clear()
    for x in (0.1, 0.5, 0.9):
        two.enqueue({"x": x})
        two.tell(two.ask(), {"a": x, "b": 1 - x})
    two.ask()
    assert not calls  # several outcomes: in their own units
    with pytest.raises(ValueError, match="output_warping must be True or False, got 'yes'"):
        hbo.Study(space, output_warping="yes")
