"""Contract every storage must meet: in memory, SQLite and PostgreSQL pass the same tests."""

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from hbo.errors import InvalidArgumentError, TrialStateError, UnknownTrialError
from hbo.storage import InMemoryStorage
from hbo.storage.sql import SQLStorage
from hbo.trial import Origin, Trial, TrialState

CONFIG = {
    "space": {"params": [{"type": "int", "name": "x", "low": 0, "high": 9, "log": False}]},
    "task": "t",
    "direction": "minimize",
    "objectives": {"value": "minimize"},
    "constraints": [],
    "seed": 7,
}
STORAGES = ["memory", "sqlite", "postgresql"]


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@pytest.fixture(params=STORAGES)
def open_storage(request, make_url, study_name):
    """A function opening the storage (a second call: another handle on the same study)."""
    url = None if request.param == "memory" else make_url(request.param)
    handles = [InMemoryStorage()] if url is None else []

    def opener():
        if url is not None:
            handles.append(SQLStorage(url, study_name))
        return handles[-1]

    yield opener
    for handle in handles:
        if url is not None:
            handle.close()


@pytest.fixture
def storage(open_storage):
    store = open_storage()
    store.create_study(CONFIG)
    return store


def test_study_definition_is_created_once(open_storage):
    first = open_storage()
    assert first.study_config() is None
    assert first.create_study(CONFIG) == CONFIG
    other = dict(CONFIG, seed=8)
    assert open_storage().create_study(other) == CONFIG  # the stored one wins
    assert open_storage().study_config() == CONFIG


#: A study of two objectives and a constraint, as hbo.Study stores its definition.
OUTCOMES_CONFIG = {**CONFIG, "direction": None,
                   "objectives": {"loss": "minimize", "acc": "maximize"},
                   "constraints": ["mem <= 3.0"]}


def test_every_outcome_is_kept_and_the_value_only_for_one_objective(open_storage):
    store = open_storage()
    assert store.create_study(OUTCOMES_CONFIG) == OUTCOMES_CONFIG
    history = store.create_trials("s", [{"x": 1}], values=[{"loss": 0.5}],
                                  origin=Origin.HISTORY)
    (asked,) = store.create_trials("t", [{"x": 2}])
    told = {"loss": 0.25, "acc": 1 / 3, "mem": 2.0}
    done = store.finish_trial(asked.id, TrialState.COMPLETE, told)
    assert (done.value, done.values) == (None, told)
    with pytest.raises(InvalidArgumentError, match="told a dict of its outcomes"):
        store.finish_trial(store.create_trials("t", [{"x": 3}])[0].id, TrialState.COMPLETE, 1.0)
    assert store.get_trials()[:2] == [*history, done]  # read back exactly as returned
    assert open_storage().get_trial(asked.id).values == told  # another handle, every bit


def test_create_and_read_back(storage):
    asked = storage.create_trials("t", [{"x": 1}, {"x": 2}])
    assert [t.id for t in asked] == [0, 1] and all(t.state is TrialState.RUNNING for t in asked)
    hist = storage.create_trials("s", [{"x": 3}], values=[0.5], origin=Origin.HISTORY)
    assert hist[0].state is TrialState.COMPLETE and hist[0].value == 0.5
    assert [t.id for t in storage.get_trials()] == [0, 1, 2]
    assert [t.id for t in storage.get_trials("t")] == [0, 1]
    assert [t.id for t in storage.get_trials(states=[TrialState.COMPLETE])] == [2]
    assert storage.get_trial(2).origin is Origin.HISTORY
    assert storage.get_trials() == asked + hist  # read back exactly as returned


def test_state_machine(storage):
    (trial,) = storage.create_trials("t", [{"x": 1}])
    done = storage.finish_trial(trial.id, TrialState.COMPLETE, 1.5)
    assert done.value == 1.5 and storage.get_trial(trial.id) == done
    with pytest.raises(TrialStateError):
        storage.finish_trial(trial.id, TrialState.FAILED, None)
    (other,) = storage.create_trials("t", [{"x": 2}])
    with pytest.raises(TrialStateError):
        storage.finish_trial(other.id, TrialState.RUNNING, None)
    assert storage.get_trial(other.id).state is TrialState.RUNNING
    with pytest.raises(UnknownTrialError):
        storage.get_trial(99)
    with pytest.raises(UnknownTrialError):
        storage.finish_trial(99, TrialState.COMPLETE, 1.0)
    assert storage.get_trial(trial.id) == done  # the rejected calls changed nothing


