"""Real worker processes on one stored study: concurrency, SIGKILLed workers and drivers.

Workers are forked (hbo is imported once, in the test process) and open their own
connections. ``n_initial`` is larger than the study so that no worker fits a GP: the
tests exercise the storage, not the model, and stay fast.
"""

import multiprocessing
import os
import signal

import pytest
import sqlalchemy as sa

import hbo
from hbo.errors import TrialStateError
from hbo.trial import Origin, TrialState

SPACE = hbo.SearchSpace([hbo.Float("x", -1.0, 1.0), hbo.Int("k", 0, 5)])
NO_MODEL = 10**6  # n_initial: Sobol points only
fork = multiprocessing.get_context("fork")
# Python >= 3.12 warns when a process with threads forks; the children only run hbo code and
# open their own connections, and fork spares each worker a fresh import of torch.
pytestmark = pytest.mark.filterwarnings("ignore:This process .* is multi-threaded")


def value_of(params: dict) -> float:
    """A cheap objective whose value identifies its parameters (to check what was told)."""
    return params["x"] ** 2 + params["k"]


def open_study(url: str, name: str) -> hbo.Study:
    return hbo.Study(SPACE, task="t", seed=1, storage=url, name=name, n_initial=NO_MODEL)


def _work(url: str, name: str, n: int) -> None:
    study = open_study(url, name)
    for _ in range(n):
        trial = study.ask()
        study.tell(trial, value_of(trial.params))
    study.storage.close()


def _work_in_batches(url: str, name: str, n: int, batch: int, start) -> None:
    study = open_study(url, name)
    start.wait()  # every worker asks at once
    for _ in range(n):
        trials = study.ask(batch)
        for trial in trials:
            study.tell(trial, value_of(trial.params))
    study.storage.close()


def _ask_then_hang(url: str, name: str, asked) -> None:
    study = open_study(url, name)
    asked.send(study.ask().id)
    signal.pause()  # evaluating ... until SIGKILL


def _die_inside_tell(url: str, name: str, n_done: int) -> None:
    study = open_study(url, name)
    for _ in range(n_done):
        trial = study.ask()
        study.tell(trial, value_of(trial.params))
    last = study.ask()
    # SIGKILL after the UPDATE is sent, before COMMIT: the driver dies mid-transaction
    sa.event.listen(study.storage._engine, "commit", lambda _: os.kill(os.getpid(), 9))
    study.tell(last, value_of(last.params))


def run(target, *args) -> multiprocessing.Process:
    process = fork.Process(target=target, args=args)
    process.start()
    return process


def test_four_workers_store_exactly_one_hundred_distinct_trials(sql_url, study_name):
    open_study(sql_url, study_name).storage.close()  # created once, then opened by all
    workers = [run(_work, sql_url, study_name, 25) for _ in range(4)]
    for w in workers:
        w.join()
    assert [w.exitcode for w in workers] == [0, 0, 0, 0]
    trials = hbo.Study.load(study_name, sql_url).storage.get_trials()
    assert sorted(t.id for t in trials) == list(range(100))  # none lost, none handed out twice
    assert all(t.state is TrialState.COMPLETE for t in trials)
    assert all(t.value == value_of(t.params) for t in trials)  # each trial got its own value
    # workers asking at once read the same trials; none was handed a point another had
    assert len({t.params["x"] for t in trials}) == 100


def test_each_enqueued_point_is_handed_out_exactly_once_to_concurrent_workers(
    sql_url, study_name
):
    driver = open_study(sql_url, study_name)
    points = [{"x": i / 20, "k": i % 6} for i in range(20)]
    for point in points:
        driver.enqueue(point)
    start = fork.Event()
    # 4 workers, 2 asking one point at a time and 2 asking batches of 3: 32 points asked,
    # the 20 enqueued first (the batch that reaches the end of the queue mixes in proposals)
    workers = [run(_work_in_batches, sql_url, study_name, n, batch, start)
               for n, batch in [(10, 1), (10, 1), (2, 3), (2, 3)]]
    start.set()
    for w in workers:
        w.join()
    assert [w.exitcode for w in workers] == [0, 0, 0, 0]  # no trial was told twice
    trials = driver.storage.get_trials()
    assert sorted(t.id for t in trials) == list(range(32))
    enqueued = [t for t in trials if t.origin is Origin.ENQUEUED]
    assert [t.params for t in enqueued] == points  # each once, none left waiting
    assert all(t.state is TrialState.COMPLETE for t in trials)
    assert all(t.value == value_of(t.params) for t in trials)
    asked = [t for t in trials if t.origin is Origin.ASKED]
    assert len(asked) == 12 and all(t.id >= 20 for t in asked)
    driver.storage.close()


def test_worker_killed_between_ask_and_tell_is_failed_and_the_study_resumes(sql_url, study_name):
    study = open_study(sql_url, study_name)
    study.add_history("source", [{"x": 0.5, "k": 1}], [1.25])
    for _ in range(3):
        trial = study.ask()
        study.tell(trial, value_of(trial.params))
    receive, send = fork.Pipe(duplex=False)
    worker = run(_ask_then_hang, sql_url, study_name, send)
    lost = receive.recv()
    worker.kill()
    worker.join()
    assert worker.exitcode == -signal.SIGKILL
    resumed = hbo.Study.load(study_name, sql_url, n_initial=NO_MODEL, heartbeat_timeout=0.0)
    assert resumed.storage.get_trial(lost).state is TrialState.RUNNING  # not yet presumed dead
    trial = resumed.ask()  # ask first fails trials without a heartbeat for 0 s
    assert trial.id == lost + 1
    assert resumed.storage.get_trial(lost).state is TrialState.FAILED
    resumed.tell(trial, value_of(trial.params))
    frame = resumed.trials_dataframe()
    assert frame["state"].tolist() == ["complete"] * 4 + ["failed", "complete"]
    assert frame["origin"].tolist()[0] == Origin.HISTORY.value
    with pytest.raises(TrialStateError):  # a late tell of the lost trial is refused
        resumed.tell(lost, 0.0)


def test_driver_killed_inside_tell_loses_nothing_completed(sql_url, study_name):
    driver = run(_die_inside_tell, sql_url, study_name, 4)
    driver.join()
    assert driver.exitcode == -signal.SIGKILL
    resumed = hbo.Study.load(study_name, sql_url, n_initial=NO_MODEL)
    trials = resumed.storage.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4 + [TrialState.RUNNING]
    assert all(t.value == value_of(t.params) for t in trials[:4])
    assert trials[4].value is None  # the half-done tell was rolled back as a whole
    assert [t.id for t in resumed.fail_stale_trials(0.0)] == [4]
    for _ in range(2):
        trial = resumed.ask()
        resumed.tell(trial, value_of(trial.params))
    assert resumed.best.id in range(7) and len(resumed.storage.get_trials()) == 7
