"""NUTS kernels over one flat vector of unconstrained parameters, and the chain runner.

Two kernels, one algorithm: pyro's NUTS (Hoffman & Gelman 2014,
https://jmlr.org/papers/v15/hoffman14a.html) with multinomial sampling (Betancourt 2017,
arXiv:1701.02434, A.3), the generalized U-turn criterion on the summed momenta
``rho`` (A.4.2), biased progressive sampling between doublings, and pyro's warm-up
(:class:`pyro.infer.mcmc.adaptation.WarmupAdapter`: dual-averaging step size, diagonal mass
matrix estimated in Stan's windows).

- :class:`RecordingNUTS` is pyro's kernel unchanged, plus the sample statistics ArviZ needs.
- :class:`FlatNUTS` builds the same trajectories with its own, lean loop. pyro's tree
  builder is generic (a dict of sites per leapfrog step, a mass-matrix adapter that packs and
  unpacks them, a named ``pyro.sample`` per random choice, autograd asked for each gradient):
  about 0.5 ms of Python per leapfrog step, 2 to 5 times a TorchScript gradient of a small
  hierarchical model and 10 to 30 times an Inductor one. Here a step is the compiled
  ``(U, grad U)`` of :meth:`FlatPotential.value_and_grad` plus a few vector operations on
  flat tensors, the tree's scalars are Python floats and its random choices come from
  Python's ``random`` (seeded with the chain, as torch is): about 50 us per step besides
  the gradient (Eight Schools, fit's driver included). Everything else is pyro's: set-up,
  initial step size search, warm-up adaptation, the MCMC driver and progress bar.

The transition, for the position ``q``, momentum ``p ~ N(0, M)`` with ``M^-1`` the adapted
diagonal inverse mass matrix, ``H(q, p) = U(q) + p^T M^-1 p / 2``:

1. the trajectory doubles, in a direction drawn uniformly each time, with leapfrog steps
   ``p -= eps/2 grad U; q += eps M^-1 p; p -= eps/2 grad U``;
2. each new half is built recursively; within a subtree a state is chosen with probability
   proportional to ``exp(-H)`` (multinomial), and the new half's choice replaces the
   current one with probability ``min(1, w_new / w_old)`` (biased progressive sampling);
3. doubling stops at a U-turn of any subtree or of the whole trajectory
   (``(M^-1 p_left) . rho' <= 0`` or ``(M^-1 p_right) . rho' <= 0``, ``rho'`` the momenta
   summed over the subtree minus half of its two end momenta, as pyro computes it), at a
   divergence (``H - H_0 > 1000``), or at the maximum tree depth;
4. the acceptance statistic for step-size adaptation is the mean of ``min(1, exp(H_0 - H))``
   over all states of the trajectory.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing as mp
import os
import pickle
import random
import sys
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
import pyro
import torch
from pyro.infer import MCMC, NUTS

from hbo.mcmc.potential import FLAT, FlatPotential

SAMPLERS = ("hbo", "pyro")
#: Energy error ``H - H_0`` beyond which a trajectory is called divergent (pyro's and Stan's).
MAX_ENERGY_ERROR = 1000.0

# One end of a trajectory: position, momentum, gradient of U, velocity M^-1 p.
_End = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


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


def _logaddexp(a: float, b: float) -> float:
    hi, lo = (a, b) if a >= b else (b, a)
    if hi == -math.inf:
        return -math.inf
    return hi + math.log1p(math.exp(lo - hi))


def _turning(left: _End, right: _End, rho: torch.Tensor) -> bool:
    """The generalized U-turn criterion of a (sub)trajectory from ``left`` to ``right``."""
    rho = rho - 0.5 * (left[1] + right[1])
    return float(left[3].dot(rho)) <= 0.0 or float(right[3].dot(rho)) <= 0.0


class _Tree:
    """A subtrajectory: its two ends, its chosen state, and what merging needs."""

    __slots__ = ("left", "right", "q", "u", "grad", "rho", "log_weight", "turning",
                 "diverging", "accept_sum", "n_steps")

    def __init__(self, left: _End, right: _End, q: torch.Tensor, u: float, grad: torch.Tensor,
                 rho: torch.Tensor, log_weight: float, turning: bool, diverging: bool,
                 accept_sum: float, n_steps: int) -> None:
        self.left, self.right, self.q, self.u, self.grad = left, right, q, u, grad
        self.rho, self.log_weight = rho, log_weight
        self.turning, self.diverging = turning, diverging
        self.accept_sum, self.n_steps = accept_sum, n_steps


class _Trajectory:
    """The leapfrog integrator and recursive tree builder of one NUTS transition."""

    def __init__(self, value_and_grad: Callable, inverse_mass: torch.Tensor, step_size: float,
                 energy: float) -> None:
        self.value_and_grad = value_and_grad
        self.inverse_mass = inverse_mass
        self.step_size = step_size
        self.energy = energy  # H_0

    def leaf(self, start: _End, direction: int) -> _Tree:
        """One leapfrog step from ``start`` (``direction``: +1 forward, -1 backward)."""
        q, p, grad, _ = start
        eps = direction * self.step_size
        p = torch.add(p, grad, alpha=-0.5 * eps)
        q = torch.addcmul(q, self.inverse_mass, p, value=eps)
        u, grad = self.value_and_grad(q)
        p = torch.add(p, grad, alpha=-0.5 * eps)
        v = self.inverse_mass * p
        error = u + 0.5 * float(p.dot(v)) - self.energy
        if error != error:  # NaN: arithmetic broke down; as an infinite energy
            error = math.inf
        end = (q, p, grad, v)
        return _Tree(end, end, q, u, grad, p, -error, False, error > MAX_ENERGY_ERROR,
                     math.exp(-error) if error > 0 else 1.0, 1)

    def build(self, start: _End, direction: int, depth: int) -> _Tree:
        """A subtree of ``2**depth`` steps from ``start``; stops early at a U-turn or a
        divergence of its first half."""
        if depth == 0:
            return self.leaf(start, direction)
        first = self.build(start, direction, depth - 1)
        if first.turning or first.diverging:
            return first
        second = self.build(first.right if direction > 0 else first.left, direction, depth - 1)
        log_weight = _logaddexp(first.log_weight, second.log_weight)
        chosen = second if random.random() < math.exp(second.log_weight - log_weight) else first
        left, right = (first.left, second.right) if direction > 0 else (second.left, first.right)
        rho = first.rho + second.rho
        return _Tree(
            left, right, chosen.q, chosen.u, chosen.grad, rho, log_weight,
            second.turning or _turning(left, right, rho), second.diverging,
            first.accept_sum + second.accept_sum, first.n_steps + second.n_steps,
        )


class RecordingNUTS(NUTS):
    """pyro's NUTS that also records, per post-warm-up draw, what ArviZ needs.

    ``energy`` is the Hamiltonian ``H = U(q) + K(p)``, ``K(p) = p^T M^-1 p / 2``, at the start
    of the transition, right after the momentum is resampled. Stan's ``energy__`` is H at
    the selected point of the trajectory; the two differ only by the integration error,
    since H is conserved along the trajectory, and E-BFMI needs the spread that momentum
    resampling adds between transitions, which both carry. ``tree_depth`` is the number of
    trajectory doublings started, as Stan counts ``treedepth__``: with ``n_steps`` leapfrog
    steps, ``ceil(log2(n_steps + 1))`` (a full tree of depth k has ``2**k - 1`` steps).

    Only the momentum draw of a transition (pyro names it ``r_t=<t>``) starts a record:
    step-size searches during warm-up also draw momenta (``r_presample_*``) and must not
    overwrite the energy or reset the step count.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stats: dict[str, list[float]] = {
            k: [] for k in ("diverging", "energy", "tree_depth", "n_steps", "step_size", "lp")
        }
        self._energy = math.nan
        self._steps_total = 0

    def _sample_r(self, name):  # noqa: ANN001, ANN202 - pyro's private signature
        r, r_unscaled = super()._sample_r(name)
        if name.startswith("r_t="):
            _, pe, _ = self._fetch_from_cache()
            self._energy = float(self._kinetic_energy(r_unscaled) + pe)
        return r, r_unscaled

    def _build_basetree(self, *args):  # noqa: ANN002, ANN202
        self._steps_total += 1
        return super()._build_basetree(*args)

    def sample(self, params):  # noqa: ANN001, ANN201
        n_div, steps_before = len(self._divergences), self._steps_total
        z = super().sample(params)
        self._record(len(self._divergences) > n_div, self._steps_total - steps_before)
        return z

    def _record(self, diverging: bool, n_steps: int) -> None:
        """Append the statistics of the transition just made, if past warm-up."""
        if self._t <= self._warmup_steps:
            return
        _, pe, _ = self._fetch_from_cache()
        s = self.stats
        s["diverging"].append(diverging)
        s["energy"].append(self._energy)
        s["n_steps"].append(n_steps)
        s["tree_depth"].append(math.ceil(math.log2(n_steps + 1)))
        s["step_size"].append(float(self.step_size))
        s["lp"].append(-float(pe))


