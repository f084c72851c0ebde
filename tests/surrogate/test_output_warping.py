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


def test_one_exponent_of_the_summed_likelihood_warps_every_task_in_order(rng):
    # two tasks with a long tail of bad values (accuracy-like, skewed to the left) on other
    # scales; task 2 all equal and task 3 too few to warp
    first, second = 1.0 - rng.exponential(0.1, 60), 50.0 - rng.exponential(8.0, 40)
    y = np.concatenate([first, second, [0.3, 0.3, 0.3], [0.1, 0.9]])
    tasks = torch.tensor([0] * 60 + [1] * 40 + [2] * 3 + [3] * 2)
    warped, lam = warp_tasks(torch.tensor(y), tasks, 4)
    z = [(v - v.mean()) / v.std() for v in (first, second)]
    grid = np.linspace(-3, 5, 8001)
    llf = [sum(stats.yeojohnson_llf(g, v) for v in z) for g in grid]
    assert lam == pytest.approx(grid[np.argmax(llf)], abs=2e-3) and lam > 1
    for t, (values, zt) in enumerate(zip((first, second), z, strict=True)):
        np.testing.assert_allclose(warped[tasks == t].numpy(), stats.yeojohnson(zt, lam))
        order = np.argsort(values)
        assert np.all(np.diff(warped[tasks == t].numpy()[order]) > 0)  # increasing
        # closer to normal: the skew shrinks
        assert abs(stats.skew(warped[tasks == t].numpy())) < 0.5 * abs(stats.skew(values))
    np.testing.assert_array_equal(warped[tasks >= 2].numpy(), [0.3, 0.3, 0.3, 0.1, 0.9])
    assert MIN_POINTS == 3


def test_a_study_warps_one_outcome_when_asked(monkeypatch):
    space = hbo.SearchSpace([hbo.Float("x", 0.0, 1.0)])
    calls = []
    import hbo.proposer.hierarchical as hierarchical

    real = hierarchical.warp_tasks
    monkeypatch.setattr(hierarchical, "warp_tasks",
                        lambda *a: calls.append(a) or real(*a))
    for warping, expected in ((True, 1), (False, 0), (None, 0)):  # None: the default
        calls.clear()
        options = {} if warping is None else {"output_warping": warping}
        study = hbo.Study(space, seed=0, n_initial=3, **options)
        for x in (0.1, 0.5, 0.9):
            study.enqueue({"x": x})
            study.tell(study.ask(), (x - 0.3) ** 2)
        study.ask()
        assert len(calls) == expected
    two = hbo.Study(space, seed=0, n_initial=3, objectives={"a": "minimize", "b": "minimize"},
                    output_warping=True)
    calls.clear()
    for x in (0.1, 0.5, 0.9):
        two.enqueue({"x": x})
        two.tell(two.ask(), {"a": x, "b": 1 - x})
    two.ask()
    assert not calls  # several outcomes: in their own units
    with pytest.raises(ValueError, match="output_warping must be True or False, got 'yes'"):
        hbo.Study(space, output_warping="yes")
