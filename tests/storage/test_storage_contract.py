"""Contract every storage must meet (SQL storages will be added to ``STORAGES``)."""

import pytest

from hbo.errors import TrialStateError, UnknownTrialError
from hbo.storage import InMemoryStorage
from hbo.trial import Origin, TrialState

STORAGES = [InMemoryStorage]


@pytest.fixture(params=STORAGES, ids=lambda cls: cls.__name__)
def storage(request):
    return request.param()


def test_create_and_read_back(storage):
    asked = storage.create_trials("t", [{"x": 1}, {"x": 2}])
    assert [t.id for t in asked] == [0, 1] and all(t.state is TrialState.RUNNING for t in asked)
    hist = storage.create_trials("s", [{"x": 3}], values=[0.5], origin=Origin.HISTORY)
    assert hist[0].state is TrialState.COMPLETE and hist[0].value == 0.5
    assert [t.id for t in storage.get_trials()] == [0, 1, 2]
    assert [t.id for t in storage.get_trials("t")] == [0, 1]
    assert [t.id for t in storage.get_trials(states=[TrialState.COMPLETE])] == [2]
    assert storage.get_trial(2).origin is Origin.HISTORY


def test_state_machine(storage):
    (trial,) = storage.create_trials("t", [{"x": 1}])
    done = storage.finish_trial(trial.id, TrialState.COMPLETE, 1.5)
    assert done.value == 1.5 and storage.get_trial(trial.id).state is TrialState.COMPLETE
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


def test_stored_params_are_copies(storage):
    params = {"x": 1}
    (trial,) = storage.create_trials("t", [params])
    params["x"] = 2
    assert storage.get_trial(trial.id).params == {"x": 1}
