"""HBOSampler: Optuna's own sampler checks, and hbo's promises inside a real Optuna loop.

* Optuna's ``optuna.testing`` test cases that a sampler must pass (basic, relative,
  single-objective only), run on HBOSampler as they are;
* the same points as ``hbo.Study`` given the same data and seed (Sobol and model phases,
  with a source study; with failed and pruned trials);
* transfer: a source study on a shifted objective brings the target nearer its optimum;
* relative vs independent parameters, unsupported distributions, maximize, enqueue,
  concurrent workers (threads, a race of two samplers, two processes on SQLite), seeds,
  refusals and argument errors.
"""

import math
import os
import pickle
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")

from optuna.distributions import (  # noqa: E402
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.testing.pytest_samplers import (  # noqa: E402
    BasicSamplerTestCase,
    RelativeSamplerTestCase,
    SingleOnlySamplerTestCase,
)
from optuna.trial import TrialState  # noqa: E402

import hbo  # noqa: E402
from hbo.errors import ArgumentTypeError, InvalidArgumentError  # noqa: E402
from hbo.integrations.optuna import (  # noqa: E402
    HBOSampler,
    UnsupportedDistributionError,
    UnsupportedStudyError,
    to_parameter,
)
from hbo.storage import UnknownStudyError  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.WARNING)

ROOT = Path(__file__).resolve().parents[2]  # this checkout, for the worker processes
DISTRIBUTIONS = {
    "x": FloatDistribution(-3.0, 3.0),
    "n": IntDistribution(1, 64, log=True),
    "kind": CategoricalDistribution(["a", "b"]),
}
SPACE = hbo.SearchSpace([hbo.Float("x", -3.0, 3.0), hbo.Int("n", 1, 64, log=True),
                         hbo.Categorical("kind", ["a", "b"])])


def loss(params, shift=0.0):
    """A quadratic in x and log2(n) plus a penalty for kind "b"; minimum 0 at (1 + shift, 8, a)."""
    return ((params["x"] - 1.0 - shift) ** 2 + (math.log2(params["n"]) - 3.0 - shift) ** 2 / 4
            + (params["kind"] == "b"))


def suggest(trial):
    return {"x": trial.suggest_float("x", -3.0, 3.0),
            "n": trial.suggest_int("n", 1, 64, log=True),
            "kind": trial.suggest_categorical("kind", ["a", "b"])}


def objective(shift=0.0):
    return lambda trial: loss(suggest(trial), shift)


def source_study(n_trials=8, shift=0.3, name="shifted"):
    study = optuna.create_study(study_name=name,
                                sampler=optuna.samplers.RandomSampler(seed=1))
    study.optimize(objective(shift), n_trials=n_trials)
    return study


def same_params(a, b, rel=1e-9):
    assert a.keys() == b.keys()
    for name in a:
        if isinstance(a[name], float):
            assert a[name] == pytest.approx(b[name], rel=rel, abs=1e-12), name
        else:
            assert a[name] == b[name], name


# ---------------------------------------------------------------------- Optuna's checks
@pytest.mark.filterwarnings("ignore:HBOSampler. parameter .* step=")  # step grids, by design
class TestOptunaSamplerContract(
    BasicSamplerTestCase, RelativeSamplerTestCase, SingleOnlySamplerTestCase
):
    """Every check ``optuna.testing`` asks of a (single-objective, relative) sampler."""

    @pytest.fixture
    def sampler(self):
        return lambda: HBOSampler(seed=0, n_startup_trials=4)


# ---------------------------------------------------------------------- same as hbo.Study
def test_the_same_points_as_hbo_study_given_the_same_sources_and_seed():
    source, n_trials, n_startup = source_study(), 12, 8
    sampler = HBOSampler(sources=[source], search_space=DISTRIBUTIONS, seed=0,
                         n_startup_trials=n_startup)
    study = optuna.create_study(sampler=sampler)
    study.optimize(objective(), n_trials=n_trials)

    reference = hbo.Study(SPACE, task="target", seed=0, n_initial=n_startup)
    reference.import_history(source)
    asked = []
    for _ in range(n_trials):
        trial = reference.ask()
        reference.tell(trial, loss(trial.params))
        asked.append(trial.params)
    for optuna_trial, params in zip(study.trials, asked, strict=True):  # Sobol, then the model
        same_params(optuna_trial.params, params)


