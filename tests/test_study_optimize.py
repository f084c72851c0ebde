"""Study.optimize: the evaluation loop, its callbacks, caught and uncaught failures."""

import itertools

import pytest

import hbo
import hbo.study.optimize as loop
from hbo.errors import ArgumentTypeError, InvalidArgumentError
from hbo.proposer import SobolProposer


@pytest.fixture
def study() -> hbo.Study:
    space = hbo.SearchSpace([hbo.Float("x", -2.0, 2.0)])
    return hbo.Study(space, task="t", seed=0, proposer=SobolProposer())


def square(trial: hbo.Trial) -> float:
    return (trial.params["x"] - 0.5) ** 2


def test_optimize_runs_n_trials_and_calls_back_with_finished_trials(study):
    seen = []
    study.optimize(square, n_trials=4, callbacks=[lambda s, t: seen.append((s, t))])
    trials = study.storage.get_trials()
    assert len(trials) == 4 and all(t.state is hbo.TrialState.COMPLETE for t in trials)
    assert [t for _, t in seen] == trials and all(s is study for s, _ in seen)
    assert study.best_value == min(t.value for t in trials) == square(study.best)
    assert study.best_params == study.best.params


def test_caught_failures_go_on_and_others_end_the_loop(study):
    calls = itertools.count()

    def flaky(trial):
        if next(calls) == 1:
            raise ValueError("diverged")
        return square(trial)

    with pytest.warns(hbo.FailedTrialWarning, match="ValueError: diverged"):
        study.optimize(flaky, n_trials=3, catch=ValueError)
    states = [t.state for t in study.storage.get_trials()]
    assert states == [hbo.TrialState.COMPLETE, hbo.TrialState.FAILED, hbo.TrialState.COMPLETE]

    def broken(trial):
        raise KeyError("bug")

    with pytest.raises(KeyError, match="bug"):
        study.optimize(broken, n_trials=5, catch=(ValueError,))
    assert study.storage.get_trials()[-1].state is hbo.TrialState.FAILED  # none left running
    assert len(study.storage.get_trials()) == 4


def test_timeout_is_checked_before_each_ask(study, monkeypatch):
    clock = itertools.count(0.0, 10.0)  # every reading 10 s later: start, then one per ask
    monkeypatch.setattr(loop.time, "monotonic", lambda: next(clock))
    study.optimize(square, timeout=25.0)
    assert len(study.storage.get_trials()) == 2  # at 10 s and 20 s; at 30 s it stops


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"func": 3}, ArgumentTypeError, "func must be a callable"),
    ({"n_trials": 0}, InvalidArgumentError, "n_trials must be a positive int"),
    ({"timeout": -1}, InvalidArgumentError, "timeout must be a positive number"),
    ({"callbacks": [1]}, ArgumentTypeError, "callbacks must be a sequence of callables"),
    ({"catch": "ValueError"}, ArgumentTypeError, "catch must be an Exception class"),
])
def test_bad_loop_arguments_are_named_and_store_nothing(study, kwargs, error, match):
    with pytest.raises(error, match=match):
        study.optimize(**{"func": square, "n_trials": 1, **kwargs})
    assert study.storage.get_trials() == []
