"""Study with several outcomes: objectives and outcome constraints, their input checks,
feasibility, the Pareto front and hypervolume, tables, storage and figures."""

import math

import numpy as np
import pandas as pd
import pytest

import hbo
import hbo.proposer
import hbo.study.io
from hbo._warnings import FailedTrialWarning
from hbo.errors import ArgumentTypeError, InvalidArgumentError, InvalidDataError, NotReadyError
from hbo.storage import StudyMismatchError
from hbo.study.outcomes import OutcomeConstraint
from hbo.study.plots import save_pareto_figure
from hbo.trial import TrialState

SPACE = hbo.SearchSpace([hbo.Float("x", 0.0, 1.0), hbo.Float("y", 0.0, 1.0)])
OBJECTIVES = {"loss": "minimize", "latency_ms": "minimize"}


def two_objectives(**kwargs) -> hbo.Study:
    return hbo.Study(SPACE, task="target", objectives=OBJECTIVES,
                     constraints=["memory_gb <= 3"], seed=0, **kwargs)


def told(study: hbo.Study, params: dict, values: dict) -> hbo.Trial:
    """A target trial at ``params`` told ``values`` (enqueued, so no model is fitted)."""
    study.enqueue(params)
    return study.tell(study.ask(), values)


# ------------------------------------------------------------------ construction
def test_objectives_and_constraints_define_the_outcomes():
    study = hbo.Study(SPACE, objectives={"loss": "minimize", "acc": "maximize"},
                      constraints=["mem >= 1", OutcomeConstraint("mem", "<=", 3), "t<=2.5"])
    assert study.objectives == {"loss": "minimize", "acc": "maximize"}
    assert study.outcomes == ["loss", "acc", "mem", "t"]  # two constraints on one outcome
    assert [str(c) for c in study.constraints] == ["mem >= 1.0", "mem <= 3.0", "t <= 2.5"]
    assert study.constraints[0].satisfied(1.0) and not study.constraints[0].satisfied(0.5)
    with pytest.raises(InvalidArgumentError, match="several objectives"):
        _ = study.direction
    # the default: one objective named "value"
    assert hbo.Study(SPACE, direction="maximize").objectives == {"value": "maximize"}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"objectives": OBJECTIVES, "direction": "maximize"}, "either direction"),
        ({"objectives": {"loss": "down"}}, "'loss': direction must be one of"),
        ({"objectives": {}}, "non-empty dict"),
        ({"objectives": {"my loss": "minimize"}}, "identifier-like"),
        ({"constraints": ["memory_gb < 3"]}, "is not 'name <= bound'"),
        ({"constraints": ["memory_gb <= lots"]}, "is not a number"),
        ({"constraints": ["memory_gb <= inf"]}, "finite number"),
        ({"constraints": ["value <= 3"]}, "on the objective 'value'"),
        ({"constraints": ["x <= 3"]}, r"\['x'\] are also parameter names"),
        ({"constraints": "m <= 3"}, "must be a list"),
        ({"constraints": [3.0]}, "each constraint must be"),
        ({"constraints": ["m <= 3"], "inference": "nuts"}, 'inference="nuts" fits one outcome'),
    ],
)
def test_bad_definitions_are_refused_naming_the_problem(kwargs, match):
    with pytest.raises((InvalidArgumentError, ArgumentTypeError), match=match):
        hbo.Study(SPACE, **kwargs)


def test_nuts_is_refused_for_several_outcomes_also_in_a_given_proposer():
    nuts = hbo.proposer.HierarchicalProposer(inference="nuts")
    with pytest.raises(InvalidArgumentError, match='inference="nuts" fits one outcome'):
        hbo.Study(SPACE, objectives=OBJECTIVES, proposer=nuts)


def test_optimize_tells_the_dict_the_objective_returns():
    study = two_objectives(n_initial=100)
    study.optimize(lambda t: {"loss": t.params["x"], "latency_ms": 1 - t.params["x"],
                              "memory_gb": t.params["y"] * 5}, n_trials=4)
    done = study.storage.get_trials(states=[TrialState.COMPLETE])
    assert len(done) == 4 and all(set(t.values) == set(study.outcomes) for t in done)


