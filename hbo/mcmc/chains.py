"""Running NUTS chains on a flat potential: seeds, starts, kernels, in sequence or forked.

Each chain is pyro's ``MCMC`` driver (warm-up: :class:`pyro.infer.mcmc.adaptation.WarmupAdapter`,
dual-averaging step size and a diagonal mass matrix estimated in Stan's windows) around
one of two kernels (:mod:`hbo.mcmc`): hbo's :class:`~hbo.mcmc.FlatNUTS` or pyro's own
:class:`~hbo.mcmc.RecordingNUTS`. Chains are seeded from one seed by
``numpy.random.SeedSequence`` and restore the global RNG states they found (:func:`seeded`).
"""

from __future__ import annotations

import contextlib
import random
import sys
from collections.abc import Callable, Iterator

import numpy as np
import pyro
import torch
from pyro.infer import MCMC
from tqdm.auto import tqdm

from hbo.mcmc._private_apis.pyro_nuts import FlatNUTS, RecordingNUTS
from hbo.mcmc.forking import can_fork, in_forked_processes
from hbo.mcmc.potential import FLAT, FlatPotential

#: The kernels :func:`run_chains` can run: hbo's trajectory builder or pyro's own.
SAMPLERS = ("hbo", "pyro")


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch, numpy and random for the block and restore their states after it."""
    # pyro.set_rng_seed seeds numpy's legacy global generator, so its state is saved too
    states = torch.get_rng_state(), np.random.get_state(), random.getstate()  # noqa: NPY002
    pyro.set_rng_seed(seed)
    try:
        yield
    finally:
        torch.set_rng_state(states[0])
        np.random.set_state(states[1])  # noqa: NPY002
        random.setstate(states[2])


def run_chains(
    potential: FlatPotential,
    initial_point: Callable[[], torch.Tensor],
    *,
    chains: int,
    warmup: int,
    draws: int,
    seed: int,
    target_accept: float,
    max_tree_depth: int,
    progress: bool,
    sampler: str = "hbo",
    parallel: bool = False,
) -> tuple[torch.Tensor, list[dict[str, list[float]]]]:
    """NUTS chains on a potential over one flat site ``FLAT``.

    Chain ``c`` runs under :func:`seeded` with the ``c``-th state of
    ``numpy.random.SeedSequence(seed)``; ``initial_point()`` is called inside that block, so
    a random start is reproducible. Each chain adapts its own step size and mass matrix.
    ``sampler``: ``"hbo"`` (:class:`FlatNUTS`) or ``"pyro"`` (:class:`RecordingNUTS`).

    ``parallel``: run the chains at once, each in a process forked from this one (so the
    potential, compiled or not, is not rebuilt), where :func:`can_fork` says that helps;
    else one after another. A chain's seed, start and arithmetic do not depend on where
    it runs: a forked chain runs on one thread, and at one thread the draws are the same
    either way. Only the first chain shows a progress bar then.

    Returns:
        ``chains x draws x D`` post-warm-up draws, and each chain's statistics.
    """
    options = dict(target_accept_prob=target_accept, max_tree_depth=max_tree_depth)
    seeds = [int(s) for s in np.random.SeedSequence(seed).generate_state(chains)]
    forked = parallel and can_fork(chains)

    def one_chain(chain: int) -> tuple[torch.Tensor, dict[str, list[float]]]:
        kernel = (FlatNUTS(potential, **options) if sampler == "hbo"
                  else RecordingNUTS(potential_fn=potential, **options))
        show = progress and (chain == 0 or not forked)
        with seeded(seeds[chain]):
            init = initial_point()
            if show:
                where = f", {chains} in parallel processes" if forked else ""
                # the bar's own title line, on its stream (not print: library code)
                tqdm.write(f"NUTS chain {chain + 1}/{chains} ({init.numel()} parameters{where})",
                           file=sys.stderr)
            mcmc = MCMC(kernel, num_samples=draws, warmup_steps=warmup,
                        initial_params={FLAT: init}, disable_progbar=not show)
            mcmc.run()
        return mcmc.get_samples()[FLAT].detach(), kernel.stats

    runs = (in_forked_processes(one_chain, range(chains)) if forked
            else [one_chain(chain) for chain in range(chains)])
    samples, stats = zip(*runs, strict=True)
    return torch.stack(samples), list(stats)