def test_failed_and_pruned_trials_are_failed_trials_of_hbo_study():
    """Either is a failed hbo trial: no observation, a pending point, counted in the Sobol
    sequence (so a failing point is not proposed again); an infinite value too."""
    outcome = {1: "fail", 2: "prune", 3: "inf"}

    def run(trial):
        params = suggest(trial)
        if outcome.get(trial.number) == "fail":
            raise RuntimeError("this trial crashes on purpose")
        if outcome.get(trial.number) == "prune":
            raise optuna.TrialPruned()
        return math.inf if outcome.get(trial.number) == "inf" else loss(params)

    sampler = HBOSampler(search_space=DISTRIBUTIONS, seed=0, n_startup_trials=3)
    study = optuna.create_study(sampler=sampler)
    study.optimize(run, n_trials=7, catch=(RuntimeError,))
    states = [t.state for t in study.trials]
    assert states[1:4] == [TrialState.FAIL, TrialState.PRUNED, TrialState.COMPLETE]

    reference = hbo.Study(SPACE, task="target", seed=0, n_initial=3)
    for number, optuna_trial in enumerate(study.trials):
        trial = reference.ask()
        same_params(optuna_trial.params, trial.params)
        if number in outcome:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", hbo.FailedTrialWarning)  # inf: failed
                reference.tell(trial, math.inf if outcome[number] == "inf" else None,
                               failed=outcome[number] != "inf")
        else:
            reference.tell(trial, loss(trial.params))


# ---------------------------------------------------------------------- transfer
def test_a_source_study_brings_the_target_nearer_its_optimum():
    """Six target trials: with the source (shifted by 0.2) the model starts at the second
    trial, informed; without it, five are Sobol points. Seeds fixed; if the source were
    ignored both runs would be the same run and tie."""
    source = source_study(n_trials=20, shift=0.2)
    best = {}
    for label, sources in (("with", [source]), ("without", None)):
        study = optuna.create_study(sampler=HBOSampler(sources=sources, seed=0))
        study.optimize(objective(), n_trials=6)
        best[label] = study.best_value
    assert best["with"] < 0.1  # 0.031 (the minimum is 0)
    assert best["with"] < best["without"] / 10  # 1.145


# ---------------------------------------------------------------------- relative / independent
def test_relative_parameters_come_from_hbo_the_others_from_the_independent_sampler():
    """x (float), n (log int), kind (categorical) are relative from the second trial on;
    a float with step is left to the independent sampler with one warning; a parameter of
    some trials only (not the first) is outside the intersection space."""

    def run(trial):
        params = suggest(trial)
        grid = trial.suggest_float("grid", 0.0, 1.0, step=0.25)
        extra = trial.suggest_float("extra", 0.0, 1.0) if trial.number % 2 else 0.0
        return loss(params) + grid + extra

    sampler = HBOSampler(seed=0, n_startup_trials=3)
    study = optuna.create_study(sampler=sampler)
    with pytest.warns(hbo.HBOWarning, match=r"'grid' is a float with step=0\.25") as caught:
        study.optimize(run, n_trials=5)
    assert sum("grid" in str(w.message) for w in caught) == 1  # once per sampler

    first, *later = study.trials
    proposed = [{k for k in t.system_attrs if k.startswith("hbo:proposed:")} for t in later]
    assert not any(k.startswith("hbo:proposed:") for k in first.system_attrs)  # independent
    assert proposed == [{"hbo:proposed:x", "hbo:proposed:n", "hbo:proposed:kind"}] * 4
    for t in later:
        assert {k.removeprefix("hbo:proposed:"): v for k, v in t.system_attrs.items()
                if k.startswith("hbo:proposed:")} == {k: t.params[k] for k in ("x", "n", "kind")}
        assert t.params["grid"] in (0.0, 0.25, 0.5, 0.75, 1.0)
        assert isinstance(t.params["n"], int) and 1 <= t.params["n"] <= 64