class FlatNUTS(RecordingNUTS):
    """NUTS transitions built by :class:`_Trajectory` on a :class:`FlatPotential`
    (module docstring); set-up and warm-up are pyro's. Diagonal mass matrix only.

    Args:
        potential: the flat potential; its ``value_and_grad`` drives the leapfrog steps.
        **kwargs: pyro's ``NUTS`` arguments (``target_accept_prob``, ``max_tree_depth``...).
    """

    def __init__(self, potential: FlatPotential, **kwargs: Any) -> None:
        super().__init__(potential_fn=potential, **kwargs)
        self.flat_potential = potential

    def sample(self, params):  # noqa: ANN001, ANN201
        z, pe, grads = self._fetch_from_cache()
        if z is None:
            q = params[FLAT]
            u, grad = self.flat_potential.value_and_grad(q)
        else:
            q, u, grad = z[FLAT], float(pe), grads[FLAT]
        (inverse_mass,) = self.mass_matrix_adapter.inverse_mass_matrix.values()
        r = torch.randn_like(q)  # M^-1/2 p
        p = r * inverse_mass.rsqrt()
        self._energy = u + 0.5 * float(r.dot(r))
        path = _Trajectory(self.flat_potential.value_and_grad, inverse_mass,
                           float(self.step_size), self._energy)
        left = right = (q, p, grad, inverse_mass * p)
        rho, log_weight, accept_sum, n_steps = p, 0.0, 0.0, 0
        accepted = diverging = False
        for depth in range(self._max_tree_depth):
            direction = 1 if random.random() < 0.5 else -1
            new = path.build(right if direction > 0 else left, direction, depth)
            accept_sum, n_steps = accept_sum + new.accept_sum, n_steps + new.n_steps
            if new.diverging:
                diverging = True
                break
            if new.turning:
                break
            if random.random() < math.exp(min(new.log_weight - log_weight, 0.0)):
                q, u, grad, accepted = new.q, new.u, new.grad, True
            if direction > 0:
                right = new.right
            else:
                left = new.left
            rho = rho + new.rho
            if _turning(left, right, rho):
                break
            log_weight = _logaddexp(log_weight, new.log_weight)

        z, z_grads = {FLAT: q}, {FLAT: grad}
        self._cache(z, torch.tensor(u, dtype=q.dtype), z_grads)
        if diverging and self._t >= self._warmup_steps:
            self._divergences.append(self._t - self._warmup_steps)
        accept_prob = accept_sum / n_steps
        self._t += 1
        if self._t > self._warmup_steps:
            n = self._t - self._warmup_steps
            self._accept_cnt += accepted
        else:
            n = self._t
            self._adapter.step(self._t, z, torch.tensor(accept_prob), z_grads)
        self._mean_accept_prob += (accept_prob - self._mean_accept_prob) / n
        self._record(diverging, n_steps)
        return dict(z)


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
                print(f"NUTS chain {chain + 1}/{chains} ({init.numel()} parameters{where})",
                      flush=True)
            mcmc = MCMC(kernel, num_samples=draws, warmup_steps=warmup,
                        initial_params={FLAT: init}, disable_progbar=not show)
            mcmc.run()
        return mcmc.get_samples()[FLAT].detach(), kernel.stats

    runs = (in_forked_processes(one_chain, range(chains)) if forked
            else [one_chain(chain) for chain in range(chains)])
    samples, stats = zip(*runs, strict=True)
    return torch.stack(samples), list(stats)


