"""Adaptive quadrature of a 1-D posterior on ``(0, inf)``, in ``u = log(tau)``.

Given an unnormalized log-density ``log f(tau)``, :func:`log_scale_quadrature` returns
nodes ``tau_i`` and probabilities ``W_i`` with ``sum_i W_i h(tau_i) ≈ E[h(tau)]`` for every
smooth ``h``, plus a spectrally accurate CDF and its inverse.

Why ``u = log(tau)``: the density of ``u`` is ``f(e^u) e^u``. A posterior of ``tau`` that is
largest at ``tau = 0`` (the uniform prior in the Eight Schools) becomes ``~ e^u`` as
``u -> -inf``, and a power-law tail ``tau^a`` (``a < -1``) becomes ``e^((a+1) u)``: both
decay exponentially, the integrand is smooth, and composite Gauss-Legendre converges
geometrically. A posterior concentrated near ``tau_hat`` (many groups) is a narrow bump in
``u`` and is located first by a coarse scan and Brent's method, so it is never stepped
over.

Steps: (1) scan ``u`` on a coarse grid around the data's scale and refine the mode;
(2) estimate the width ``s`` from the curvature; (3) walk out from the mode until the
log-density is 37 below its maximum (mass beyond ~1e-16) or, above the mode, until the
integrand of the highest finite moment up to ``E[tau^2]`` is (see :func:`_upper_drop`: a
power tail ``tau^a`` makes ``tau^2 p(tau)`` decay more slowly than ``p(tau)``); (4)
composite Gauss-Legendre
with panels of width ``<= s``, doubling the panels until the normalizing constant and
``E[u]`` change by less than ``rtol`` (then the coarser rule, whose error the change
bounds under geometric convergence, is kept). Within each panel the density is represented by its
Legendre interpolant at the nodes; integrating it gives the CDF, and Newton steps on that
CDF invert it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.polynomial import legendre
from scipy.optimize import minimize_scalar

from hbo._warnings import NumericalWarning, warn
from hbo.errors import InvalidArgumentError

_ORDER = 16  # Gauss-Legendre nodes per panel
_DROP = 37.0  # stop where the log-density is this far below its maximum (e^-37 ~ 1e-16)
_SCAN_HALF_WIDTH = 40.0  # coarse scan covers log(scale) +- this, in u
_MAX_PANELS = 2048
_MAX_DROP_FACTOR = 8.0  # the upper walk stops at most 8 * _DROP below the maximum
_X, _W = legendre.leggauss(_ORDER)
_VANDER_INV = np.linalg.inv(legendre.legvander(_X, _ORDER - 1))


@dataclass(frozen=True)
class LogScaleQuadrature:
    """A normalized density of ``tau`` on composite Gauss-Legendre panels in ``log tau``.

    Attributes:
        tau: nodes, shape ``n`` (increasing).
        weights: posterior probabilities of the nodes, shape ``n``, summing to 1.
        density: normalized density ``p(tau_i)`` at the nodes, shape ``n``.
        edges: panel edges in ``u = log tau``, shape ``m + 1``.
        coef: Legendre coefficients of the density of ``u`` in each panel, ``m x order``.
        edge_cdf: CDF at the panel edges, shape ``m + 1``.
    """

    tau: np.ndarray
    weights: np.ndarray
    density: np.ndarray
    edges: np.ndarray
    coef: np.ndarray
    edge_cdf: np.ndarray

    def cdf(self, tau: np.ndarray) -> np.ndarray:
        """``P(tau' <= tau)`` for an array of ``tau`` (any shape)."""
        u = np.log(np.maximum(np.asarray(tau, dtype=float), np.finfo(float).tiny))
        return self._cdf_u(u)

    def quantile(self, q: np.ndarray) -> np.ndarray:
        """Inverse CDF at probabilities ``q`` in ``(0, 1)`` (any shape); Newton steps on ``u``."""
        q = np.asarray(q, dtype=float)
        grid = np.linspace(self.edges[0], self.edges[-1], 64 * (len(self.edges) - 1) + 1)
        u = np.interp(q, self._cdf_u(grid), grid)
        for _ in range(4):
            dens = self._panel_eval(u, self.coef)
            step = (self._cdf_u(u) - q) / np.maximum(dens, 1e-300)
            u = np.clip(u - step, self.edges[0], self.edges[-1])
        return np.exp(u)

    def _cdf_u(self, u: np.ndarray) -> np.ndarray:
        u = np.clip(u, self.edges[0], self.edges[-1])
        k, x, half = self._locate(u)
        integ = legendre.legint(self.coef, lbnd=-1, axis=1)
        inside = _legval_rows(x, integ[k]) * half
        return np.clip(self.edge_cdf[k] + inside, 0.0, 1.0)

    def _panel_eval(self, u: np.ndarray, coef: np.ndarray) -> np.ndarray:
        k, x, _ = self._locate(u)
        return _legval_rows(x, coef[k])

    def _locate(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        m = len(self.edges) - 1
        k = np.clip(np.searchsorted(self.edges, u, side="right") - 1, 0, m - 1)
        half = 0.5 * (self.edges[1] - self.edges[0])
        x = (u - self.edges[k]) / half - 1.0
        return k, x, half


def log_scale_quadrature(
    log_f: Callable[[np.ndarray], np.ndarray],
    scale: float,
    upper: float = np.inf,
    rtol: float = 1e-10,
    tail: float = -np.inf,
) -> LogScaleQuadrature:
    """Normalize ``exp(log_f(tau))`` on ``(0, upper]`` by adaptive quadrature in ``log tau``.

    Args:
        log_f: unnormalized log-density of ``tau``, vectorized over a 1-D array of ``tau > 0``.
        scale: a positive length on the scale of the data (centre of the coarse scan).
        upper: upper end of the support (a bounded uniform prior), or ``inf``.
        rtol: relative tolerance on the normalizing constant and on ``E[log tau]``.
        tail: exponent ``a`` of a power-law tail ``f(tau) ~ tau^a`` (``-inf``: lighter than
            any power); sets how far the upper walk goes (:func:`_upper_drop`).
    """

    def g(u: np.ndarray) -> np.ndarray:
        u = np.asarray(u, dtype=float)
        return np.asarray(log_f(np.exp(u)), dtype=float) + u

    u_top = np.log(upper) if np.isfinite(upper) else np.log(scale) + _SCAN_HALF_WIDTH
    scan = np.arange(np.log(scale) - _SCAN_HALF_WIDTH, u_top, 0.5)
    scan = np.append(scan, u_top)
    g_scan = g(scan)
    if not np.any(np.isfinite(g_scan)):
        raise InvalidArgumentError("the posterior density of tau is zero everywhere it was probed.")
    i = int(np.nanargmax(g_scan))
    lo, hi = scan[max(i - 1, 0)], scan[min(i + 1, len(scan) - 1)]
    best = minimize_scalar(_bounded_loss(g, g_scan[i]), bounds=(lo, hi), method="bounded",
                           options={"xatol": 1e-10})
    u_mode = float(best.x) if -best.fun >= g_scan[i] else float(scan[i])
    g_mode = float(g(np.array([u_mode]))[0])
    width = _width(g, u_mode, g_mode, u_top)
    u_lo = _walk(g, u_mode, g_mode, -width, -np.inf)
    u_hi = _walk(g, u_mode, g_mode, width, u_top, drop=_upper_drop(tail))

    panels = int(np.clip(np.ceil((u_hi - u_lo) / width), 4, _MAX_PANELS // 2))
    previous = _panel_rule(g, g_mode, u_lo, u_hi, panels)
    while True:
        panels *= 2
        current = _panel_rule(g, g_mode, u_lo, u_hi, panels)
        z0, m0 = previous[3], previous[4]
        z1, m1 = current[3], current[4]
        if abs(z1 - z0) <= rtol * z1 and abs(m1 - m0) <= rtol * (1.0 + abs(m1)):
            # geometric convergence: the change bounds the error of the coarser rule
            return _build(*previous)
        if panels >= _MAX_PANELS:
            warn(
                f"quadrature of p(tau | y) reached {panels} panels without meeting rtol={rtol:g} "
                f"(last relative change {abs(z1 - z0) / z1:.2g}).",
                NumericalWarning,
            )
            break
        previous = current
    return _build(*current)


def density_mode(
    log_f: Callable[[np.ndarray], np.ndarray], quad: LogScaleQuadrature, upper: float = np.inf
) -> float:
    """Mode of the density of ``tau`` (not of ``log tau``) that ``quad`` normalizes.

    The node of highest density brackets the mode with its neighbours, and Brent's method
    refines it there (to ``1e-10`` relative). If the density at the lowest node equals the
    highest (to rounding; a density flat near 0, such as the Eight Schools posterior under a
    uniform prior, ties there) it does not increase away from 0 and the mode is the boundary
    ``tau = 0``; if it is highest at the last node of a bounded support, the mode is ``upper``.
    """
    i = int(np.argmax(quad.density))
    if quad.density[0] >= quad.density[i] * (1.0 - 1e-9):
        return 0.0
    if i == len(quad.tau) - 1:
        return float(upper) if np.isfinite(upper) else float(quad.tau[i])
    lo, hi = quad.tau[i - 1], quad.tau[i + 1]
    loss = _bounded_loss(log_f, float(log_f(quad.tau[i : i + 1])[0]))
    best = minimize_scalar(loss, bounds=(lo, hi), method="bounded",
                           options={"xatol": 1e-10 * quad.tau[i]})
    return float(best.x)


def _bounded_loss(log_f: Callable, reference: float) -> Callable[[float], float]:
    """``-log_f`` at a scalar, capped at ``1000 - reference`` so that Brent's parabolic steps
    stay finite where the density is zero (``log_f = -inf``, outside a prior's support)."""

    def loss(v: float) -> float:
        return min(-float(log_f(np.array([v]))[0]), 1e3 - reference)

    return loss


def _width(g: Callable, u_mode: float, g_mode: float, u_top: float) -> float:
    """Width ``1 / sqrt(-g'')`` at the mode, clipped to ``[1e-6, 2]``; 2 if flat or at a bound.

    The second difference is trusted only when its step is below a fifth of the width it
    gives; otherwise the next step is a tenth of that width, so a sharply peaked density
    (a concentrated prior, very many groups) is measured at its own scale, not stepped over.
    """
    step = 1e-2
    for _ in range(8):
        if u_mode + step > u_top:
            return 2.0
        g_pm = g(np.array([u_mode - step, u_mode + step]))
        curv = (g_pm[0] - 2.0 * g_mode + g_pm[1]) / step**2
        if not (np.isfinite(curv) and curv < 0):
            step /= 10.0
            continue
        width = 1.0 / np.sqrt(-curv)
        if width > 5 * step:
            return float(np.clip(width, 1e-6, 2.0))
        step = width / 10.0
    return 2.0


def _upper_drop(tail: float) -> float:
    """How far below its maximum the log-density of ``u`` must fall at the upper cut.

    With ``f(tau) ~ tau^a`` the density of ``u`` decays like ``e^((a+1) u)`` and the
    integrand of ``E[tau^k]`` like ``e^((a+1+k) u)``: for that integrand to fall by
    ``_DROP`` the density must fall by ``_DROP (a+1) / (a+1+k)``. ``k`` is the highest of
    0, 1, 2 whose moment exists; the factor is capped at ``_MAX_DROP_FACTOR`` (a moment that
    barely exists is then approximate; it is also huge).
    """
    if not np.isfinite(tail):
        return _DROP
    k = max((m for m in (0, 1, 2) if tail + 1 + m < 0), default=0)
    return _DROP * min((tail + 1) / (tail + 1 + k), _MAX_DROP_FACTOR)


def _walk(
    g: Callable, u0: float, g0: float, step: float, bound: float, drop: float = _DROP
) -> float:
    """Step out from ``u0`` (growing steps) until ``g < g0 - drop`` or ``bound`` is reached."""
    u = u0
    for _ in range(200):
        u_next = u + step
        if (step > 0 and u_next >= bound) or (step < 0 and u_next <= bound):
            return bound
        u = u_next
        if not g(np.array([u]))[0] > g0 - drop:
            return u
        step *= 1.3
    return u


def _panel_rule(g: Callable, g_mode: float, u_lo: float, u_hi: float, panels: int) -> tuple:
    edges = np.linspace(u_lo, u_hi, panels + 1)
    half = 0.5 * (edges[1] - edges[0])
    nodes = (edges[:-1, None] + half * (_X[None, :] + 1.0)).ravel()
    values = np.exp(g(nodes) - g_mode)
    values[~np.isfinite(values)] = 0.0
    w = np.tile(_W * half, panels)
    z = float(np.sum(w * values))
    mean_u = float(np.sum(w * values * nodes)) / z
    return edges, nodes, values, z, mean_u, w


def _build(edges, nodes, values, z, _mean_u, w) -> LogScaleQuadrature:
    dens_u = (values / z).reshape(len(edges) - 1, _ORDER)
    coef = dens_u @ _VANDER_INV.T
    panel_mass = (w / z * values).reshape(dens_u.shape).sum(axis=1)
    edge_cdf = np.concatenate([[0.0], np.cumsum(panel_mass)])
    tau = np.exp(nodes)
    return LogScaleQuadrature(
        tau=tau,
        weights=w * values / z,
        density=values / z / tau,
        edges=edges,
        coef=coef,
        edge_cdf=edge_cdf,
    )


def _legval_rows(x: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """Evaluate one Legendre series per point: ``x`` shape ``s``, ``coef`` shape ``s x d``."""
    flat_x = np.ravel(x)
    vander = legendre.legvander(flat_x, coef.shape[-1] - 1)
    return np.sum(vander * coef.reshape(len(flat_x), -1), axis=1).reshape(np.shape(x))