@pytest.mark.parametrize(("distribution", "expected"), [
    (FloatDistribution(1e-4, 1.0, log=True), hbo.Float("p", 1e-4, 1.0, log=True)),
    (IntDistribution(2, 512, log=True), hbo.Int("p", 2, 512, log=True)),
    (CategoricalDistribution([1, "a", None, True]), hbo.Categorical("p", [1, "a", None, True])),
    (FloatDistribution(0.0, 1.0, step=0.1), r"'p' is a float with step=0\.1 \(a grid\)"),
    (IntDistribution(0, 10, step=2), "'p' is an int with step=2"),
    (CategoricalDistribution([1, 1.0]), r"hbo's space refuses .* 1 and 1\.0 are one choice"),
])
def test_distributions_map_to_hbo_parameters_or_are_named(distribution, expected):
    if isinstance(expected, str):
        with pytest.raises(UnsupportedDistributionError, match=expected):
            to_parameter("p", distribution)
    else:
        assert to_parameter("p", distribution) == expected


def test_infer_relative_search_space_is_the_given_space_or_the_intersection():
    study = optuna.create_study()
    study.add_trial(optuna.create_trial(
        params={"x": 0.5, "n": 4, "kind": "a", "one": 1},
        distributions={**DISTRIBUTIONS, "one": IntDistribution(1, 1)}, value=1.0))
    study.add_trial(optuna.create_trial(
        params={"x": 0.1, "n": 2, "kind": "b"}, distributions=DISTRIBUTIONS, value=2.0))
    trial = study.ask()
    assert HBOSampler().infer_relative_search_space(study, study.trials[trial.number]) == (
        dict(sorted(DISTRIBUTIONS.items())))
    given = HBOSampler(search_space={"x": DISTRIBUTIONS["x"], "one": IntDistribution(1, 1)})
    assert given.infer_relative_search_space(study, study.trials[trial.number]) == {
        "x": DISTRIBUTIONS["x"]}  # a single value is Optuna's to fill


def test_maximize_is_read_from_the_study():
    """Maximizing -loss proposes exactly what minimizing loss does."""
    params = {}
    for direction, sign in (("minimize", 1.0), ("maximize", -1.0)):
        study = optuna.create_study(
            direction=direction,
            sampler=HBOSampler(search_space=DISTRIBUTIONS, seed=0, n_startup_trials=3))
        study.optimize(lambda t, s=sign: s * loss(suggest(t)), n_trials=5)
        params[direction] = [t.params for t in study.trials]
    for a, b in zip(params["minimize"], params["maximize"], strict=True):
        same_params(a, b)


def test_the_same_seed_gives_the_same_trials():
    runs = []
    for _ in range(2):
        study = optuna.create_study(sampler=HBOSampler(seed=3, n_startup_trials=2))
        study.optimize(objective(), n_trials=4)
        runs.append([t.params for t in study.trials])
    for a, b in zip(*runs, strict=True):
        same_params(a, b)
    other = optuna.create_study(sampler=HBOSampler(seed=4, n_startup_trials=2))
    other.optimize(objective(), n_trials=1)
    assert other.trials[0].params != runs[0][0]


def test_enqueued_trials_are_hbo_study_enqueued_trials():
    """A fully enqueued point is hbo's enqueue: data once told, not in the Sobol count
    (the next Sobol point is the one after the last proposed); then the model."""
    point = {"x": -1.0, "n": 3, "kind": "b"}
    study = optuna.create_study(
        sampler=HBOSampler(search_space=DISTRIBUTIONS, seed=0, n_startup_trials=4))
    study.optimize(objective(), n_trials=2)
    study.enqueue_trial(point)
    study.optimize(objective(), n_trials=3)
    assert study.trials[2].params == point

    reference = hbo.Study(SPACE, task="target", seed=0, n_initial=4)
    for number in range(5):
        if number == 2:
            reference.enqueue(point)
        trial = reference.ask()
        reference.tell(trial, loss(trial.params))
        same_params(study.trials[number].params, trial.params)  # 3: Sobol, 4: the model


