"""Conformance of hbo's NUTS (FlatPotential + FlatNUTS) with pyro's own NUTS on one fixed model.

The model: Eight Schools (Rubin 1981; Gelman et al., BDA3 section 5.5), non-centered,
``mu ~ N(0, 5^2)``, ``tau ~ Half-Cauchy(5)``, ``z_j ~ N(0, 1)``,
``y_j ~ N(mu + tau z_j, sigma_j^2)``: ten latent scalars, a positive one behind a
log transform, and a funnel-shaped prior. It is written here, not taken from
:mod:`hbo.hierarchy.models`, so that the two samplers share nothing but the pyro program.

- hbo: pyro's potential of the program (:func:`pyro.infer.mcmc.util.initialize_model`)
  as one compiled function of one flat vector (:class:`hbo.mcmc.FlatPotential`, TorchScript),
  trajectories by :class:`hbo.mcmc.FlatNUTS`;
- pyro: :class:`pyro.infer.NUTS` on the program itself (its own potential, per-site
  dictionaries, its own tree builder).

Same driver settings (one chain, :data:`WARMUP` + :data:`DRAWS`, target acceptance 0.9,
tree depth 10), fixed seeds. For each of the ten scalars (``tau`` on its natural scale),
the posterior mean and standard deviation of the two runs must agree: the difference
over its Monte Carlo standard error, ``z = (a - b) / sqrt(mcse_a^2 + mcse_b^2)`` with
ArviZ's ``mcse`` (method ``"mean"`` and ``"sd"``, from the effective sample size), must
satisfy ``|z| < Z_MAX``. With 20 such ``z`` of (nearly) standard normal law when both
samplers are right, ``Z_MAX = 4`` is the two-sided 0.1% Bonferroni bound (per-test level
5e-5 for 20 tests: 4.06). That a wrong target fails it is checked too: the same hbo run
on a potential whose log density lacks a small term (a tilt ``0.1 mu``, mean shift about
``0.1 Var(mu) ~ 1``, about 0.3 posterior sd) gives ``|z|`` well above ``Z_MAX``.

A wrong gradient alone would not fail this test, nor should it: the leapfrog map of any
conservative force is reversible and volume-preserving, and the trajectory's weights use
the true energy, so a sampler with a wrong gradient is still exact, only slower.
"""

from __future__ import annotations

import math

import arviz as az
import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import MCMC, NUTS
from pyro.infer.mcmc.util import initialize_model

from hbo.mcmc import FLAT, FlatNUTS, FlatPotential, seeded

Y = torch.tensor([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0], dtype=torch.float64)
SIGMA = torch.tensor([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0], dtype=torch.float64)
WARMUP, DRAWS = 300, 1000
OPTIONS = {"target_accept_prob": 0.9, "max_tree_depth": 10}
Z_MAX = 4.0


def eight_schools() -> None:
    mu = pyro.sample("mu", dist.Normal(torch.tensor(0.0, dtype=torch.float64), 5.0))
    tau = pyro.sample("tau", dist.HalfCauchy(torch.tensor(5.0, dtype=torch.float64)))
    with pyro.plate("school", len(Y)):
        z = pyro.sample("z", dist.Normal(torch.tensor(0.0, dtype=torch.float64), 1.0))
        pyro.sample("y", dist.Normal(mu + tau * z, SIGMA), obs=Y)


def scalars(samples: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """Draws of each latent scalar (``mu``, ``tau``, ``z[0]``..``z[7]``) on its natural scale."""
    out = {"mu": samples["mu"], "tau": samples["tau"]}
    out.update({f"z[{j}]": samples["z"][:, j] for j in range(len(Y))})
    return {k: v.detach().numpy().reshape(-1) for k, v in out.items()}


def run(kernel: NUTS, seed: int, init: dict[str, torch.Tensor] | None = None
        ) -> tuple[MCMC, dict[str, float]]:
    """The run, and its adapted step size and post-warm-up mean acceptance statistic (read
    at the last draw: the kernel's state is reset when the run ends)."""
    adapted = {}

    def last_draw(kernel: NUTS, params: object, stage: str, i: int) -> None:
        if stage == "Sample" and i == DRAWS - 1:
            logged = kernel.logging()
            adapted.update(step_size=float(logged["step size"]), accept=float(logged["acc. prob"]))

    with seeded(seed):
        mcmc = MCMC(kernel, num_samples=DRAWS, warmup_steps=WARMUP, initial_params=init,
                    disable_progbar=True, hook_fn=last_draw)
        mcmc.run()
    return mcmc, adapted


def run_hbo(seed: int, tilt: float = 0.0) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """hbo's sampler; ``tilt``: a deliberately wrong potential ``U(q) - tilt * mu``."""
    with seeded(seed):
        init, potential_fn, transforms, _ = initialize_model(eight_schools)

    def energy(params: dict[str, torch.Tensor]) -> torch.Tensor:
        return potential_fn(params) - tilt * params["mu"]

    potential = FlatPotential(energy, init, jit=True)
    mcmc, adapted = run(FlatNUTS(potential, **OPTIONS), seed, {FLAT: potential.flatten(init)})
    unconstrained = potential.unflatten(mcmc.get_samples()[FLAT])
    samples = {k: transforms[k].inv(v) if k in transforms else v
               for k, v in unconstrained.items()}
    return scalars(samples), adapted


def run_pyro(seed: int) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    # pyro's potential traced by TorchScript (jit_compile): 2 x faster, the same tree builder
    kernel = NUTS(eight_schools, jit_compile=True, ignore_jit_warnings=True, **OPTIONS)
    mcmc, adapted = run(kernel, seed)
    return scalars(mcmc.get_samples()), adapted


def z_scores(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, float]:
    """``(stat_a - stat_b) / sqrt(mcse_a^2 + mcse_b^2)`` for the mean and sd of each scalar."""
    z = {}
    for name in a:
        for method, stat in (("mean", np.mean), ("sd", lambda x: np.std(x, ddof=1))):
            se = math.hypot(*(float(az.mcse(d[name][None, :], method=method)) for d in (a, b)))
            z[f"{method}({name})"] = (stat(a[name]) - stat(b[name])) / se
    return z


@pytest.fixture(scope="module")
def pyro_reference() -> tuple[dict[str, np.ndarray], dict[str, float]]:
    return run_pyro(seed=1)


def test_hbo_nuts_matches_pyro_nuts(pyro_reference) -> None:
    ours, our_adaptation = run_hbo(seed=2)
    theirs, their_adaptation = pyro_reference
    z = z_scores(ours, theirs)
    assert max(abs(v) for v in z.values()) < Z_MAX, z
    # the posterior is the textbook one, not two equal wrong answers
    assert 3.5 < np.mean(theirs["mu"]) < 5.5 and 2.5 < np.mean(theirs["tau"]) < 4.5
    for adapted in (our_adaptation, their_adaptation):
        assert 0.8 < adapted["accept"] < 0.99, (our_adaptation, their_adaptation)
        assert 0.1 < adapted["step_size"] < 1.5, (our_adaptation, their_adaptation)
    ratio = our_adaptation["step_size"] / their_adaptation["step_size"]
    assert 0.5 < ratio < 2.0, (our_adaptation, their_adaptation)


def test_a_wrong_potential_fails_the_comparison(pyro_reference) -> None:
    ours, _ = run_hbo(seed=2, tilt=0.1)
    z = z_scores(ours, pyro_reference[0])
    assert z["mean(mu)"] > Z_MAX, z
