"""One NUTS transition on a flat vector of unconstrained parameters: hbo's lean builder.

The algorithm of pyro's NUTS kernel (Hoffman & Gelman 2014,
https://jmlr.org/papers/v15/hoffman14a.html) with multinomial sampling (Betancourt 2017,
arXiv:1701.02434, A.3), the generalized U-turn criterion on the summed momenta
``rho`` (A.4.2) and biased progressive sampling between doublings, built with its own,
lean loop. pyro's tree builder is generic (a dict of sites per leapfrog step, a
mass-matrix adapter that packs and unpacks them, a named ``pyro.sample`` per random
choice, autograd asked for each gradient): about 0.5 ms of Python per leapfrog step, 2 to
5 times a TorchScript gradient of a small hierarchical model and 10 to 30 times an
Inductor one. Here a step is the compiled ``(U, grad U)`` of
:meth:`hbo.mcmc.FlatPotential.value_and_grad` plus a few vector operations on flat
tensors, the tree's scalars are Python floats and its random choices come from Python's
``random`` (seeded with the chain, as torch is): about 50 us per step besides the gradient
(Eight Schools, fit's driver included). Everything else is pyro's (:class:`hbo.mcmc.FlatNUTS`):
set-up, initial step size search, warm-up adaptation, the MCMC driver and progress bar.

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

import math
import random
from collections.abc import Callable
from typing import NamedTuple

import torch

#: Energy error ``H - H_0`` beyond which a trajectory is called divergent (pyro's and Stan's).
MAX_ENERGY_ERROR = 1000.0

# One end of a trajectory: position, momentum, gradient of U, velocity M^-1 p.
_End = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


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
    """The leapfrog integrator and recursive tree builder of one NUTS transition (module
    docstring, steps 1-3)."""

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


class Transition(NamedTuple):
    """The outcome of one NUTS transition: the chosen state and the transition's statistics.

    ``accepted``: whether the chosen state came from the new trajectory rather than the
    start; ``accept_prob``: the acceptance statistic (module docstring, step 4);
    ``n_steps``: leapfrog steps taken.
    """

    q: torch.Tensor
    u: float
    grad: torch.Tensor
    accepted: bool
    diverging: bool
    accept_prob: float
    n_steps: int


def transition(
    value_and_grad: Callable[[torch.Tensor], tuple[float, torch.Tensor]],
    q: torch.Tensor,
    p: torch.Tensor,
    u: float,
    grad: torch.Tensor,
    inverse_mass: torch.Tensor,
    step_size: float,
    energy: float,
    max_tree_depth: int,
) -> Transition:
    """One NUTS transition from ``q`` with momentum ``p`` (module docstring).

    Args:
        value_and_grad: ``x -> (U(x), grad U(x))``, ``U`` the potential energy.
        q, p: position and (freshly drawn) momentum, flat vectors.
        u, grad: ``U(q)`` and ``grad U(q)``.
        inverse_mass: the diagonal of ``M^-1``.
        step_size: the leapfrog step ``eps``.
        energy: ``H_0 = H(q, p)``.
        max_tree_depth: the most doublings.
    """
    path = _Trajectory(value_and_grad, inverse_mass, step_size, energy)
    left = right = (q, p, grad, inverse_mass * p)
    rho, log_weight, accept_sum, n_steps = p, 0.0, 0.0, 0
    accepted = diverging = False
    for depth in range(max_tree_depth):
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
    return Transition(q, u, grad, accepted, diverging, accept_sum / n_steps, n_steps)