def test_stored_params_are_copies(storage):
    params = {"x": 1}
    (trial,) = storage.create_trials("t", [params])
    params["x"] = 2
    assert storage.get_trial(trial.id).params == {"x": 1}


def test_another_handle_sees_every_trial_and_continues_the_ids(storage, open_storage):
    storage.create_trials("t", [{"x": 1}, {"x": 2}])
    storage.finish_trial(0, TrialState.COMPLETE, 0.25)
    again = open_storage()
    assert again.get_trials() == storage.get_trials()
    assert [t.id for t in again.create_trials("t", [{"x": 3}])] == [2]
    assert [t.id for t in storage.create_trials("t", [{"x": 4}])] == [3]


def test_stale_trials_fail_after_the_timeout_and_heartbeats_keep_them(storage):
    now = [1000.0]
    storage.clock = lambda: now[0]
    a, b, c = storage.create_trials("t", [{"x": 1}, {"x": 2}, {"x": 3}])
    storage.finish_trial(c.id, TrialState.COMPLETE, 3.0)
    now[0] = 1040.0
    storage.heartbeat(b.id)
    now[0] = 1061.0  # a: 61 s without a heartbeat; b: 21 s
    assert storage.fail_stale_trials(60.0) == [
        dataclasses.replace(a, state=TrialState.FAILED, datetime_complete=at(1061.0))
    ]
    assert storage.get_trial(a.id).duration == timedelta(seconds=61)
    assert [t.state for t in storage.get_trials()] == [
        TrialState.FAILED, TrialState.RUNNING, TrialState.COMPLETE,
    ]
    assert storage.fail_stale_trials(60.0) == []
    with pytest.raises(TrialStateError):  # the presumed-dead worker comes back too late
        storage.finish_trial(a.id, TrialState.COMPLETE, 1.0)
    assert storage.get_trial(c.id).value == 3.0
    with pytest.raises(UnknownTrialError):
        storage.heartbeat(42)


def test_set_params_replaces_a_running_trials_parameters_only(storage):
    (running, done) = storage.create_trials("t", [{"x": 1}, {"x": 2}])
    storage.finish_trial(done.id, TrialState.COMPLETE, 0.5)
    moved = storage.set_params(running.id, {"x": 3})
    assert moved.params == {"x": 3} and storage.get_trial(running.id) == moved
    with pytest.raises(TrialStateError, match="only a running trial"):
        storage.set_params(done.id, {"x": 4})
    assert storage.get_trial(done.id).params == {"x": 2}
    with pytest.raises(UnknownTrialError):
        storage.set_params(99, {"x": 4})


def test_add_trials_keeps_everything_but_the_ids(storage):
    storage.create_trials("t", [{"x": 0}])
    given = [
        Trial(7, "s", {"x": 1}, TrialState.COMPLETE, 0.5, Origin.HISTORY, {"a": [1]},
              at(10.0), at(12.5)),
        Trial(8, "t", {"x": 2}, TrialState.FAILED, None, Origin.ASKED, {}, at(11.0), at(13.0)),
        Trial(9, "t", {"x": 3}, TrialState.WAITING, None, Origin.ENQUEUED, {"why": "seed"}),
        Trial(3, "t", {"x": 4}, TrialState.RUNNING, None, Origin.ASKED, {}, at(14.0)),
    ]
    stored = storage.add_trials(given)
    assert [t.id for t in stored] == [1, 2, 3, 4]
    # a complete trial given without values keeps its value as the objective's
    assert stored == [dataclasses.replace(t, id=i + 1, values=t.value and {"value": t.value})
                      for i, t in enumerate(given)]
    assert storage.get_trials()[1:] == stored  # read back exactly as returned
    assert stored[2].datetime_start is None and stored[1].duration == timedelta(seconds=2)


