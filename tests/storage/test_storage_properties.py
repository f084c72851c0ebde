"""Property-based tests: malformed params, values and spaces thrown at a stored study.

Every call is either accepted and stored exactly as the study reports it, or rejected
with an :class:`hbo.HBOError` leaving the stored study unchanged. One study (per backend)
collects the accepted calls of all examples, so later examples also check that earlier
ones left a consistent study behind.
"""

import math
import uuid
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hbo
from hbo._warnings import FailedTrialWarning
from hbo.space import space_from_dict, space_to_dict
from hbo.storage import InMemoryStorage
from hbo.storage.sql import list_studies

SPACE = hbo.SearchSpace(
    [hbo.Float("x", -1.0, 1.0), hbo.Int("k", 0, 3), hbo.Categorical("c", ["a", "b", 2])]
)
SETTINGS = settings(
    max_examples=40,
    deadline=None,
    # the study (a database) is deliberately shared by the examples of one test
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
    st.sampled_from(["a", "b", 2, 2.0, 0.5, -1.0, 3, True]),
)
good_params = st.fixed_dictionaries(
    {
        "x": st.floats(-1.0, 1.0),
        "k": st.integers(0, 3),
        "c": st.sampled_from(["a", "b", 2]),
    }
)
params = st.one_of(
    good_params,
    st.dictionaries(st.sampled_from(["x", "k", "c", "y", ""]), anything, max_size=4),
    good_params.flatmap(lambda p: st.sampled_from(list(p)).flatmap(
        lambda key: anything.map(lambda v: {**p, key: v}))),
    anything,
)
values = st.one_of(anything, st.floats(-1e6, 1e6))


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def study(request, make_url):
    storage = None if request.param == "memory" else make_url(request.param)
    name = None if storage is None else f"prop-{uuid.uuid4().hex[:10]}"
    study = hbo.Study(SPACE, task="t", seed=0, storage=storage, name=name, n_initial=10**6)
    yield study
    if storage is not None:
        study.storage.close()


def state(study):
    return study.storage.get_trials(), study.storage.study_config()


def rejected_cleanly(study, call):
    """Run ``call``; if it raises, it must be an HBOError that changed nothing stored."""
    before = state(study)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FailedTrialWarning)
            return call(), before
    except hbo.HBOError:
        assert state(study) == before
        return None, before


@SETTINGS
@given(task=st.one_of(st.text(max_size=4), anything), rows=st.lists(params, max_size=3),
       vals=st.one_of(st.lists(values, max_size=3), anything))
def test_add_history(study, task, rows, vals):
    added, before = rejected_cleanly(study, lambda: study.add_history(task, rows, vals))
    if added is not None:
        assert study.storage.get_trials() == before[0] + added
        assert [t.params for t in added] == [SPACE.validate(r) for r in rows]
        assert [t.value for t in added] == [float(v) for v in vals]
        assert all(math.isfinite(t.value) and t.task == task for t in added)


@SETTINGS
@given(value=values, failed=st.booleans(), which=st.one_of(st.none(), anything))
def test_tell(study, value, failed, which):
    trial = study.ask()
    target = trial if which is None else which
    told, before = rejected_cleanly(study, lambda: study.tell(target, value, failed=failed))
    if told is not None:
        stored = study.storage.get_trial(told.id)
        assert stored == told and stored.task in study.tasks
        changed = [t for t in study.storage.get_trials() if t not in before[0]]
        assert changed == [stored]  # exactly one trial moved, and it is finished
        if stored.state is hbo.TrialState.COMPLETE:
            assert stored.value == float(value) and math.isfinite(stored.value)
        else:
            assert stored.value is None
    assert study.storage.get_trial(trial.id).state is (
        hbo.TrialState.RUNNING if told is None or told.id != trial.id else told.state
    )


@SETTINGS
@given(
    # large n only costs time (n Sobol points stored); its validation is the same as for 3
    n=st.one_of(st.none(), st.integers(-2, 3), anything.filter(lambda v: not isinstance(v, int))),
    task=st.one_of(st.none(), anything),
)
def test_ask(study, n, task):
    asked, before = rejected_cleanly(study, lambda: study.ask(n, task=task))
    if asked is not None:
        asked = [asked] if n is None else asked
        assert study.storage.get_trials() == before[0] + asked
        assert all(SPACE.validate(t.params) == t.params for t in asked)


raw_param = st.fixed_dictionaries(
    {"type": st.sampled_from(["float", "int", "categorical", "other"]), "name": anything},
    optional={
        "low": anything, "high": anything, "log": anything,
        "choices": st.one_of(st.lists(anything, max_size=4), anything),
    },
)


@SETTINGS
@given(raw=st.one_of(st.fixed_dictionaries({"params": st.lists(raw_param, max_size=3)}), anything))
def test_spaces_are_stored_exactly_or_rejected(make_url, raw):
    url = make_url("sqlite")
    name = f"space-{uuid.uuid4().hex[:10]}"
    listed = list_studies(url) if list_studies_exists(url) else []
    try:
        space = space_from_dict(raw)
        study = hbo.Study(space, storage=url, name=name)
    except hbo.HBOError:
        assert (list_studies(url) if list_studies_exists(url) else []) == listed
        return
    study.storage.close()
    loaded = hbo.Study.load(name, url)
    assert loaded.space.params == space.params
    assert space_to_dict(loaded.space) == space_to_dict(space)
    loaded.storage.close()
    hbo.Study(space, storage=InMemoryStorage())  # the same space opens in memory too


def list_studies_exists(url):
    try:
        list_studies(url)
    except hbo.HBOError:
        return False
    return True


def test_in_memory_snapshot_reuses_copies_of_unchanged_trials_and_sees_writes():
    TrialState = hbo.TrialState

    storage = InMemoryStorage()
    storage.create_study({"space": {}})
    first, second = storage.create_trials("t", [{"x": 1}, {"x": 2}])
    assert storage.get_trials()[0] is not storage.get_trials()[0]  # outside: fresh copies
    with storage.snapshot():
        before = storage.get_trials()
        assert storage.get_trials()[0] is before[0]  # unchanged: the same copy
        storage.finish_trial(first.id, TrialState.COMPLETE, 1.0)
        after = storage.get_trials()
        assert after[0].state is TrialState.COMPLETE and after[1] is before[1]
        after[1].params["x"] = 99  # a copy: the store keeps its own
    assert storage.get_trial(second.id).params == {"x": 2}
