"""pyro's NUTS kernel extended through its private members (see the package docstring)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from pyro.infer import NUTS

from hbo.mcmc.potential import FLAT
from hbo.mcmc.trajectory import transition

if TYPE_CHECKING:
    from hbo.mcmc.potential import FlatPotential


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
    """NUTS transitions built by :func:`hbo.mcmc.trajectory.transition` on a
    :class:`~hbo.mcmc.FlatPotential`; set-up and warm-up are pyro's. Diagonal mass matrix
    only.

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
        new = transition(self.flat_potential.value_and_grad, q, p, u, grad, inverse_mass,
                         float(self.step_size), self._energy, self._max_tree_depth)

        z, z_grads = {FLAT: new.q}, {FLAT: new.grad}
        self._cache(z, torch.tensor(new.u, dtype=q.dtype), z_grads)
        if new.diverging and self._t >= self._warmup_steps:
            self._divergences.append(self._t - self._warmup_steps)
        self._t += 1
        if self._t > self._warmup_steps:
            n = self._t - self._warmup_steps
            self._accept_cnt += new.accepted
        else:
            n = self._t
            self._adapter.step(self._t, z, torch.tensor(new.accept_prob), z_grads)
        self._mean_accept_prob += (new.accept_prob - self._mean_accept_prob) / n
        self._record(new.diverging, new.n_steps)
        return dict(z)