def test_add_trials_stamps_missing_times_with_now(storage):
    storage.clock = lambda: 500.0
    done, running, waiting = storage.add_trials([
        Trial(0, "t", {"x": 1}, TrialState.COMPLETE, 1.0),
        Trial(0, "t", {"x": 2}),
        Trial(0, "t", {"x": 3}, TrialState.WAITING, datetime_start=at(1.0)),
    ])
    assert (done.datetime_start, done.datetime_complete) == (at(500.0), at(500.0))
    assert (running.datetime_start, running.datetime_complete) == (at(500.0), None)
    assert waiting.datetime_start is None  # a waiting trial has not started
    assert storage.get_trials() == [done, running, waiting]


def waiting(task: str, x: int) -> Trial:
    return Trial(0, task, {"x": x}, TrialState.WAITING, origin=Origin.ENQUEUED)


def test_claim_waiting_hands_out_the_oldest_of_the_task_once(storage, open_storage):
    storage.clock = lambda: 100.0
    storage.add_trials([waiting("t", 1), waiting("s", 2), waiting("t", 3), waiting("t", 4)])
    storage.create_trials("t", [{"x": 5}])  # running: not claimable
    storage.clock = lambda: 160.0
    first = storage.claim_waiting("t", 2)
    assert [(t.id, t.params["x"]) for t in first] == [(0, 1), (2, 3)]
    assert all(t.state is TrialState.RUNNING and t.datetime_start == at(160.0) for t in first)
    assert storage.get_trials()[:3:2] == first
    other = open_storage()  # another worker's handle claims what is left, nothing twice
    assert [t.id for t in other.claim_waiting("t", 5)] == [3]
    assert other.claim_waiting("t", 1) == [] and storage.claim_waiting("t", 1) == []
    assert storage.get_trial(1).state is TrialState.WAITING  # another task's waits on
    assert [t.id for t in storage.claim_waiting("s", 1)] == [1]


def test_a_waiting_trial_is_told_only_after_it_is_claimed(storage):
    (trial,) = storage.add_trials([waiting("t", 1)])
    with pytest.raises(TrialStateError, match="waiting"):
        storage.finish_trial(trial.id, TrialState.COMPLETE, 1.0)
    with pytest.raises(TrialStateError, match="only a running trial"):
        storage.set_params(trial.id, {"x": 2})
    assert storage.get_trial(trial.id) == trial
    storage.claim_waiting("t", 1)
    assert storage.finish_trial(trial.id, TrialState.COMPLETE, 1.0).value == 1.0


def test_set_user_attr_on_any_state_and_copies(storage, open_storage):
    running, done = storage.create_trials("t", [{"x": 1}, {"x": 2}])
    storage.finish_trial(done.id, TrialState.COMPLETE, 0.5)
    (kept,) = storage.add_trials([waiting("t", 3)])
    for trial in (running, done, kept):
        updated = storage.set_user_attr(trial.id, "note", {"list": (1, 2), "n": None})
        assert updated.user_attrs == {"note": {"list": [1, 2], "n": None}}  # as JSON reads
        updated.user_attrs["note"]["n"] = "changed"  # a copy
    again = open_storage()
    assert again.set_user_attr(done.id, "more", 1.5).user_attrs == {
        "note": {"list": [1, 2], "n": None}, "more": 1.5
    }
    assert storage.get_trial(done.id).value == 0.5  # nothing else changed
    assert storage.get_trial(kept.id).state is TrialState.WAITING
    assert [t.user_attrs["note"]["n"] for t in storage.get_trials()] == [None] * 3
    with pytest.raises(UnknownTrialError):
        storage.set_user_attr(99, "a", 1)


def test_returned_trials_are_copies(storage):
    (trial,) = storage.create_trials("t", [{"x": 1}])
    trial.params["x"] = 9
    trial.user_attrs["a"] = 1
    read = storage.get_trial(trial.id)
    assert read.params == {"x": 1} and read.user_attrs == {}
    read.params["x"] = 8
    assert storage.get_trials()[0].params == {"x": 1}