def test_partly_enqueued_parameters_win_over_the_proposal():
    study = optuna.create_study(
        sampler=HBOSampler(search_space=DISTRIBUTIONS, seed=0, n_startup_trials=2))
    study.optimize(objective(), n_trials=2)
    study.enqueue_trial({"x": 2.5})  # n and kind come from hbo's proposal
    study.optimize(objective(), n_trials=1)
    enqueued = study.trials[2]
    proposed = {k.removeprefix("hbo:proposed:"): v for k, v in enqueued.system_attrs.items()
                if k.startswith("hbo:proposed:")}
    assert enqueued.params == {**proposed, "x": 2.5} and proposed["x"] != 2.5


# ---------------------------------------------------------------------- concurrent workers
def test_threads_get_distinct_points():
    study = optuna.create_study(
        sampler=HBOSampler(search_space=DISTRIBUTIONS, seed=0, n_startup_trials=2))
    study.optimize(objective(), n_trials=6, n_jobs=2)
    points = [tuple(t.params.values()) for t in study.trials]
    assert all(t.state is TrialState.COMPLETE for t in study.trials)
    assert len(set(points)) == len(points)


def test_two_running_trials_in_the_model_phase_are_asked_as_hbo_study_asks_twice():
    """Two trials asked at once; the later one samples first, while the earlier one's point
    is not known yet: it proposes around the point hbo would give the earlier one, which
    the earlier one then gets. Both as ``hbo.Study.ask()`` twice."""
    study = optuna.create_study(
        sampler=HBOSampler(search_space=DISTRIBUTIONS, seed=0, n_startup_trials=2))
    study.optimize(objective(), n_trials=3)
    early, late = study.ask(), study.ask()
    late_params = suggest(late)  # the later trial first
    early_params = suggest(early)
    assert early_params != late_params

    reference = hbo.Study(SPACE, task="target", seed=0, n_initial=2)
    for _ in range(3):
        trial = reference.ask()
        reference.tell(trial, loss(trial.params))
    first, second = reference.ask(), reference.ask()
    same_params(late_params, second.params)
    # the early trial's own ask refits the same data, from the fit made for it as
    # predicted and its curvature, to the same optimum up to the optimizer's tolerance
    # (hbo.Study reuses it): BFGS takes one more step of less than FTOL's gain, which moved
    # the proposal by 1.3e-3 of its value
    same_params(early_params, first.params, rel=5e-3)


def test_a_proposal_made_while_an_earlier_trial_changed_its_point_is_made_again(monkeypatch):
    """Trial 4 (its own sampler: another process) predicts trial 3's point with trial 2
    pending; before trial 4 writes its point, trial 2 completes and trial 3 samples with
    that result, another point. Trial 4 finds it when it reads back, and proposes again
    around the real one."""
    import hbo.integrations.optuna as module

    study = optuna.create_study(
        sampler=HBOSampler(search_space=DISTRIBUTIONS, seed=0, n_startup_trials=2))
    study.optimize(objective(), n_trials=2)
    pending, early, late = study.ask(), study.ask(), study.ask()
    pending_params = suggest(pending)  # trial 2 runs (its point is written)
    late_sampler = HBOSampler(search_space=DISTRIBUTIONS, seed=0, n_startup_trials=2)
    frozen = {t.number: t for t in study.get_trials(deepcopy=False)}
    written, real_publish = [], module.publish

    def racing_publish(study_, trial, params):
        if trial.number == late.number and not written:  # meanwhile, in the other worker:
            study.tell(pending, loss(pending_params))
            early_params.update(suggest(early))
        if trial.number == late.number:
            written.append(dict(params))
        real_publish(study_, trial, params)

    early_params = {}
    monkeypatch.setattr(module, "publish", racing_publish)
    late_params = late_sampler.sample_relative(study, frozen[late.number], DISTRIBUTIONS)
    assert len(written) == 2  # proposed again, once
    assert late_params == written[1] != written[0]
    assert late_params != early_params