# ------------------------------------------------------------------ tell
def test_tell_takes_every_outcome_and_refuses_anything_else_storing_nothing():
    study = two_objectives()
    trial = study.ask()
    good = {"loss": 0.5, "latency_ms": 12.0, "memory_gb": 2.0}
    cases = [
        ({"loss": 0.5, "memory_gb": 2.0}, InvalidArgumentError, r"lacks the outcome\(s\) "
         r"\['latency_ms'\]; expected exactly \['loss', 'latency_ms', 'memory_gb'\]"),
        ({**good, "gpu": 1.0}, InvalidArgumentError, r"unknown outcome\(s\) \['gpu'\]"),
        ({**good, "loss": "low"}, TypeError, r"value\['loss'\] must be a real number"),
        (0.5, ArgumentTypeError, "must be a dict of outcome -> number"),
    ]
    for value, error, match in cases:
        with pytest.raises(error, match=match):
            study.tell(trial, value)
        stored = study.storage.get_trial(trial.id)
        assert stored.state is TrialState.RUNNING and stored.values is None
    study.tell(trial, good)
    assert trial.values == good and trial.value is None  # several objectives: no one value


def test_a_nan_in_one_outcome_records_the_trial_failed():
    study = two_objectives()
    trial = study.ask()
    with pytest.warns(FailedTrialWarning, match=r"outcome\(s\) \{'latency_ms': nan\}"):
        study.tell(trial, {"loss": 0.5, "latency_ms": math.nan, "memory_gb": 1.0})
    stored = study.storage.get_trial(trial.id)
    assert stored.state is TrialState.FAILED and stored.values is None and stored.value is None


def test_one_objective_studies_keep_a_number_and_name_it():
    study = hbo.Study(SPACE, seed=0)
    trial = study.tell(study.ask(), 1.5)
    assert (trial.value, trial.values) == (1.5, {"value": 1.5})
    named = hbo.Study(SPACE, objectives={"loss": "minimize"}, seed=0)
    assert named.tell(named.ask(), 2.0).values == {"loss": 2.0}
    assert named.tell(named.ask(), {"loss": 3.0}).value == 3.0
    constrained = hbo.Study(SPACE, constraints=["mem <= 1"], seed=0)
    with pytest.raises(ArgumentTypeError, match=r"\['value', 'mem'\]"):
        constrained.tell(constrained.ask(), 1.0)


# ------------------------------------------------------------------ history
def test_history_rows_may_lack_outcomes_but_not_have_unknown_ones():
    study = two_objectives()
    params = [{"x": 0.1, "y": 0.2}, {"x": 0.3, "y": 0.4}]
    stored = study.add_history("src", params, [{"loss": 1.0, "memory_gb": 2.0},
                                               {"latency_ms": 5.0}])
    assert [t.values for t in stored] == [{"loss": 1.0, "memory_gb": 2.0}, {"latency_ms": 5.0}]
    for values, error, match in [
        ([{"loss": 1.0}, {"gpu": 1.0}], InvalidArgumentError, r"values\[1\] has unknown"),
        ([{"loss": 1.0}, {}], InvalidArgumentError, r"values\[1\] has none of"),
        ([{"loss": 1.0}, {"loss": math.inf}], ValueError, r"rows \[1\] are not finite"),
        ([1.0, 2.0], ArgumentTypeError, "must be a dict"),
    ]:
        with pytest.raises(error, match=match):
            study.add_history("src", params, values)
    assert len(study.storage.get_trials()) == 2  # nothing of the refused calls


def test_history_dataframe_has_a_column_per_outcome_empty_cells_missing():
    study = two_objectives()
    frame = pd.DataFrame({"x": [0.1, 0.2], "y": [0.3, 0.4], "loss": [1.0, np.nan],
                          "memory_gb": [2.0, 2.5]})
    stored = study.add_history("src", frame)
    assert [t.values for t in stored] == [{"loss": 1.0, "memory_gb": 2.0}, {"memory_gb": 2.5}]
    with pytest.raises(ValueError, match="needs columns of the outcomes"):
        study.add_history("src", frame[["x", "y"]])


# ------------------------------------------------------------------ results
def test_best_is_the_best_feasible_trial_and_says_when_none_is():
    study = hbo.Study(SPACE, task="target", constraints=["mem <= 1"], seed=0)
    told(study, {"x": 0.1, "y": 0.1}, {"value": 0.0, "mem": 2.0})
    with pytest.raises(NotReadyError, match=r"none of the 1 completed.*\['mem <= 1.0'\]"):
        _ = study.best
    told(study, {"x": 0.2, "y": 0.1}, {"value": 3.0, "mem": 1.0})
    told(study, {"x": 0.3, "y": 0.1}, {"value": 2.0, "mem": 0.5})
    assert study.best_value == 2.0 and study.best_params == {"x": 0.3, "y": 0.1}
    assert [t.id for t in study.pareto_front()] == [study.best.id]  # one objective: the best
    with pytest.raises(InvalidArgumentError, match="pareto_front"):
        _ = two_objectives().best


