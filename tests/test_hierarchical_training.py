"""Hierarchical training in the proposer (hbo.proposer.hierarchical_training)."""

import numpy as np
import pytest

import hbo
from hbo.errors import InvalidArgumentError
from hbo.proposer import HierarchicalProposer, hierarchical_training
from hbo.proposer.hierarchical_training import uses_hierarchical_training
from hbo.surrogate.hierarchical_gp import MAX_SHARED_POINTS, HierarchicalGP
from hbo.surrogate.target_gp import TargetGP


def _space() -> hbo.SearchSpace:
    return hbo.SearchSpace([hbo.Float("x", 0.0, 1.0), hbo.Float("y", 0.0, 1.0)])


def _study(training: str, n_sources: int = 3, n_each: int = 12, n_target: int = 3,
           seed: int = 0) -> hbo.Study:
    rng = np.random.default_rng(seed)
    study = hbo.Study(_space(), task="target", seed=seed, training=training)
    for s in range(n_sources + 1):
        task = "target" if s == n_sources else f"source{s}"
        n = n_target if s == n_sources else n_each
        xs = rng.random((n, 2))
        values = [(x - 0.3 - 0.05 * s) ** 2 + (y - 0.6) ** 2 for x, y in xs]
        study.add_history(task, [{"x": x, "y": y} for x, y in xs], values)
    return study


def test_auto_is_the_joint_model_up_to_max_shared_points():
    proposer = HierarchicalProposer()
    assert not uses_hierarchical_training(proposer, 3, MAX_SHARED_POINTS, 5)
    assert uses_hierarchical_training(proposer, 3, MAX_SHARED_POINTS + 1, 5)
    assert not uses_hierarchical_training(proposer, 3, MAX_SHARED_POINTS + 1, 1)
    assert not uses_hierarchical_training(HierarchicalProposer(shared_function=False), 3, 10**4, 5)
    assert not uses_hierarchical_training(HierarchicalProposer(training="hierarchical"), 0, 50, 5)
    asked = [_study(training).ask().params for training in ("auto", "joint")]
    assert asked[0] == asked[1]  # the same fit: proposals unchanged below the threshold


def test_forced_hierarchical_training_proposes_and_reports_its_approximation():
    study = _study("hierarchical", n_target=8)
    trial = study.ask()
    assert set(trial.params) == {"x", "y"}
    assert isinstance(study.proposer.model, TargetGP)
    text = str(study.pooling())
    assert ("hierarchical training: sources fitted once (hyperparameters on 36 of 36 source "
            "points and the target's 8 with the shared function;") in text and "source0" in text
    training = study.proposer._hierarchical["value"]
    sources = training.sources
    study.tell(trial, 0.5)
    trial = study.ask()  # 9 < 1.25 x 8 target points: stage A reused, the target refitted
    assert training.sources is sources
    study.tell(trial, 0.5)
    study.ask()  # 10 target points: stage A refitted with them
    assert training.sources is not sources and training.sources.num_target_points == 10
    sources = training.sources
    study.add_history("source0", [{"x": 0.5, "y": 0.5}], [0.1])
    study.ask()  # other sources' data: stage A refitted
    assert training.sources is not sources and training.sources.num_target_points == 10


def test_stage_a_sees_the_target_on_a_geometric_schedule():
    """Stage A is refitted with the target from TARGET_REFIT_POINTS observations on, each
    time they have grown by TARGET_REFIT_GROWTH and by TARGET_REFIT_STEP points; stage B
    then starts at stage A's fit of the target. Its model without g is fitted only once
    the target has MIN_TARGET_POINTS, for the leave-one-out choice, to the sources alone,
    and kept by the refits with the target."""
    study = _study("hierarchical", n_target=1)
    training = study.proposer.hierarchical_training("value")
    seen, own = [], []
    for _ in range(15):
        trial = study.ask()
        seen.append(training.target_points)
        own.append(training.sources.own_model)
        study.tell(trial, float(trial.params["x"]))
    assert seen == [0, 2, 2, 4, 4, 6, 6, 8, 8, 10, 10, 10, 13, 13, 13]
    assert own[:9] == [None] * 9 and all(m is own[9] for m in own[9:])
    assert own[9].num_tasks == 3
    stage_a = training.sources.model_for(True)
    assert training.sources.num_sources == 3 and stage_a.num_tasks == 4
    assert all(v.shape[0] == 3 for v in training.sources.hierarchy(True).log_theta.values())


def test_hierarchical_training_chooses_g_by_leave_one_out_from_ten_target_points():
    study = _study("hierarchical", n_target=10)
    study.ask()
    choice = study.proposer.shared_choice
    assert choice.loo_with is not None and choice.loo_without is not None
    assert set(study.proposer._hierarchical["value"].targets) == {True, False}


def test_training_is_checked():
    with pytest.raises(InvalidArgumentError, match="training must be one of"):
        HierarchicalProposer(training="fast")
    with pytest.raises(InvalidArgumentError, match="fits by MAP"):
        HierarchicalProposer(training="hierarchical", inference="nuts")


def test_each_outcome_keeps_its_own_cached_sources():
    rng = np.random.default_rng(1)
    study = hbo.Study(_space(), task="target", seed=1, training="hierarchical",
                      objectives={"loss": "minimize"}, constraints=["mem <= 0.5"])
    for task, n in (("source0", 12), ("source1", 12), ("target", 3)):
        xs = rng.random((n, 2))
        study.add_history(task, [{"x": x, "y": y} for x, y in xs],
                          [{"loss": (x - 0.3) ** 2 + y, "mem": x} for x, y in xs])
    trial = study.ask()
    training = study.proposer._hierarchical
    assert set(training) == {"loss", "mem"}
    assert training["loss"].sources is not training["mem"].sources
    assert isinstance(study.proposer.model, TargetGP) and set(trial.params) == {"x", "y"}
    assert "hierarchical training" in str(study.pooling("mem"))


def test_one_large_source_is_fitted_by_the_exact_joint_model(monkeypatch):
    """Stage A needs two sources to separate ``g`` from a source's own function; one source
    above MAX_SHARED_POINTS had failed every model-based ask (shared_function=True with one
    task); it is now the joint model of source and target. (The threshold is lowered here:
    the joint model of a 620-point source takes a minute to fit.)"""
    monkeypatch.setattr(hierarchical_training, "MAX_SHARED_POINTS", 40)
    rng = np.random.default_rng(0)
    study = hbo.Study(_space(), task="target", seed=0)
    for task, n in (("source", 60), ("target", 3)):
        xs = rng.random((n, 2))
        values = (xs[:, 0] - 0.3) ** 2 + (xs[:, 1] - 0.6) ** 2 + 0.01 * rng.normal(size=n)
        study.add_history(task, [{"x": x, "y": y} for x, y in xs], values.tolist())
    trial = study.ask()
    assert set(trial.params) == {"x", "y"}
    assert isinstance(study.proposer.model, HierarchicalGP)
