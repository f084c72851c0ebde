"""Proposers: the Study's pluggable choice of points (hbo.proposer)."""

import math

import pytest

import hbo
from hbo.errors import ArgumentTypeError, InvalidArgumentError
from hbo.proposer import HierarchicalProposer, Proposer, SobolProposer, sobol_points
from hbo.storage.sql import list_studies


@pytest.fixture
def space() -> hbo.SearchSpace:
    return hbo.SearchSpace([hbo.Float("x", 0.0, 1.0), hbo.Categorical("c", ["a", "b", "c"])])


def bowl(params: dict) -> float:
    return (params["x"] - 0.3) ** 2 + {"a": 0.0, "b": 0.2, "c": 0.5}[params["c"]]


class Corner(Proposer):
    """Always proposes the same point: settlement and storage are the base class's."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int | None]] = []

    def propose(self, study, task, q, seed, before=None):
        self.calls.append((task, q, before))
        return study.space.encode([{"x": 0.0, "c": "a"}] * q)


def test_a_custom_proposer_only_proposes_and_the_study_stores_its_points(space):
    corner = Corner()
    study = hbo.Study(space, task="t", seed=1, proposer=corner)
    trials = study.ask(2)
    assert [t.params for t in trials] == [{"x": 0.0, "c": "a"}] * 2
    assert corner.calls == [("t", 2, None)]
    assert [t.state for t in study.storage.get_trials()] == [hbo.TrialState.RUNNING] * 2


def test_sobol_proposer_follows_the_task_sequence_whatever_the_results(space):
    study = hbo.Study(space, task="t", seed=5, proposer=SobolProposer())
    asked = []
    for _ in range(4):
        trial = study.ask()
        asked.append(trial.params)
        study.tell(trial, bowl(trial.params))
    expected = space.decode(sobol_points(hbo.Study(space, task="t", seed=5), "t", 4))
    assert asked == expected
    with pytest.raises(InvalidArgumentError, match="pooling.*SobolProposer"):
        study.pooling()
    with pytest.raises(InvalidArgumentError, match="diagnostics.*SobolProposer"):
        study.diagnostics()


def test_the_default_proposer_is_hierarchical_with_the_study_options(space):
    study = hbo.Study(space, seed=0, n_initial=2, shared_function=False)
    assert isinstance(study.proposer, HierarchicalProposer)
    assert (study.proposer.n_initial, study.proposer.shared_function) == (2, False)
    for _ in range(3):
        trial = study.ask()
        study.tell(trial, bowl(trial.params))
    assert not study.proposer.model.shared_function  # the third ask used the model
    assert study.proposer.initial_points(study, "default") == 2


def test_an_explicit_proposer_gives_the_same_points_as_the_same_options(space):
    def run(**kwargs):
        study = hbo.Study(space, task="t", seed=3, **kwargs)
        study.add_history("s", [{"x": v / 7, "c": "abc"[i % 3]} for i, v in enumerate(range(7))],
                          [float(v) for v in range(7)])
        out = []
        for _ in range(3):
            trial = study.ask()
            out.append(trial.params)
            study.tell(trial, bowl(trial.params))
        return out

    assert run(n_initial=2) == run(proposer=HierarchicalProposer(n_initial=2))


def test_bad_proposer_arguments_are_named_and_store_nothing(space, tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    with pytest.raises(ArgumentTypeError, match="proposer must be an hbo.proposer.Proposer"):
        hbo.Study(space, storage=url, name="s", proposer="random")
    with pytest.raises(InvalidArgumentError, match=r"\['n_initial'\] configure the default"):
        hbo.Study(space, storage=url, name="s", proposer=SobolProposer(), n_initial=3)
    with pytest.raises(InvalidArgumentError, match="n_initial must be a positive int"):
        HierarchicalProposer(n_initial=0)
    with pytest.raises(InvalidArgumentError, match="shared_function must be True, False or None"):
        HierarchicalProposer(shared_function="yes")
    with pytest.raises(InvalidArgumentError, match="inference must be one of"):
        HierarchicalProposer(inference="vi")
    assert not (tmp_path / "p.db").exists() or list_studies(url) == []



def test_the_kernel_option_reaches_the_surrogate(space):
    study = hbo.Study(space, task="t", seed=0, n_initial=3, kernel="matern32")
    for _ in range(4):
        trial = study.ask()
        study.tell(trial, bowl(trial.params))
    assert study.proposer.model.kernel.name == "matern32"
    with pytest.raises(InvalidArgumentError, match="kernel: unknown name 'rbf'"):
        hbo.Study(space, kernel="rbf")


def _study_with_a_choice(space, **kwargs) -> hbo.Study:
    """A target with enough points (MIN_TARGET_POINTS) for the shared-function choice."""
    study = hbo.Study(space, task="t", seed=2, **kwargs)
    points = [{"x": i / 19, "c": "abc"[i % 3]} for i in range(20)]
    study.add_history("s", points, [bowl(p) + 0.1 * math.sin(7 * p["x"]) for p in points])
    for _ in range(10):
        trial = study.ask()
        study.tell(trial, bowl(trial.params))
    return study


def _exhausted_acquisition(monkeypatch, study):
    """The first optimization returns a trial's point (the acquisition sees no improvement
    anywhere new); later ones a fresh point. Returns the models acquisitions were built on."""
    from hbo import acquisition

    built, fresh = [], study.space.encode([{"x": 0.123, "c": "b"}])
    taken = study.space.encode([study.storage.get_trials("t")[0].params])
    monkeypatch.setattr(acquisition, "build_acquisition",
                        lambda model, *args: built.append(model) or model)
    monkeypatch.setattr(acquisition, "optimize",
                        lambda acqf, space, q: taken if len(built) == 1 else fresh)
    return built


def test_an_exhausted_acquisition_asks_the_model_the_choice_did_not_keep(space, monkeypatch):
    study = _study_with_a_choice(space)
    built = _exhausted_acquisition(monkeypatch, study)
    trial = study.ask()
    kept, other = built
    assert other.shared_function is not kept.shared_function
    assert kept is study.proposer.model
    assert trial.params == {"x": 0.123, "c": "b"}  # the other model's point, not Sobol's


def test_without_a_choice_an_exhausted_acquisition_falls_back_to_sobol(space, monkeypatch):
    study = _study_with_a_choice(space, shared_function=True)
    built = _exhausted_acquisition(monkeypatch, study)
    trial = study.ask()
    assert len(built) == 1
    taken = [t.params for t in study.storage.get_trials("t")[:-1]]
    assert trial.params not in taken and trial.params != {"x": 0.123, "c": "b"}


PLANE = hbo.SearchSpace([hbo.Float("x", 0.0, 1.0), hbo.Float("y", 0.0, 1.0)])


def _with_related_history(n_sources: int = 3, **options) -> hbo.Study:
    """A target with ``n_sources`` related tasks of 12 points each: bowls whose maximum is
    near (0.7, 0.2), each with its own offset and scale."""
    study = hbo.Study(PLANE, task="t", seed=0, direction="maximize", **options)
    for s in range(n_sources):
        points = PLANE.decode(PLANE.sobol(12, seed=10 + s))
        values = [10 * s - (1 + s) * ((p["x"] - 0.7 - 0.02 * s) ** 2 + (p["y"] - 0.2) ** 2)
                  for p in points]
        study.add_history(f"s{s}", points, values)
    return study


def _sobol_start(study: hbo.Study) -> dict:
    return PLANE.decode(sobol_points(study, "t", 1))[0]


def test_with_history_the_first_point_is_where_the_shared_function_is_best():
    study = _with_related_history()
    sobol = _sobol_start(study)
    first = study.ask().params
    # the Sobol point is 0.44 away; the sources' maxima lie within 0.04 of (0.7, 0.2)
    assert math.dist((sobol["x"], sobol["y"]), (0.7, 0.2)) > 0.3
    assert math.dist((first["x"], first["y"]), (0.72, 0.2)) < 0.08
    assert study.proposer.n_initial is None  # the default: one point before the model


@pytest.mark.parametrize("options, n_sources", [
    ({"n_initial": 1}, 3),  # asked for Sobol points
    ({"shared_function": False}, 3),  # no shared function to take the maximum of
    ({}, 1),  # one source: stage A's shared function needs two
])
def test_the_sobol_start_is_kept_without_a_shared_function_of_two_tasks(options, n_sources):
    study = _with_related_history(n_sources, **options)
    sobol = _sobol_start(study)
    assert study.ask().params == sobol


def test_only_the_tasks_first_point_comes_from_the_history():
    study = _with_related_history()
    sobol = _sobol_start(study)
    first, second = study.ask(2)  # a batch: the first from the history, the other Sobol's
    assert math.dist((first.params["x"], first.params["y"]), (0.72, 0.2)) < 0.08
    assert second.params == sobol
    # a concurrent ask while those two are running: the task's next Sobol point
    sobol = _sobol_start(study)
    assert study.ask().params == sobol


def test_hierarchical_training_goes_on_from_the_first_points_sources():
    study = _with_related_history(training="hierarchical")
    trial = study.ask()
    training = study.proposer._hierarchical[study.outcomes[0]]
    sources = training.sources
    # the model without g serves the leave-one-out choice, from MIN_TARGET_POINTS on
    assert sources.own_model is None
    study.tell(trial, 0.0)
    study.tell(study.ask(), 0.1)
    assert training.sources is sources  # stage A fitted once for the history


def test_a_history_that_cannot_be_fitted_starts_at_the_sobol_point(monkeypatch):
    from hbo.errors import ModelFittingError
    from hbo.proposer import hierarchical_training

    def fail(*args, **kwargs):
        raise ModelFittingError("every attempt failed")

    monkeypatch.setattr(hierarchical_training, "fit_sources", fail)
    study = _with_related_history()
    sobol = _sobol_start(study)
    with pytest.warns(hbo.ModelFittingWarning, match="shared function could not be fitted"):
        assert study.ask().params == sobol
