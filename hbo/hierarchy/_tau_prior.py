"""Priors on the between-group standard deviation ``tau`` and the propriety of ``p(tau | y)``.

A prior is kept as an unnormalized log-density on ``tau > 0`` (normalizing constants
cancel in ``p(tau | y)``):

- ``"uniform"``: ``p(tau) ∝ 1`` on ``(0, inf)`` (BDA3 §5.4, improper) or, with
  ``tau_scale = b``, Uniform(0, b);
- ``"half_normal"``: ``p(tau) ∝ exp(-tau^2 / (2 s^2))``;
- ``"half_cauchy"``: ``p(tau) ∝ 1 / (1 + (tau / s)^2)`` (Gelman 2006);
- ``"exponential"``: ``p(tau) ∝ exp(-tau / s)`` (mean ``s``);
- a callable ``log_p(tau: ndarray) -> ndarray``, vectorized over ``tau > 0``.

Propriety. The likelihood of the normal hierarchical model, with ``mu`` integrated out,
is finite and positive at ``tau = 0`` and decays as a power of ``tau`` at infinity:
``p(y | tau) ~ tau^-(J-1)`` with a flat prior on ``mu`` (``V_mu^(1/2) ~ tau / sqrt(J)``
times ``prod_j (sigma_j^2 + tau^2)^(-1/2) ~ tau^-J``) and ``~ tau^-J`` with a normal prior
on ``mu``. So ``p(tau | y)`` is proper if and only if the prior is integrable at 0 and
``prior tail exponent + likelihood exponent < -1``. The prior's exponents are read off
its log-density as log-log slopes far below and far above the data's scale; a prior with
a power-law (or lighter) tail is classified exactly, a logarithmic correction is not.

References: Gelman, Carlin, Stern, Dunson, Vehtari, Rubin (2013), *Bayesian Data
Analysis*, 3rd ed., §5.4 and §5.7; Gelman (2006), Prior distributions for variance
parameters in hierarchical models, *Bayesian Analysis* 1(3), doi:10.1214/06-BA117A.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hbo.errors import ImproperPosteriorError, InvalidArgumentError

LogDensity = Callable[[np.ndarray], np.ndarray]

_NAMED = ("uniform", "half_normal", "half_cauchy", "exponential")
# log-log slopes are read between these multiples of the data's scale
_FAR_BELOW = (1e-12, 1e-10)
_FAR_ABOVE = (1e8, 1e10)
# margin on the propriety boundary, for the finite-difference slope
_SLOPE_TOL = 1e-6


@dataclass(frozen=True)
class TauPrior:
    """A prior on ``tau``: unnormalized ``log_density``, the upper end of its support and,
    for a named proper prior, its ``scale`` (then :meth:`sample` draws from it)."""

    name: str
    log_density: LogDensity
    upper: float = np.inf
    scale: float | None = None

    @property
    def samplable(self) -> bool:
        """A named prior with a scale: proper, and :meth:`sample` knows it."""
        return self.scale is not None

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` draws: ``|N(0, s^2)|``, ``|Cauchy(0, s)|``, ``Exponential(mean s)`` or
        ``U(0, s)``; :class:`InvalidArgumentError` for a callable or the improper flat
        prior."""
        if self.scale is None:
            raise InvalidArgumentError(
                f"the {self.name} tau prior cannot be sampled (a callable log-density, or the "
                "flat prior without an upper bound): give a named prior with tau_scale"
            )
        s = self.scale
        if self.name == "half_normal":
            return np.abs(rng.normal(0.0, s, n))
        if self.name == "half_cauchy":
            return np.abs(s * rng.standard_cauchy(n))
        if self.name == "exponential":
            return rng.exponential(s, n)
        return rng.uniform(0.0, s, n)


def make_tau_prior(tau_prior: str | LogDensity, tau_scale: float | None) -> TauPrior:
    """Resolve ``tau_prior`` (a name from the module docstring, or a callable) and ``tau_scale``."""
    if callable(tau_prior):
        if tau_scale is not None:
            raise InvalidArgumentError(
                "tau_scale must be None when tau_prior is a callable log-density "
                "(put the scale inside the callable)."
            )
        return TauPrior("callable", _checked_callable(tau_prior))
    if tau_prior not in _NAMED:
        raise InvalidArgumentError(
            f"tau_prior must be one of {', '.join(map(repr, _NAMED))} or a callable "
            f"log-density; got {tau_prior!r}."
        )
    if tau_prior == "uniform" and tau_scale is None:
        return TauPrior("uniform", lambda tau: np.zeros_like(tau))
    s = _positive_scale(tau_prior, tau_scale)
    if tau_prior == "uniform":
        return TauPrior("uniform", lambda tau: np.where(tau <= s, 0.0, -np.inf), upper=s,
                        scale=s)
    if tau_prior == "half_normal":
        return TauPrior(tau_prior, lambda tau: -0.5 * (tau / s) ** 2, scale=s)
    if tau_prior == "half_cauchy":
        return TauPrior(tau_prior, lambda tau: -np.log1p((tau / s) ** 2), scale=s)
    return TauPrior(tau_prior, lambda tau: -tau / s, scale=s)


