"""Hyperpriors of the hierarchical GP, all on the log scale of the kernel hyperparameters.

For each hyperparameter group (``lengthscale``, ``outputscale``, ``noise`` and, with a
shared function, ``shared_scale``), task ``t`` takes

    log theta_t = m + tau * z_t,   z_t ~ N(0, 1),   m ~ N(loc, scale),   tau ~ HalfNormal(tau_scale)

MAP is taken over the unconstrained parameters ``(m, log tau, z)``: the density of
``log tau`` carries the Jacobian ``tau``, so the mode is interior and the optimizer
never chases ``tau -> 0`` along a ridge (the non-centered form already removes the
centered model's degenerate mode at ``tau = 0``).

Relation to BoTorch's defaults: GPyTorch maximizes a ``LogNormal(mu, s)`` prior in the
natural space of ``theta``, which equals maximizing ``Normal(mu - s^2, s)`` on
``log theta`` (the two objectives differ by a constant). The defaults below are
therefore BoTorch's ``SingleTaskGP`` priors moved to log space: the dimension-scaled
lengthscale prior ``LogNormal(sqrt2 + log(D)/2, sqrt3)`` (Hvarfner et al. 2024) and an
outputscale prior ``LogNormal(1, 1)``; with one task the model is ``SingleTaskGP`` with a
Matern-5/2 kernel and these priors. The noise differs: ``m ~ N(-5, 3)`` on ``log
sigma^2`` (``LogNormal(4, 3)`` in BoTorch's terms) where BoTorch takes ``LogNormal(-4,
1)``, i.e. ``N(-5, 1)``.

Why wider: ``m`` of the noise is the level of a whole family, and families range from
deterministic simulators and benchmark functions (the data put every task at the noise
floor, ``log 1e-6 = -13.8``) to noisy validation losses (``-3`` or above). Under
``N(-5, 1)`` a noiseless family sits 9 prior sd below the location; the posterior then
compromises by raising ``tau`` of the noise instead: sources at the floor, ``m`` near
``-10``, and a target with few points drawn towards ``m``. On the Branin family of
``experiments/transfer_benchmark.py`` (5 target points, 5 x 30 source points) the MAP
fit had ``m = -10.2`` and ``tau = 1.73``; the NUTS posterior put ``tau``'s median at
1.85 and 29% of the target's noise draws above ``e^-8`` (up to ``e^-3``), so the
ensemble was uncertain at the points it had already seen. With ``N(-5, 3)``: MAP ``m =
-14.5``, ``tau = 0.51``; NUTS ``tau`` median 0.30 and every target draw below ``e^-13``.

The spread of every group has ``tau ~ HalfNormal(1)`` except the noise, ``HalfNormal(0.5)``.
Tasks evaluated the same way have similar noise (BoTorch's ``MultiTaskGP`` ties it
completely), and a broad spread lets a task whose function the model fits poorly explain
its misfit as noise: on the Branin family of ``experiments/transfer_benchmark.py`` the
target then took noise variance 0.011 (standardized) against 5e-7 for the sources
(``tau = 4``) and Expected Improvement resampled a poor corner; median regret after 10
evaluations was 0.50 over 10 seeds with ``HalfNormal(1)`` and 0.006 over 5 with
``HalfNormal(0.5)`` (both measured with ``m ~ N(-5, 1)``). A task whose noise truly
differs still gets its own (``tau`` is fitted), at the price of stronger evidence.

The loadings of the shared function (``shared_scale``, ``log a_t^2``) take ``m ~ N(0, 3)``.
``log a_t^2 = 0`` says that ``g`` carries about the data's variance, which holds when
``g``'s lengthscale is comparable to the domain. A smooth trend common to all tasks is
fitted as well by a longer lengthscale with a larger loading (a ridge): on the Branin
family of ``experiments/transfer_benchmark.py`` the MAP fit put the sources' ``log a_t^2``
at 4.5-6, and NUTS runs up the ridge to 8-10. Under ``N(0, 1)`` those loadings sit 5-9
prior sd above ``m``'s location, and the posterior resolved the conflict by inflating
``tau`` of the loadings (NUTS median 3.2-3.6 against the MAP's 0.2-0.4, 4 seeds), which
left the target's loading unpooled (90% interval ``[-1.5, 7.4]`` with 2 target points)
and sent Expected Improvement to a far corner. Over seeds 0-11 with 2 target points,
the full-Bayes proposal then had 1.9 times the MAP's regret (geometric mean); with
``N(0, 3)`` 0.98 times, and 0.98 pooled over the Branin and Hartmann families (72
pairs), while the MAP's own proposals moved by at most 0.094 (median 0.0055 on Branin;
0.0003 and 0.0013 on Hartmann-3 and -6, whose loadings sit near 0)
(``experiments/one_step_proposals.py``; results/one_step_prior1.md and
one_step_proposals.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from torch import Tensor

from hbo._numbers import is_real
from hbo.errors import InvalidArgumentError

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def normal_log_prob(x: Tensor, loc: float | Tensor, scale: float | Tensor) -> Tensor:
    """Sum of ``log N(x; loc, scale^2)`` over all elements of ``x`` (``loc`` and ``scale``
    numbers or tensors broadcastable to ``x``)."""
    return (-0.5 * ((x - loc) / scale) ** 2 - _log(scale) - _LOG_SQRT_2PI).sum()


def half_normal_log_prob_of_log(log_x: Tensor, scale: float | Tensor) -> Tensor:
    """Sum of the log density of ``log x`` when ``x ~ HalfNormal(scale)`` (Jacobian included;
    ``scale`` a number or a tensor broadcastable to ``log_x``)."""
    x = log_x.exp()
    return (-0.5 * (x / scale) ** 2 - _log(scale) + 0.5 * math.log(2 / math.pi) + log_x).sum()


def _log(value: float | Tensor) -> float | Tensor:
    return value.log() if isinstance(value, Tensor) else math.log(value)


def is_finite_number(value: object) -> bool:
    """A real number (not a bool), finite: what a numeric option accepts."""
    return is_real(value) and math.isfinite(value)


@dataclass(frozen=True)
class Hyperprior:
    """Location and scale of ``m`` (a normal on the log scale) and the Half-Normal scale of tau.

    Attributes:
        loc: Prior mean of ``m``; ``None`` for the lengthscale means BoTorch's
            dimension-scaled value ``sqrt2 + log(D)/2 - 3`` (``- 3 = - sqrt3^2``, see above).
        scale: Prior standard deviation of ``m``.
        tau_scale: Scale of the Half-Normal prior on ``tau`` (on the log scale of theta:
            ``tau = 1`` lets tasks differ by a factor ``e`` at one standard deviation).
    """

    loc: float | None
    scale: float
    tau_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.loc is not None and not is_finite_number(self.loc):
            raise InvalidArgumentError(f"Hyperprior loc must be a finite number or None, got "
                                       f"{self.loc!r}")
        for name in ("scale", "tau_scale"):
            value = getattr(self, name)
            if not (is_finite_number(value) and value > 0):
                raise InvalidArgumentError(
                    f"Hyperprior {name} must be a finite number > 0, got {value!r}"
                )

    def location(self, dim: int) -> float:
        if self.loc is not None:
            return self.loc
        return math.sqrt(2.0) + 0.5 * math.log(dim) - 3.0


@dataclass(frozen=True)
class GroupSpec:
    """One hyperparameter group: declared once here, read wherever groups are looped over.

    Attributes:
        name: The group's key in ``hyperpriors``, ``fixed_tau`` and the parameter names
            (``m.<name>``, ``log_tau.<name>``, ``z.<name>``).
        per_input: One value per kernel input dimension (a task's value has shape ``D``)
            instead of one per task (shape ``()``).
        shared_only: Exists only in a model with the shared function ``g``.
        default_prior: Its :class:`Hyperprior` unless one is given (see the module doc).
        meaning: How it enters the covariance, for reports (the formulas are in
            :mod:`hbo.surrogate.hierarchical_gp`).
    """

    name: str
    per_input: bool
    shared_only: bool
    default_prior: Hyperprior
    meaning: str

    def shape(self, dim: int) -> tuple[int, ...]:
        """Shape of one task's value (and of ``m``) for ``dim`` kernel inputs."""
        return (dim,) if self.per_input else ()


#: Noise variance floor (standardized units), added to ``exp(log sigma^2)``.
MIN_NOISE = 1e-6

#: Every hyperparameter group, in the order the model creates their parameters.
GROUP_SPECS = (
    GroupSpec(name="lengthscale", per_input=True, shared_only=False,
              default_prior=Hyperprior(loc=None, scale=math.sqrt(3.0)),
              meaning="how far apart inputs stay correlated"),
    GroupSpec(name="outputscale", per_input=False, shared_only=False,
              default_prior=Hyperprior(loc=0.0, scale=1.0),
              meaning="signal variance s_t^2"),
    # tighter spread: tasks evaluated alike have similar noise (MultiTaskGP ties it), and
    # a task whose fit is poor must not explain its misfit away as noise
    GroupSpec(name="noise", per_input=False, shared_only=False,
              default_prior=Hyperprior(loc=-5.0, scale=3.0, tau_scale=0.5),
              meaning="noise variance sigma_t^2"),
    # log of the per-task loading a_t^2 of the shared function g (see HierarchicalGP);
    # wide: a long lengthscale of g needs a large loading (a ridge, see above)
    GroupSpec(name="shared_scale", per_input=False, shared_only=True,
              default_prior=Hyperprior(loc=0.0, scale=3.0),
              meaning="loading a_t^2 of the shared function"),
)
GROUP_SPEC = {spec.name: spec for spec in GROUP_SPECS}
#: Names of every group (accepted by ``hyperpriors`` and ``fixed_tau``).
GROUPS = tuple(GROUP_SPEC)


def model_groups(shared_function: bool) -> tuple[str, ...]:
    """Names of the groups of a model with or without the shared function ``g``."""
    return tuple(s.name for s in GROUP_SPECS if shared_function or not s.shared_only)


def default_hyperpriors() -> dict[str, Hyperprior]:
    """The default hyperprior of every group (see the module docstring)."""
    return {spec.name: spec.default_prior for spec in GROUP_SPECS}


def check_hyperpriors(hyperpriors: Mapping[str, Hyperprior] | None) -> dict[str, Hyperprior]:
    """The default hyperpriors with ``hyperpriors`` (group -> :class:`Hyperprior`) in place.

    Raises:
        InvalidArgumentError: not a mapping, a group not in ``GROUPS``, or a value that is
            not a Hyperprior.
    """
    if hyperpriors is None:
        return default_hyperpriors()
    if not isinstance(hyperpriors, Mapping):
        raise InvalidArgumentError(
            f"hyperpriors must be a dict of group name -> hbo.surrogate.Hyperprior, got "
            f"{type(hyperpriors).__name__}"
        )
    check_group_names(hyperpriors, GROUPS, "hyperpriors")
    for group, prior in hyperpriors.items():
        if not isinstance(prior, Hyperprior):
            raise InvalidArgumentError(
                f"hyperpriors[{group!r}] must be an hbo.surrogate.Hyperprior(loc, scale, "
                f"tau_scale), got {type(prior).__name__}"
            )
    return {**default_hyperpriors(), **hyperpriors}


def check_group_names(names: Iterable[str], groups: Sequence[str], argument: str) -> None:
    """Raise InvalidArgumentError naming ``argument`` if a name is not one of ``groups``."""
    unknown = sorted(set(names) - set(groups), key=str)
    if unknown:
        raise InvalidArgumentError(f"{argument}: unknown groups {unknown}; accepted: "
                                   f"{list(groups)}")

