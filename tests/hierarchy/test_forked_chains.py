"""Chains in forked processes: the same draws as one after another, and their failures raised."""

import sys

import pytest
import torch

from hbo.errors import ModelFittingError
from hbo.mcmc import FlatPotential, can_fork, chains, in_forked_processes, run_chains

needs_fork = pytest.mark.skipif(not can_fork(2), reason="forked chains need Linux and 2 cores")


def _gaussian_chains(parallel: bool) -> tuple[torch.Tensor, list[dict]]:
    potential = FlatPotential(lambda p: 0.5 * (p["x"] ** 2).sum(),
                              {"x": torch.zeros(3, dtype=torch.float64)})
    return run_chains(potential, lambda: torch.randn(3, dtype=torch.float64), chains=3,
                      warmup=20, draws=15, seed=5, target_accept=0.8, max_tree_depth=4,
                      progress=False, parallel=parallel)


@needs_fork
def test_forked_chains_give_the_draws_of_chains_in_sequence():
    assert torch.get_num_threads() == 1  # tests/conftest.py: as a forked chain runs
    in_sequence, stats_sequence = _gaussian_chains(parallel=False)
    forked, stats_forked = _gaussian_chains(parallel=True)
    assert forked.shape == (3, 15, 3)
    assert torch.equal(forked, in_sequence)
    assert stats_forked == stats_sequence
    assert len({chain[0, 0].item() for chain in forked}) == 3  # the chains differ


def _fail_on_odd(item: int) -> int:
    if item % 2:
        raise ModelFittingError(f"item {item} failed")
    return 10 * item


@needs_fork
def test_an_error_in_a_forked_process_is_raised_with_its_type_and_traceback():
    assert in_forked_processes(lambda i: 10 * i, range(3)) == [0, 10, 20]
    with pytest.raises(ModelFittingError, match="item 1 failed") as info:
        in_forked_processes(_fail_on_odd, range(3))
    assert any("_fail_on_odd" in note for note in info.value.__notes__)


@needs_fork
def test_a_process_that_dies_silently_is_reported():
    def die(item: int) -> int:
        import os

        os._exit(3)

    with pytest.raises(ChildProcessError, match="exit code 3"):
        in_forked_processes(die, range(2))


def test_chains_run_in_sequence_where_forking_does_not_help(monkeypatch):
    # TorchInductor reads sys.platform once, when its config is first imported: loaded under
    # "darwin" it would look for clang++ for the rest of this worker's tests
    import torch._inductor.config  # noqa: F401

    assert not can_fork(1)
    monkeypatch.setattr(sys, "platform", "darwin")
    assert not can_fork(2)

    def no_fork(*args, **kwargs):
        raise AssertionError("forked although it should not")

    monkeypatch.setattr(chains, "in_forked_processes", no_fork)
    samples, stats = _gaussian_chains(parallel=True)
    assert samples.shape == (3, 15, 3) and len(stats) == 3


@needs_fork
def test_each_forked_process_runs_on_one_thread_whatever_the_parent():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # a parent with more threads than its share of a loaded machine
    try:
        assert in_forked_processes(lambda _: torch.get_num_threads(), [0, 1]) == [1, 1]
    finally:
        torch.set_num_threads(threads)