def posterior_tail_exponent(
    prior: TauPrior, n_groups: int, flat_mu: bool, data_scale: float
) -> float:
    """Exponent ``a`` with ``p(tau | y) ~ tau^a`` as ``tau -> inf``; raise if improper.

    ``data_scale`` (a positive number on the scale of ``y``) places the probes of the
    prior's slopes far from where the data inform ``tau``. Returns ``-inf`` for a prior
    with bounded support or a tail lighter than any power.
    """
    low = _log_log_slope(prior.log_density, data_scale * np.array(_FAR_BELOW), vanishing=np.inf)
    if not low > -1.0 + _SLOPE_TOL:
        raise ImproperPosteriorError(
            f"p(tau | y) is improper: tau_prior={prior.name!r} behaves like tau^{low:.3g} "
            "near tau = 0, which is not integrable while the likelihood stays positive "
            "there. Use a prior that is integrable at 0."
        )
    likelihood = -(n_groups - 1.0) if flat_mu else -float(n_groups)
    if np.isfinite(prior.upper):
        return -np.inf
    high = _log_log_slope(prior.log_density, data_scale * np.array(_FAR_ABOVE), vanishing=-np.inf)
    tail = high + likelihood
    if not tail < -1.0 - _SLOPE_TOL:
        mu_text = "a flat prior on mu" if flat_mu else "a normal prior on mu"
        raise ImproperPosteriorError(
            f"p(tau | y) is improper: with {mu_text} and J = {n_groups} groups the "
            f"likelihood decays like tau^{likelihood:g} and tau_prior={prior.name!r} like "
            f"tau^{high:.3g}, so p(tau | y) ~ tau^{tail:.3g} is not integrable at infinity. "
            "Use a proper tau prior (half_normal, half_cauchy, exponential, or uniform "
            "with tau_scale), a normal mu_prior, or more groups."
        )
    return float(tail) if np.isfinite(high) else -np.inf


def _log_log_slope(log_density: LogDensity, taus: np.ndarray, vanishing: float) -> float:
    """Slope of ``log p`` against ``log tau`` between the two probes ``taus`` (increasing).

    ``vanishing`` is returned when the prior is zero (log-density ``-inf``) at the probe
    farther from the data (``taus[0]`` below the data, ``taus[1]`` above): ``+inf`` below,
    since a prior that vanishes near 0 is integrable there, ``-inf`` above.
    """
    values = np.asarray(log_density(taus), dtype=float)
    far = values[0] if vanishing > 0 else values[1]
    if np.isneginf(far):
        return vanishing
    return float((values[1] - values[0]) / np.log(taus[1] / taus[0]))


def _positive_scale(name: str, tau_scale: float | None) -> float:
    if tau_scale is None:
        raise InvalidArgumentError(f"tau_prior={name!r} needs tau_scale (a positive number).")
    s = float(tau_scale)
    if not (np.isfinite(s) and s > 0):
        raise InvalidArgumentError(f"tau_scale must be positive and finite; got {tau_scale!r}.")
    return s


def _checked_callable(log_p: LogDensity) -> LogDensity:
    probe = np.array([0.5, 1.0, 2.0])
    try:
        out = np.asarray(log_p(probe), dtype=float)
    except Exception as exc:  # the user's function: report what it raised
        raise InvalidArgumentError(
            f"tau_prior callable failed on an array of tau values: {exc!r}"
        ) from exc
    if out.shape != probe.shape or np.any(np.isnan(out)) or np.any(np.isposinf(out)):
        raise InvalidArgumentError(
            "tau_prior callable must map an array of tau > 0 to an array of the same shape "
            "of log-densities (finite or -inf)."
        )

    def log_density(tau: np.ndarray) -> np.ndarray:
        return np.asarray(log_p(tau), dtype=float)

    return log_density