def test_pareto_front_and_hypervolume_against_hand_computed_values():
    study = two_objectives()
    rows = [  # (loss, latency, memory): the front is the first three
        (1.0, 3.0, 1.0), (2.0, 2.0, 1.0), (3.0, 1.0, 1.0),
        (3.0, 3.0, 1.0),  # dominated by (2, 2)
        (0.0, 0.0, 5.0),  # dominates everything, but infeasible
    ]
    for i, (loss, latency, memory) in enumerate(rows):
        told(study, {"x": i / 10, "y": 0.5}, {"loss": loss, "latency_ms": latency,
                                              "memory_gb": memory})
    assert [t.id for t in study.pareto_front()] == [0, 1, 2]
    # the staircase under the reference (4, 4): 1 x 1 + 1 x 2 + 1 x 3
    assert study.hypervolume({"loss": 4.0, "latency_ms": 4.0}) == pytest.approx(6.0)
    assert study.hypervolume([4.0, 4.0]) == pytest.approx(6.0)
    # only (1, 3) and (2, 2) beat (2.5, 3.5): their boxes, less the overlap [2, 2.5] x [3, 3.5]
    assert study.hypervolume({"loss": 2.5, "latency_ms": 3.5}) == pytest.approx(
        1.5 * 0.5 + 0.5 * 1.5 - 0.5 * 0.5
    )
    assert study.hypervolume({"loss": 0.5, "latency_ms": 0.5}) == 0.0
    with pytest.raises(InvalidArgumentError, match="exactly the objectives"):
        study.hypervolume({"loss": 4.0})
    with pytest.raises(InvalidArgumentError, match="several objectives"):
        hbo.Study(SPACE).hypervolume([1.0])


def test_pareto_front_with_a_maximized_objective():
    study = hbo.Study(SPACE, task="target", objectives={"cost": "minimize", "acc": "maximize"})
    for i, (cost, acc) in enumerate([(1.0, 0.5), (2.0, 0.9), (2.0, 0.6), (0.5, 0.1)]):
        told(study, {"x": i / 10, "y": 0.5}, {"cost": cost, "acc": acc})
    assert [t.id for t in study.pareto_front()] == [0, 1, 3]
    # reference (cost 3, acc 0): 2 x 0.5 + 1 x (0.9 - 0.5) + 0.5 x 0.1
    assert study.hypervolume({"cost": 3.0, "acc": 0.0}) == pytest.approx(1.0 + 0.4 + 0.05)


def test_history_without_every_outcome_is_judged_by_none_and_modelled_where_measured():
    study = two_objectives(n_initial=2)
    # the target's own history lacks latency: not on the front, not counted as initial
    study.add_history("target", [{"x": 0.9, "y": 0.9}], [{"loss": -1.0, "memory_gb": 1.0}])
    rows = [{"x": i / 6, "y": (i * 0.37) % 1} for i in range(6)]
    study.add_history("src", rows, [{"loss": r["x"], "memory_gb": 2 * r["y"]} for r in rows])
    assert study.ask().origin is hbo.Origin.ASKED and study.pareto_front() == []
    for trial in [study.storage.get_trial(7), study.ask()]:
        x, y = trial.params["x"], trial.params["y"]
        study.tell(trial, {"loss": x, "latency_ms": 1 - x, "memory_gb": 4 * y})
    proposed = study.ask()  # the model's: loss and memory pooled with src, latency not
    assert study.proposer.model is not None and 0 <= proposed.params["x"] <= 1
    assert all(set(t.values) == set(study.outcomes) for t in study.pareto_front())
    one = hbo.Study(SPACE, task="target", constraints=["mem <= 1"])
    one.add_history("target", [{"x": 0.9, "y": 0.9}], [{"value": -5.0}])
    told(one, {"x": 0.1, "y": 0.5}, {"value": 1.0, "mem": 0.5})
    assert one.best_value == 1.0


def test_trials_dataframe_has_a_column_per_outcome():
    study = two_objectives()
    told(study, {"x": 0.1, "y": 0.5}, {"loss": 1.0, "latency_ms": 3.0, "memory_gb": 1.0})
    frame = study.trials_dataframe()
    assert list(frame.columns[:7]) == ["trial_id", "task", "origin", "state", "values_loss",
                                       "values_latency_ms", "values_memory_gb"]
    assert frame["values_latency_ms"].tolist() == [3.0]
    one = hbo.Study(SPACE, constraints=["mem <= 1"])
    told(one, {"x": 0.1, "y": 0.5}, {"value": 2.0, "mem": 0.5})
    columns = one.trials_dataframe().columns
    assert list(columns[:7]) == ["trial_id", "task", "origin", "state", "value", "values_value",
                                 "values_mem"]
    assert "values_value" not in hbo.Study(SPACE).trials_dataframe().columns  # unchanged


