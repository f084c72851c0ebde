"""The likelihood-ratio screen of sources (hbo.surrogate.source_screening)."""

import math

import pytest
import torch

import hbo
from hbo.proposer import HierarchicalProposer
from hbo.surrogate.source_screening import (
    ALPHA,
    SourceScreen,
    normal_scores,
    screen_source,
)


def inputs(n: int, d: int, seed: int) -> torch.Tensor:
    return torch.rand(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.double)


def smooth(X: torch.Tensor) -> torch.Tensor:
    return (torch.sin(4 * X[:, :1]) + X[:, 1:2] ** 2).double()


def test_noise_sources_rarely_pass_and_functions_pass_by_far():
    # under no function the test is conservative (boundary null, MAP priors): at most about
    # ALPHA = 5% pass; 3 or more of 12 would have probability 0.02 at 5%
    kept = 0
    for seed in range(12):
        noise = torch.randn(40, 1, generator=torch.Generator().manual_seed(100 + seed),
                            dtype=torch.double)
        screen = screen_source("noise", inputs(40, 3, seed), noise)
        assert screen.bar == pytest.approx(0.5 * 9.4877, abs=1e-3)  # chi2_0.95(4) / 2
        kept += screen.kept
    assert kept <= 2
    X = inputs(40, 3, 0)
    screen = screen_source("smooth", X, smooth(X) + 0.05 * torch.randn(40, 1, dtype=torch.double))
    assert screen.kept and screen.gain > 5 * screen.bar
    assert "kept (GP log likelihood" in str(screen)


def test_skewed_values_with_no_function_pass_no_more_often_than_gaussian_ones():
    """The test runs on normal scores: iid log-normal values (an objective whose good and
    failed configurations differ by orders of magnitude) show no function. On the raw
    values 5 of these 12 passed the 5% bar (the Gaussian null is wrong for them: the GP
    spends its flexibility on a few outliers); 3 or more of 12 has probability 0.02 at 5%."""
    kept = 0
    for seed in range(12):
        generator = torch.Generator().manual_seed(100 + seed)
        X = torch.rand(60, 3, generator=generator, dtype=torch.double)
        skewed = torch.exp(1.5 * torch.randn(60, 1, generator=generator, dtype=torch.double))
        kept += screen_source("skewed", X, skewed).kept
    assert kept <= 2


def test_normal_scores_are_blom_scores_of_the_ranks():
    from scipy import stats

    Y = torch.tensor([[3.0], [-1.0], [100.0], [3.0]], dtype=torch.double)
    expected = stats.norm.ppf((torch.tensor([2.5, 1.0, 4.0, 2.5]) - 0.375) / 4.25)
    assert normal_scores(Y)[:, 0].tolist() == pytest.approx(expected.tolist())
    X = inputs(60, 3, 4)  # a monotone transform of the values leaves the screen unchanged
    values = smooth(X) + 0.1 * torch.randn(60, 1, generator=torch.Generator().manual_seed(4),
                                           dtype=torch.double)
    assert screen_source("a", X, values).gain == pytest.approx(
        screen_source("b", X, torch.exp(3 * values)).gain)


def test_the_bar_is_family_wise_over_the_sources_screened_together():
    """Bonferroni over ``num_sources``: 12 noise sources screened as one family pass it
    together at most ALPHA of the time (so none, here), and a function still passes by far."""
    from scipy import stats

    screens = [screen_source("noise", inputs(40, 3, seed), torch.randn(
        40, 1, generator=torch.Generator().manual_seed(100 + seed), dtype=torch.double),
        num_sources=12) for seed in range(12)]
    assert screens[0].bar == pytest.approx(0.5 * stats.chi2.ppf(1 - 0.05 / 12, 4))
    assert not any(screen.kept for screen in screens)
    X = inputs(40, 3, 0)
    smooth_source = screen_source("smooth", X, smooth(X), num_sources=20)
    assert smooth_source.kept and smooth_source.gain > 3 * smooth_source.bar


def test_constant_and_tiny_sources():
    X = inputs(20, 2, 1)
    constant = screen_source("flat", X, torch.full((20, 1), 0.7, dtype=torch.double))
    assert not constant.kept and constant.gain == 0.0
    assert "left out: no function shown" in str(constant)
    tiny = screen_source("tiny", X[:17], smooth(X[:17]))  # k = 3: 17 < 6 k points
    assert tiny.kept and tiny.gain is None and "untested" in str(tiny)
    assert screen_source("enough", X[:18], smooth(X[:18])).gain is not None
    assert SourceScreen("t", 9, 1.0, 2.0).kept is False
    assert math.isclose(ALPHA, 0.05)


def test_a_study_leaves_a_shuffled_source_out_and_says_so():
    space = hbo.SearchSpace([hbo.Float("x", 0.0, 1.0), hbo.Float("y", 0.0, 1.0)])
    X = inputs(40, 2, 3)
    values = smooth(X)[:, 0]
    params = [{"x": float(a), "y": float(b)} for a, b in X.tolist()]
    shuffled = values[torch.randperm(40, generator=torch.Generator().manual_seed(0))]

    def study(**options):
        s = hbo.Study(space, task="target", seed=0, **options)
        s.add_history("related", params, (values + 0.1).tolist())
        s.add_history("shuffled", params, shuffled.tolist())
        s.add_history("target", params[:3], (values[:3] - 0.2).tolist())
        return s

    screened = study()
    report = screened.pooling()
    assert report.tasks.index.get_level_values("task").unique().tolist() == ["target", "related"]
    assert [s.task for s in report.left_out] == ["shuffled"]
    assert "Left out of the model" in str(report) and "shuffled: left out" in str(report)
    pooled_all = study(proposer=HierarchicalProposer(screen_sources=False)).pooling()
    assert set(pooled_all.tasks.index.get_level_values("task")) == {"target", "related",
                                                                      "shuffled"}
    assert pooled_all.left_out == ()


def test_screen_sources_must_be_a_bool():
    with pytest.raises(hbo.HBOError, match="screen_sources must be True or False, got 'yes'"):
        HierarchicalProposer(screen_sources="yes")


def test_history_the_screen_leaves_out_changes_no_proposal():
    """Sources with no function are left out, and the task's proposals are then exactly
    those of the study without them (the ask's seed counts only the task's own trials):
    the Sobol start, and the model's points after it."""
    space = hbo.SearchSpace([hbo.Float("x", 0.0, 1.0), hbo.Float("y", 0.0, 1.0)])
    generator = torch.Generator().manual_seed(0)

    def asked(sources: int) -> list[dict]:
        study = hbo.Study(space, task="target", seed=3)
        for k in range(sources):
            X = torch.rand(40, 2, generator=generator, dtype=torch.double)
            study.add_history(f"noise{k}", [{"x": a, "y": b} for a, b in X.tolist()],
                              torch.randn(40, generator=generator, dtype=torch.double).tolist())
        params = []
        for _ in range(8):  # 5 Sobol points, then 3 of the model
            trial = study.ask()
            params.append(trial.params)
            x = torch.tensor([trial.params["x"], trial.params["y"]], dtype=torch.double)
            study.tell(trial, float(smooth(x[None])))
        assert not any(s.kept for s in study.proposer.source_screens(study, "target"))
        return params

    assert asked(3) == asked(0)
