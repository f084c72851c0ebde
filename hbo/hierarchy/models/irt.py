"""Hierarchical two-parameter logistic (2PL) item response model, students nested in countries.

Model (Birnbaum 1968; the hierarchical form follows Fox 2010, "Bayesian Item Response
Modeling", doi:10.1007/978-1-4419-0742-4, and Furr's Stan case study "Hierarchical two-parameter
logistic item response model", https://mc-stan.org/learn-stan/case-studies/hierarchical_2pl.html),
for responses ``y_n`` in {0, 1} of student ``i[n]`` to item ``j[n]``, student ``i`` in country
``c[i]``:

    P(y_n = 1) = logistic(a_j (theta_i - b_j))
    theta_i ~ N(mu_c, sigma_c^2)          ability; sigma_c ~ Half-Normal(0, sigma_scale)
    mu_c = u_c - mean(u), u_c ~ N(0, tau^2)          country means, partially pooled
    b_j ~ N(mu_b, sigma_b^2)               difficulty; mu_b ~ N(0, 2^2), sigma_b ~ Half-Normal
    log a_j = v_j - mean(v), v_j ~ N(0, sigma_a^2)   discrimination; sigma_a ~ Half-Normal
    tau ~ Half-Normal(0, tau_scale)

Identification. The 2PL likelihood is unchanged by ``theta -> k theta + l``,
``b -> k b + l``, ``a -> a / k``. The location is fixed by making the country means sum to
zero (the average country has mean ability 0), the scale by making the log discriminations
sum to zero (the geometric-mean item has discrimination 1), as PISA fixes the scale on a
reference population. Hard constraints, not soft ones: with only the priors pinning them
(``mu_c ~ N(0, tau^2)`` without the centring) the common shift of abilities and difficulties
is a ridge of width ``tau / sqrt(C)`` that NUTS crosses slowly (R-hat 1.06 on ``mu_b`` in a
short run).

Parameterizations, per level: non-centered samples standardized ``z`` (``u_c = tau z_c``,
``theta_i = mu_c + sigma_c z_i``, ``b_j = mu_b + sigma_b z_j``, ``v_j = sigma_a z_j``);
centered samples ``u_c`` (site ``mu_country_raw``), ``theta_i``, ``b_j``, ``v_j`` (site
``log_a_raw``) themselves. A level with much data per group is better centered, one with
little data non-centered (Betancourt & Girolami 2015, arXiv:1312.0906).

The likelihood is one vectorized Bernoulli-logit over the students x items grid,
``a[..., None, :] * (theta[..., :, None] - b[..., None, :])``, so it broadcasts over a
leading batch dimension.
"""

from __future__ import annotations

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
        y = as_tensor(np.array(correct), "correct")  # a copy: pandas may hand read-only data
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
            "b": ["item"], "z_b": ["item"], "log_a": ["item"], "z_a": ["item"], "a": ["item"],
            "mu_country": ["country"], "z_country": ["country"], "sigma_country": ["country"],
            "mu_country_raw": ["country"], "log_a_raw": ["item"],
        }

    def _level(self, name: str, loc: torch.Tensor, scale: torch.Tensor,
               sum_to_zero: bool = False) -> torch.Tensor:
        """``name ~ N(loc, scale^2)`` sampled directly (centered) or as ``loc + scale z``,
        then shifted to mean zero along the plate if ``sum_to_zero``."""
        raw_name = f"{name}_raw" if sum_to_zero else name
        if _LEVEL_OF[name] in self.centered:
            value = pyro.sample(raw_name, dist.Normal(loc, scale))
            if not sum_to_zero:
                return value
        else:
            value = loc + scale * pyro.sample(_Z_NAMES[name], normal(0.0, 1.0))
        if sum_to_zero:
            value = value - value.mean(-1, keepdim=True)
        return pyro.deterministic(name, value, event_dim=0)

    def model(self) -> None:
        s = self.scales
        tau = pyro.sample("tau", _half_normal(s["tau_scale"]))
        mu_b = pyro.sample("mu_b", normal(0.0, 2.0))
        sigma_b = pyro.sample("sigma_b", _half_normal(s["sigma_b_scale"]))
        sigma_a = pyro.sample("sigma_a", _half_normal(s["sigma_a_scale"]))
        with pyro.plate("country", len(self.coords["country"]), dim=-1):
            sigma_c = pyro.sample("sigma_country", _half_normal(s["sigma_scale"]))
            mu_c = self._level("mu_country", torch.zeros_like(tau), tau, sum_to_zero=True)
        with pyro.plate("item", len(self.coords["item"]), dim=-1):
            b = self._level("b", mu_b, sigma_b)
            log_a = self._level("log_a", torch.zeros_like(sigma_a), sigma_a, sum_to_zero=True)
            a = pyro.deterministic("a", torch.exp(log_a), event_dim=0)
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

    Truth is drawn from the model with the hyperparameters given: ``mu_c ~ N(0, tau^2)``
    shifted to mean 0, ``sigma_c ~ U(sigma_range)``, ``theta ~ N(mu_c, sigma_c^2)``,
    ``b ~ N(mu_b, sigma_b^2)``, ``log a ~ N(0, sigma_a^2)`` shifted to mean 0 (the model's
    identifying constraints).

    Returns:
        ``(data, truth)``: ``data`` has columns ``student``, ``item``, ``country`` (integer
        labels from 0) and ``correct``, one row per response
        (``n_countries * n_students * n_items`` rows).
    """
    for name, v in (("n_countries", n_countries), ("n_students", n_students),
                    ("n_items", n_items)):
        if v < 1:
            raise InvalidArgumentError(f"{name} must be >= 1, got {v}")
    rng = np.random.default_rng(seed)
    mu_c = rng.normal(0.0, tau, n_countries)
    mu_c -= mu_c.mean()
    sigma_c = rng.uniform(*sigma_range, n_countries)
    country = np.repeat(np.arange(n_countries), n_students)
    theta = rng.normal(mu_c[country], sigma_c[country])
    b = rng.normal(mu_b, sigma_b, n_items)
    log_a = rng.normal(0.0, sigma_a, n_items)
    a = np.exp(log_a - log_a.mean())
    s_idx, j_idx = np.meshgrid(np.arange(len(theta)), np.arange(n_items), indexing="ij")
    s_idx, j_idx = s_idx.ravel(), j_idx.ravel()
    p = 1.0 / (1.0 + np.exp(-a[j_idx] * (theta[s_idx] - b[j_idx])))
    data = pd.DataFrame({
        "student": s_idx, "item": j_idx, "country": country[s_idx],
        "correct": (rng.random(len(p)) < p).astype(int),
    })
    return data, IRTTruth(mu_c, sigma_c, b, a, theta)