def can_fork(processes: int) -> bool:
    """Whether :func:`in_forked_processes` can run ``processes`` at once here: Linux (fork
    is the start method that shares the compiled potential; macOS and Windows lack a safe
    one), at least two processes and two usable cores, and not inside a daemonic process
    (one that may not have children, e.g. a ``multiprocessing.Pool`` worker)."""
    return (sys.platform.startswith("linux") and processes > 1
            and len(os.sched_getaffinity(0)) > 1 and not mp.current_process().daemon)


def in_forked_processes(fn: Callable[[int], Any], items: Iterable[int]) -> list[Any]:
    """``[fn(i) for i in items]``, each call in a process forked from this one.

    Each child runs on one thread (a forked child that entered a multi-threaded OpenMP
    region of the parent's pool can hang; PyTorch's DataLoader workers do the same) and
    sends its result back through a pipe. An exception in a child is raised here, with the
    child's traceback as a note; a child that dies without a word raises
    :class:`ChildProcessError`. Children still running when this returns or raises are
    terminated.
    """
    context = mp.get_context("fork")
    children = []

    def child(item: int, send: Connection) -> None:
        # plain pickle: Connection.send would share tensors by file descriptor (torch's
        # reducers), which the parent can only fetch while this process still lives
        torch.set_num_threads(1)
        try:
            send.send_bytes(pickle.dumps(("ok", fn(item))))
        except BaseException as error:  # noqa: BLE001 - every failure goes to the parent
            trace = traceback.format_exc()
            try:
                message = pickle.dumps(("error", (error, trace)))
            except Exception:  # noqa: BLE001 - an error that does not pickle: its text
                message = pickle.dumps(
                    ("error", (RuntimeError(f"{type(error).__name__}: {error}"), trace)))
            send.send_bytes(message)
        finally:
            send.close()

    try:
        for item in items:
            receive, send = context.Pipe(duplex=False)
            process = context.Process(target=child, args=(item, send), daemon=True)
            with warnings.catch_warnings():
                # Python >= 3.12 warns that a fork of a multi-threaded process may deadlock
                # (a lock held by another thread); the child touches no lock but torch's
                warnings.filterwarnings("ignore", "This process .* is multi-threaded",
                                        DeprecationWarning)
                process.start()
            send.close()  # the child's end: so that a dead child reads as EOF here
            children.append((process, receive))
        results = []
        for process, receive in children:
            try:
                status, value = pickle.loads(receive.recv_bytes())
            except EOFError:
                process.join()
                raise ChildProcessError(
                    f"a chain's process ended without a result (exit code {process.exitcode})"
                ) from None
            if status == "error":
                error, trace = value
                error.add_note(f"in the forked chain process:\n{trace}")
                raise error
            results.append(value)
            process.join()
        return results
    finally:
        for process, receive in children:
            receive.close()
            if process.is_alive():
                process.terminate()
