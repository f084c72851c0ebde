"""Hierarchical two-parameter logistic (2PL) item response model, students nested in countries.

Model (Birnbaum 1968; the hierarchical form follows Fox 2010, "Bayesian Item Response
Modeling", doi:10.1007/978-1-4419-0742-4, and Furr's Stan case study "Hierarchical two-parameter
logistic item response model", https://mc-stan.org/learn-stan/case-studies/hierarchical_2pl.html),
for responses ``y_n`` in {0, 1} of student ``i[n]`` to item ``j[n]``, student ``i`` in country
``c[i]``:

    P(y_n = 1) = logistic(a_j (theta_i - b_j))
    theta_i ~ N(mu_c, sigma_c^2)          ability; sigma_c ~ Half-Normal(0, sigma_scale)
    mu = tau S_C w, w ~ N(0, I_{C-1})     country means, partially pooled, sum to zero
    b_j ~ N(mu_b, sigma_b^2)               difficulty; mu_b ~ N(0, 2^2), sigma_b ~ Half-Normal
    log a = sigma_a S_J v, v ~ N(0, I_{J-1})   discrimination; sigma_a ~ Half-Normal
    tau ~ Half-Normal(0, tau_scale)

with ``S_K`` (``K x (K - 1)``) the scaled sum-to-zero basis below.

Identification. The 2PL likelihood is unchanged by ``theta -> k theta + l``,
``b -> k b + l``, ``a -> a / k``. The location is fixed by making the country means sum to
zero (the average country has mean ability 0), the scale by making the log discriminations
sum to zero (the geometric-mean item has discrimination 1), as PISA fixes the scale on a
reference population. Hard constraints, not soft ones: with only the priors pinning them
(``mu_c ~ N(0, tau^2)`` without the constraint) the common shift of abilities and
difficulties is a ridge of width ``tau / sqrt(C)`` that NUTS crosses slowly (R-hat 1.06 on
``mu_b`` in a short run).

Sum-to-zero levels (:func:`sum_to_zero_basis`). A ``K``-vector that sums to zero has ``K - 1``
free coordinates: ``x = sqrt(K / (K - 1)) Q w``, ``Q`` (``K x (K - 1)``) an orthonormal basis
of ``{x : sum_k x_k = 0}`` (Helmert's), so every latent is identified. (Subtracting the mean
of ``K`` free parameters, the earlier form, leaves their mean a direction the likelihood
never sees; the chains drifted along it: R-hat 1.02 on the raw country means and on
``sigma_country`` after 4 x 400 draws.) With ``w ~ N(0, s^2 I)``,
``Q w ~ N(0, s^2 (I - 11^T / K))``: each component has variance ``s^2 (K - 1) / K`` and any
two have correlation ``-1 / (K - 1)``; this is Stan's ``sum_to_zero_vector`` (Stan Reference
Manual, "Zero sum vector" transform). The factor ``sqrt(K / (K - 1))`` makes each
component's marginal ``N(0, s^2)``, so ``tau`` and ``sigma_a`` are the SDs of one country
mean and of one log discrimination, as in the unconstrained hierarchy. The map is a scaled
isometry (constant Jacobian), so the density of ``w`` is that of ``x`` on the subspace.

Parameterizations, per level: non-centered samples standardized ``z`` (``w = tau z_country``,
``theta_i = mu_c + sigma_c z_i``, ``b_j = mu_b + sigma_b z_j``, ``v = sigma_a z_a``);
centered samples ``w`` (site ``mu_country_free``), ``theta_i``, ``b_j``, ``v`` (site
``log_a_free``) themselves. The free coordinates of the sum-to-zero levels have ``K - 1``
entries (ArviZ dimensions ``country_free`` and ``item_free``). A level with much data per
group is better centered, one with little data non-centered (Betancourt & Girolami 2015,
arXiv:1312.0906).

The likelihood is one vectorized Bernoulli-logit over the students x items grid,
``a[..., None, :] * (theta[..., :, None] - b[..., None, :])``, so it broadcasts over a
leading batch dimension.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyro
import pyro.distributions as dist
import torch

from hbo.errors import InvalidArgumentError, InvalidDataError
from hbo.hierarchy.models._base import (
    DTYPE,
    HierarchicalModel,
    as_tensor,
    index_codes,
    normal,
)

#: Name of the standardized site behind each normal level in the non-centered form.
_Z_NAMES = {"mu_country": "z_country", "theta": "z_theta", "b": "z_b", "log_a": "z_a"}
_LEVEL_OF = {"mu_country": "country", "theta": "student", "b": "item", "log_a": "item"}


def sum_to_zero_basis(k: int) -> torch.Tensor:
    """``S = sqrt(k / (k - 1)) Q``, ``k x (k - 1)``: ``Q``'s columns are the orthonormal
    Helmert contrasts, column ``m`` (0-based) equal to ``1 / sqrt((m + 1)(m + 2))`` on rows
    ``0..m``, ``-(m + 1) / sqrt((m + 1)(m + 2))`` on row ``m + 1`` and 0 below. ``S w`` sums to
    zero for every ``w`` and, for ``w ~ N(0, s^2 I)``, each of its components is ``N(0, s^2)``
    (module docstring). Needs ``k >= 2``."""
    m = torch.arange(1, k, dtype=DTYPE)
    rows = torch.arange(k, dtype=DTYPE)[:, None]
    q = torch.where(rows < m, 1.0, torch.where(rows == m, -m, 0.0)) / torch.sqrt(m * (m + 1))
    return q * math.sqrt(k / (k - 1))


def _half_normal(scale: float) -> dist.HalfNormal:
    return dist.HalfNormal(torch.tensor(float(scale), dtype=DTYPE))


class IRT2PL(HierarchicalModel):
    """Hierarchical 2PL: students' abilities pooled within countries, countries' means pooled.

    Use it for test data of many students answering the same items in several groups
    (countries, schools): it reports item difficulties ``b`` and discriminations ``a``,
    country means ``mu_country`` and spreads ``sigma_country``, and every student's
    ``theta``. Data are in long format, one row per answered (student, item) pair;
    missing responses are simply absent rows. Internally the responses are laid out on the
    full ``students x items`` grid (flattened row-major: the observed site ``correct`` has
    ``S * J`` entries, unanswered cells masked out of the likelihood).

    Args:
        correct: responses in {0, 1}, shape ``N``.
        student: student label of each response, shape ``N``.
        item: item label of each response, shape ``N``.
        country: country label of each response, shape ``N``; constant within a student.
        centered: which levels to sample directly rather than as ``loc + scale z``: a subset
            of ``("country", "item", "student")``, or True / False for all / none. The
            default centres the levels with much data per group (every student answers every
            item: hundreds of answers per item and country) and not the students (tens of
            answers each). Non-centered items with informative data tie ``mu_b`` to every
            ``z_j`` (``b_j`` fixed means ``z_j = (b_j - mu_b) / sigma_b``), a ridge
            (R-hat(mu_b) = 1.04 after 2 x 300 draws on the test's data set).
        tau_scale, sigma_scale, sigma_b_scale, sigma_a_scale: Half-Normal scales of the SD of
            country means, the within-country SDs, the SD of difficulties and the SD of log
            discriminations.
    """

    def __init__(
        self,
        correct: Sequence[int],
        student: Sequence,
        item: Sequence,
        country: Sequence,
        *,
        centered: bool | Collection[str] = ("country", "item"),
        tau_scale: float = 1.0,
        sigma_scale: float = 1.0,
        sigma_b_scale: float = 1.0,
        sigma_a_scale: float = 0.5,
    ) -> None:
        y = as_tensor(correct, "correct")
        if not ((y == 0) | (y == 1)).all():
            raise InvalidDataError("correct must contain only 0 and 1")
        n = len(y)
        for name, v in (("student", student), ("item", item), ("country", country)):
            if len(v) != n:
                raise InvalidDataError(f"{name} has {len(v)} labels for {n} responses")
        scales = dict(tau_scale=tau_scale, sigma_scale=sigma_scale,
                      sigma_b_scale=sigma_b_scale, sigma_a_scale=sigma_a_scale)
        for name, v in scales.items():
            if not v > 0:
                raise InvalidArgumentError(f"{name} must be > 0, got {v}")
        student_idx, students = index_codes(student, "student")
        item_idx, items = index_codes(item, "item")
        country_idx, countries = index_codes(country, "country")
        for name, labels in (("item", items), ("country", countries)):
            if len(labels) < 2:  # a sum-to-zero level of one group is the constant 0
                raise InvalidDataError(f"{name} needs at least 2 distinct labels, got {labels}")
        frame = pd.DataFrame({"s": student_idx.numpy(), "c": country_idx.numpy()})
        per_student = frame.groupby("s")["c"].agg(["min", "max"])
        if (per_student["min"] != per_student["max"]).any():
            bad = students[int(per_student.index[per_student["min"] != per_student["max"]][0])]
            raise InvalidDataError(f"student {bad!r} appears in more than one country")
        self.country_of_student = torch.tensor(per_student["min"].to_numpy(), dtype=torch.long)
        cell = student_idx * len(items) + item_idx
        if len(torch.unique(cell)) != n:
            raise InvalidDataError("a (student, item) pair has more than one response")
        dense = torch.zeros(len(students) * len(items), dtype=DTYPE)
        dense[cell] = y
        self.answered = None
        if n < len(dense):
            self.answered = torch.zeros(len(dense), dtype=torch.bool)
            self.answered[cell] = True
        levels = {"country", "item", "student"}
        chosen = levels if centered is True else set() if centered is False else set(centered)
        if not chosen <= levels:
            raise InvalidArgumentError(
                f"centered must be a bool or a subset of {sorted(levels)}, got {centered!r}"
            )
        self.centered = chosen
        self.scales = scales
        self.observed = {"correct": dense}
        self.coords = {"student": students, "item": items, "country": countries}
        self.dims = {
            "theta": ["student"], "z_theta": ["student"],
            "b": ["item"], "z_b": ["item"], "log_a": ["item"], "z_a": ["item_free"],
            "a": ["item"],
            "mu_country": ["country"], "sigma_country": ["country"],
            "z_country": ["country_free"], "mu_country_free": ["country_free"],
            "log_a_free": ["item_free"],
        }
        self.coords.update(country_free=list(range(len(countries) - 1)),
                           item_free=list(range(len(items) - 1)))
        self._basis = {"mu_country": sum_to_zero_basis(len(countries)),
                       "log_a": sum_to_zero_basis(len(items))}

    def _level(self, name: str, loc: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """``name ~ N(loc, scale^2)`` along the current plate, sampled directly (centered)
        or as ``loc + scale z``."""
        if _LEVEL_OF[name] in self.centered:
            return pyro.sample(name, dist.Normal(loc, scale))
        z = pyro.sample(_Z_NAMES[name], normal(0.0, 1.0))
        return pyro.deterministic(name, loc + scale * z, event_dim=0)

    def _sum_to_zero_level(self, name: str, scale: torch.Tensor,
                           plate: pyro.plate) -> torch.Tensor:
        """``name = S w`` (``K`` entries summing to zero) with ``K - 1`` free ``w ~ N(0,
        scale^2)``, sampled directly (site ``<name>_free``) or as ``w = scale z``; ``plate``
        is the level's plate of ``K`` groups."""
        basis, level = self._basis[name], _LEVEL_OF[name]
        with pyro.plate(f"{level}_free", basis.shape[1], dim=-1):
            if level in self.centered:
                w = pyro.sample(f"{name}_free", dist.Normal(torch.zeros_like(scale), scale))
            else:
                w = scale * pyro.sample(_Z_NAMES[name], normal(0.0, 1.0))
        with plate:
            return pyro.deterministic(name, w @ basis.T, event_dim=0)

    def model(self) -> None:
        s = self.scales
        tau = pyro.sample("tau", _half_normal(s["tau_scale"]))
        mu_b = pyro.sample("mu_b", normal(0.0, 2.0))
        sigma_b = pyro.sample("sigma_b", _half_normal(s["sigma_b_scale"]))
        sigma_a = pyro.sample("sigma_a", _half_normal(s["sigma_a_scale"]))
        countries = pyro.plate("country", len(self.coords["country"]), dim=-1)
        items = pyro.plate("item", len(self.coords["item"]), dim=-1)
        mu_c = self._sum_to_zero_level("mu_country", tau, countries)
        log_a = self._sum_to_zero_level("log_a", sigma_a, items)
        with countries:
            sigma_c = pyro.sample("sigma_country", _half_normal(s["sigma_scale"]))
        with items:
            a = pyro.deterministic("a", torch.exp(log_a), event_dim=0)
            b = self._level("b", mu_b, sigma_b)
        with pyro.plate("student", len(self.coords["student"]), dim=-1):
            c = self.country_of_student
            theta = self._level("theta", mu_c[..., c], sigma_c[..., c])
        # student x item grid, flattened row-major: broadcasting instead of gathers, whose
        # backward (index_add) dominated the cost of the potential
        logits = a[..., None, :] * (theta[..., :, None] - b[..., None, :])
        logits = logits.reshape(*logits.shape[:-2], -1)
        y = dist.Bernoulli(logits=logits)
        if self.answered is not None:
            y = y.mask(self.answered)
        with pyro.plate("response", len(self.observed["correct"]), dim=-1):
            pyro.sample("correct", y, obs=self.observed["correct"])


@dataclass(frozen=True)
class IRTTruth:
    """Parameters behind a simulated test: country means and SDs, item difficulties and
    discriminations, student abilities (indexed as the labels ``0..K-1``)."""

    mu_country: np.ndarray
    sigma_country: np.ndarray
    b: np.ndarray
    a: np.ndarray
    theta: np.ndarray


def simulate_irt(
    n_countries: int = 20,
    n_students: int = 100,
    n_items: int = 30,
    seed: int = 20261126,
    *,
    tau: float = 0.5,
    sigma_range: tuple[float, float] = (0.7, 1.2),
    mu_b: float = 0.0,
    sigma_b: float = 1.0,
    sigma_a: float = 0.3,
) -> tuple[pd.DataFrame, IRTTruth]:
    """A PISA-like test: every student of every country answers every item.

    Truth is drawn from the model with the hyperparameters given: country means ``mu_c``
    summing to zero, each ``N(0, tau^2)``, ``sigma_c ~ U(sigma_range)``,
    ``theta ~ N(mu_c, sigma_c^2)``, ``b ~ N(mu_b, sigma_b^2)``, log discriminations summing
    to zero, each ``N(0, sigma_a^2)`` (the model's identifying constraints).

    Returns:
        ``(data, truth)``: ``data`` has columns ``student``, ``item``, ``country`` (integer
        labels from 0) and ``correct``, one row per response
        (``n_countries * n_students * n_items`` rows).
    """
    for name, v, lo in (("n_countries", n_countries, 2), ("n_students", n_students, 1),
                        ("n_items", n_items, 2)):
        if v < lo:
            raise InvalidArgumentError(f"{name} must be >= {lo}, got {v}")
    rng = np.random.default_rng(seed)
    # centring K iid N(0, s^2) draws gives N(0, s^2 (I - 11^T / K)); the factor makes each
    # component N(0, s^2), the law of the model's sum_to_zero_basis(K) w, w ~ N(0, s^2 I)
    mu_c = rng.normal(0.0, tau, n_countries)
    mu_c = (mu_c - mu_c.mean()) * np.sqrt(n_countries / (n_countries - 1))
    sigma_c = rng.uniform(*sigma_range, n_countries)
    country = np.repeat(np.arange(n_countries), n_students)
    theta = rng.normal(mu_c[country], sigma_c[country])
    b = rng.normal(mu_b, sigma_b, n_items)
    log_a = rng.normal(0.0, sigma_a, n_items)
    a = np.exp((log_a - log_a.mean()) * np.sqrt(n_items / (n_items - 1)))
    s_idx, j_idx = np.meshgrid(np.arange(len(theta)), np.arange(n_items), indexing="ij")
    s_idx, j_idx = s_idx.ravel(), j_idx.ravel()
    p = 1.0 / (1.0 + np.exp(-a[j_idx] * (theta[s_idx] - b[j_idx])))
    data = pd.DataFrame({
        "student": s_idx, "item": j_idx, "country": country[s_idx],
        "correct": (rng.random(len(p)) < p).astype(int),
    })
    return data, IRTTruth(mu_c, sigma_c, b, a, theta)