def test_an_earlier_trial_moves_off_a_later_trials_identical_point():
    """A later trial that read before this one wrote its point (and mispredicted it) holds
    the point this one proposes: this one proposes again around it (Sobol phase: exact)."""
    from hbo.integrations.optuna import publish

    study = optuna.create_study(
        sampler=HBOSampler(search_space=DISTRIBUTIONS, seed=0, n_startup_trials=10))
    study.optimize(objective(), n_trials=3)
    early, late = study.ask(), study.ask()
    reference = hbo.Study(SPACE, task="target", seed=0, n_initial=10)
    sobol = [reference.ask().params for _ in range(5)]  # the task's Sobol points 0..4
    publish(study, study.trials[late.number], sobol[3])  # early's own point, taken
    same_params(suggest(early), sobol[4])


def test_two_processes_on_one_sqlite_storage(tmp_path):
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    optuna.create_study(study_name="shared", storage=url)
    worker = textwrap.dedent(f"""
        import math, optuna, torch
        torch.set_num_threads(1)
        from hbo.integrations.optuna import HBOSampler
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.load_study(study_name="shared", storage={url!r},
                                  sampler=HBOSampler(seed=0, n_startup_trials=2))
        study.optimize(lambda t: (t.suggest_float("x", -3, 3) - 1) ** 2
                       + (t.suggest_float("y", -3, 3) + 1) ** 2, n_trials=4)
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    procs = [subprocess.Popen([sys.executable, "-c", worker], stderr=subprocess.PIPE, text=True,
                              env=env) for _ in range(2)]
    for proc in procs:
        _, errors = proc.communicate(timeout=300)
        assert proc.returncode == 0, errors
    trials = optuna.load_study(study_name="shared", storage=url).trials
    assert len(trials) == 8 and all(t.state is TrialState.COMPLETE for t in trials)
    points = [(t.params["x"], t.params["y"]) for t in trials]
    assert len(set(points)) == len(points)


def test_an_optimize_loop_on_sqlite_storage(tmp_path):
    url = f"sqlite:///{tmp_path / 'loop.db'}"
    sampler = HBOSampler(sources=[source_study(n_trials=6)], seed=0, n_startup_trials=2)
    study = optuna.create_study(study_name="loop", storage=url, sampler=sampler)
    study.optimize(objective(), n_trials=4)
    resumed = optuna.load_study(study_name="loop", storage=url, sampler=pickle.loads(
        pickle.dumps(sampler)))
    resumed.optimize(objective(), n_trials=1)
    assert [t.state for t in resumed.trials] == [TrialState.COMPLETE] * 5
    assert resumed.best_value == min(t.value for t in resumed.trials)


# ---------------------------------------------------------------------- sources
def test_sources_of_each_kind_are_read_as_hbo_study_reads_them(tmp_path):
    """An Optuna study by (name, storage) with a parameter the target lacks (dropped, with
    one warning), a trials_dataframe() by task name, and an hbo study."""
    url = f"sqlite:///{tmp_path / 'past.db'}"
    stored = optuna.create_study(study_name="stored", storage=url,
                                 sampler=optuna.samplers.RandomSampler(seed=2))
    stored.optimize(lambda t: loss(suggest(t), 0.1) + t.suggest_float("gone", 0, 1), n_trials=6)
    frame = source_study(n_trials=6, shift=-0.2).trials_dataframe()
    past = hbo.Study(SPACE, task="past", seed=5, n_initial=6)
    for _ in range(6):
        trial = past.ask()
        past.tell(trial, loss(trial.params, 0.4))
    sources = {"stored": ("stored", url), "frame": frame, "past": past}

    sampler = HBOSampler(sources=sources, search_space=DISTRIBUTIONS, seed=0)
    study = optuna.create_study(sampler=sampler)
    with pytest.warns(hbo.HistoryImportWarning, match=r"parameters not in the space.*'gone'"):
        study.optimize(objective(), n_trials=3)

    reference = hbo.Study(SPACE, task="target", seed=0)
    with pytest.warns(hbo.HistoryImportWarning, match="'gone'"):
        reference.import_history(("stored", url), task="stored")
    reference.import_history(frame, task="frame")
    reference.import_history(past)
    for optuna_trial in study.trials:
        trial = reference.ask()
        same_params(optuna_trial.params, trial.params)
        reference.tell(trial, optuna_trial.value)


def test_a_source_sharing_too_little_is_left_out_with_a_warning():
    narrow = optuna.create_study(study_name="narrow")
    narrow.optimize(lambda t: t.suggest_float("x", -3, 3) ** 2, n_trials=3)
    study = optuna.create_study(sampler=HBOSampler(sources=[narrow], seed=0,
                                                   search_space=DISTRIBUTIONS))
    with pytest.warns(hbo.HistoryImportWarning, match="left out.*'narrow'.*without 'n'"):
        study.optimize(objective(), n_trials=2)
    assert all(t.state is TrialState.COMPLETE for t in study.trials)


def test_a_source_named_as_the_target_is_refused():
    source = source_study(n_trials=3, name="target")
    study = optuna.create_study(sampler=HBOSampler(sources=[source], search_space=DISTRIBUTIONS))
    with pytest.raises(InvalidArgumentError, match="source task is named 'target'"):
        study.optimize(objective(), n_trials=1)


# ---------------------------------------------------------------------- refusals, arguments
def test_a_multi_objective_study_is_refused_at_the_first_sample():
    study = optuna.create_study(directions=["minimize", "maximize"], sampler=HBOSampler())
    with pytest.raises(UnsupportedStudyError, match=r"one objective; this study has 2"):
        study.optimize(lambda t: (t.suggest_float("x", 0, 1), 1.0), n_trials=1)


def test_a_constrained_study_is_refused_at_the_first_relative_sample():
    def run(trial):
        x = trial.suggest_float("x", 0, 1)
        trial.set_constraint("c", x - 0.5)
        return x

    study = optuna.create_study(sampler=HBOSampler())
    study.optimize(run, n_trials=1)  # the first trial is all independent
    with pytest.raises(UnsupportedStudyError, match="set constraints"):
        study.optimize(run, n_trials=1)


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"sources": "past"}, ArgumentTypeError, r"list of sources .* For one source, give a list"),
    ({"sources": ("past", "sqlite:///past.db")}, ArgumentTypeError, "give a list"),
    ({"sources": [42]}, ArgumentTypeError, r"sources\[0\]: source must be an optuna.Study"),
    ({"sources": {"": []}}, ArgumentTypeError, "task names"),
    ({"seed": -1}, InvalidArgumentError, r"seed must be None or an int in \[0, 2\*\*32\)"),
    ({"seed": 1.5}, InvalidArgumentError, "seed"),
    ({"n_startup_trials": 0}, InvalidArgumentError, "n_startup_trials must be"),
    ({"task": ""}, ArgumentTypeError, "task must be a non-empty string"),
    ({"search_space": {"x": (0, 1)}}, ArgumentTypeError, "Optuna distributions"),
    ({"search_space": {}}, ArgumentTypeError, "non-empty dict"),
    ({"independent_sampler": "random"}, ArgumentTypeError, "BaseSampler"),
])
def test_bad_arguments_are_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        HBOSampler(**kwargs)


def test_bad_sources_are_named_before_any_trial_runs(tmp_path):
    frame = source_study(n_trials=2).trials_dataframe()
    with pytest.raises(ArgumentTypeError, match=r"sources\[0\] is a DataFrame.*as a dict"):
        HBOSampler(sources=[frame])
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    optuna.create_study(study_name="other", storage=url)
    with pytest.raises(UnknownStudyError, match=r"sources\[0\]: no hbo or Optuna study named"):
        HBOSampler(sources=[("missing", url)])
    two = optuna.create_study(directions=["minimize", "minimize"])
    with pytest.raises(InvalidArgumentError, match=r"sources\['two'\]: .* 2 objectives"):
        HBOSampler(sources={"two": two})


def test_the_sampler_pickles_and_reseeds():
    sampler = HBOSampler(seed=7)
    copy = pickle.loads(pickle.dumps(sampler))
    assert copy.seed == 7
    copy.reseed_rng()  # the independent sampler only: the hbo seed is the shared sequence
    assert copy.seed == 7
    assert isinstance(HBOSampler().seed, int)