def test_pareto_figure_is_written(tmp_path):
    study = two_objectives()
    for i, (loss, latency, memory) in enumerate([(1.0, 3.0, 1.0), (2.0, 2.0, 4.0),
                                                 (3.0, 1.0, 1.0)]):
        told(study, {"x": i / 10, "y": 0.5}, {"loss": loss, "latency_ms": latency,
                                              "memory_gb": memory})
    save_pareto_figure(study, tmp_path / "pareto.png")
    assert (tmp_path / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_best_so_far_counts_feasible_trials_only():
    from hbo.study.plots import best_so_far

    study = hbo.Study(SPACE, task="target", constraints=["mem <= 1"])
    for i, (value, mem) in enumerate([(3.0, 2.0), (2.5, 0.5), (1.0, 2.0), (2.0, 1.0)]):
        told(study, {"x": i / 10, "y": 0.5}, {"value": value, "mem": mem})
    assert best_so_far(study)["target"].tolist()[1:] == [2.5, 2.5, 2.0]
    assert math.isnan(best_so_far(study)["target"].iloc[0])


# ------------------------------------------------------------------ storage
@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_every_outcome_is_stored_and_the_definition_restored(kind, tmp_path):
    storage = hbo.storage.InMemoryStorage() if kind == "memory" else (
        f"sqlite:///{tmp_path / 'moo.db'}")
    name = None if kind == "memory" else "moo"
    study = two_objectives(storage=storage, name=name)
    values = {"loss": 0.25, "latency_ms": 1 / 3, "memory_gb": 2.0}
    told(study, {"x": 0.1, "y": 0.5}, values)
    study.add_history("src", [{"x": 0.2, "y": 0.2}], [{"latency_ms": 7.0}])
    again = hbo.Study.load("moo", storage)
    assert (again.objectives, again.constraints) == (study.objectives, study.constraints)
    assert [t.values for t in again.storage.get_trials()] == [values, {"latency_ms": 7.0}]
    with pytest.raises(StudyMismatchError, match=r"constraints: stored \['memory_gb <= 3.0'\]"
                                                 r", given \['memory_gb <= 4.0'\]"):
        hbo.Study(SPACE, task="target", objectives=OBJECTIVES, constraints=["memory_gb <= 4"],
                  storage=storage, name=name)
    with pytest.raises(StudyMismatchError, match="objectives: stored"):
        hbo.Study(SPACE, task="target", storage=storage, name=name)


def test_what_handles_one_value_refuses_several_outcomes(tmp_path):
    study = two_objectives()
    with pytest.raises(InvalidArgumentError, match="import_history reads one objective"):
        study.import_history(hbo.Study(SPACE))
    with pytest.raises(InvalidArgumentError, match="imports one objective per source"):
        hbo.Study(SPACE).import_history(study)
    with pytest.raises(InvalidArgumentError, match="save_json writes and reads one value"):
        hbo.study.io.save_json(study, tmp_path / "s.json")
    with pytest.raises(InvalidArgumentError, match="unknown outcome 'gpu'"):
        study.pooling("gpu")


# ------------------------------------------------------------------ proposals
#: Proposals of a seeded one-objective study, recorded with hbo at a9b0c68 (before
#: studies had several outcomes): that path must not change, beyond rounding (the
#: kernels' closed-form slope moved them by 1e-13). Re-recorded at 8bf3410, whose MAP fits
#: stop earlier (``hbo.surrogate.fit.FTOL``): the model's proposals moved by up to 1.4e-3;
#: and after 8bf3410, whose asks are seeded by the task's own trials only: the single
#: proposals moved by 4e-8, the last batch of two swapped its points (and moved them by
#: up to 0.018: its acquisition's random restarts are drawn from another seed). Re-recorded
#: when the MAP fit profiled the constant means out (its fits end at the same or a higher
#: optimum): the model's proposals moved by up to 9.7e-4. Re-recorded when the acquisition's
#: L-BFGS-B stopped at a looser relative reduction (``hbo.acquisition.LBFGS_FACTR``): moved
#: by up to 2.5e-6. Re-recorded when MAP refits started from the last fit's curvature
#: (BFGS, ``hbo.surrogate.fit.Curvature``; the same optimum within ``FTOL``): the model's
#: proposals moved by up to 1.1e-3.
BEFORE = [(0.09978512674570084, 0.45961496233940125), (0.7613906227052212, 0.6759745078161359),
          (0.7171983197331429, 0.18146313354372978), (0.39872302551057565, 0.903576124923867),
          (0.12176622404794786, 1.0), (0.02745239995256348, 0.8518896126484532),
          (0.5360381732271297, 1.0)]


def test_one_objective_proposals_are_those_of_before():
    def f(p: dict) -> float:
        return (p["x"] - 0.3) ** 2 + 0.5 * math.sin(5 * p["y"])

    study = hbo.Study(SPACE, task="target", seed=11, n_initial=3)
    history = [{"x": 0.1 * i, "y": 0.05 + 0.09 * i} for i in range(6)]
    study.add_history("source", history, [f(p) + 0.1 for p in history])
    asked = []
    for _ in range(5):
        trial = study.ask()
        study.tell(trial, f(trial.params))
        asked.append(trial)
    asked += study.ask(2)
    points = [(t.params["x"], t.params["y"]) for t in asked]
    np.testing.assert_allclose(points, BEFORE, rtol=0, atol=1e-9)


@pytest.mark.slow
def test_a_constraint_that_cuts_off_the_optimum_is_respected():
    """Minimize ``(x - 0.8)^2 + (y - 0.5)^2`` subject to ``c = 100 x <= 50``: the constrained
    optimum is 0.09 at (0.5, 0.5). ``c`` is on another scale than the objective, so a bound
    not carried into the constraint model's units would put the boundary elsewhere (at
    ``x = 0.5`` only by chance) and the model's proposals would go to the infeasible
    optimum at ``x = 0.8``."""
    study = hbo.Study(SPACE, task="t", constraints=["c <= 50"], seed=0, n_initial=4)
    model_feasible = []
    for i in range(12):
        trial = study.ask()
        x, y = trial.params["x"], trial.params["y"]
        study.tell(trial, {"value": (x - 0.8) ** 2 + (y - 0.5) ** 2, "c": 100 * x})
        if i >= 4:
            model_feasible.append(x <= 0.5)
    assert sum(model_feasible) >= 6  # of 8 (7 at seed 0: probing the boundary costs one)
    assert study.best_value < 0.09 + 0.01  # 0.0902 at seed 0
    assert study.best_params["x"] <= 0.5


@pytest.mark.slow
def test_two_objectives_gain_more_hypervolume_than_sobol_points():
    """BraninCurrin (both minimized), 15 evaluations (5 Sobol, 10 by qLogNEHVI) against 15
    Sobol points, three seeds, hypervolume to BoTorch's reference point (18, 6). Recorded:
    33.2 vs 0.0, 46.3 vs 16.9, 2.4 vs 0.0 (the Sobol points rarely beat the reference in
    both objectives); the check asks for more in every seed."""
    import torch
    from botorch.test_functions.multi_objective import BraninCurrin

    from hbo.proposer import SobolProposer

    problem = BraninCurrin()

    def hypervolume(seed: int, **kwargs) -> float:
        study = hbo.Study(SPACE, task="t", objectives={"branin": "minimize",
                                                       "currin": "minimize"}, seed=seed, **kwargs)
        for _ in range(15):
            trial = study.ask()
            X = torch.tensor([[trial.params["x"], trial.params["y"]]], dtype=torch.double)
            branin, currin = problem(X)[0].tolist()
            study.tell(trial, {"branin": branin, "currin": currin})
        return study.hypervolume({"branin": 18.0, "currin": 6.0})

    for seed in range(3):
        assert hypervolume(seed) > hypervolume(seed, proposer=SobolProposer())


def test_history_dataframe_of_one_named_objective_reads_its_column_or_value():
    study = hbo.Study(SPACE, task="target", objectives={"loss": "minimize"}, seed=0)
    frame = pd.DataFrame({"x": [0.1, 0.2], "y": [0.3, 0.4], "loss": [1.0, 2.0]})
    assert [t.values for t in study.add_history("a", frame)] == [{"loss": 1.0}, {"loss": 2.0}]
    renamed = frame.rename(columns={"loss": "value"})
    assert [t.value for t in study.add_history("b", renamed)] == [1.0, 2.0]
    with pytest.raises(InvalidDataError, match="both 'loss' and 'value' columns; keep one"):
        study.add_history("c", frame.assign(value=[3.0, 4.0]))
    with pytest.raises(InvalidDataError, match="needs a 'loss' column or a 'value' column"):
        study.add_history("c", frame[["x", "y"]])
    assert len(study.storage.get_trials()) == 4  # nothing of the refused calls
