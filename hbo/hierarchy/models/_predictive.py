"""Pointwise log-likelihood, posterior predictive and prior draws of a pyro model, vectorized.

ArviZ's model comparison and predictive checks need, besides the posterior draws
``theta^(s)``, ``s = 1..S``:

- ``log_likelihood``: ``log p(y_i | theta^(s))`` for every observation ``i`` (an ``S x N``
  matrix per observed site), what PSIS-LOO (Vehtari, Gelman & Gabry 2017,
  doi:10.1007/s11222-016-9696-4) and WAIC (Watanabe 2010, JMLR 11:3571) take;
- ``posterior_predictive``: ``y_rep^(s) ~ p(y | theta^(s))``, replicated data of the
  observed shape (BDA3 §6.3);
- ``prior`` and ``prior_predictive``: ``theta^(s) ~ p(theta)`` and ``y^(s) ~ p(y | theta^(s))``
  (BDA3 §6.3; Gabry et al. 2019, doi:10.1111/rssa.12378, "prior predictive checks").

All three come from the model's own pyro program: an observed site's distribution, written
once in ``model()``, gives its log-density (``fn.log_prob(y)``) and its predictive draw
(``fn.sample()``), so a model defines neither twice. The program runs once per chunk of
draws under an outer ``pyro.plate`` of the chunk's size, left of every plate of the model
(as :class:`pyro.infer.Predictive` with ``parallel=True``), so every model of
:mod:`hbo.hierarchy.models`, which must broadcast over a leading batch dimension, is
evaluated for all draws of a chunk in one vectorized pass.

Observed sites must be scalar per observation (``event_dim`` 0: a Normal, Bernoulli,
Binomial or Poisson per entry, not one multivariate draw). A site with a mask
(``dist.mask`` / ``poutine.mask``, e.g. IRT's unanswered cells of the response grid)
contributes only its unmasked entries: :func:`observation_mask` says which.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from pyro.poutine.util import site_is_subsample

from hbo.errors import InvalidArgumentError

#: Name of the outer plate over draws; no model may use it.
DRAWS_PLATE = "_hbo_draws"
#: Elements (draws x observations) evaluated at once: bounds the memory of one pass.
CHUNK_ELEMENTS = 2**22


def _trace(fn: Callable[[], None]) -> poutine.Trace:
    return poutine.trace(fn).get_trace()


def _structure(fn: Callable[[], None]) -> poutine.Trace:
    """A trace read for the model's sites and shapes only: its random draws are thrown away
    and torch's generator is left as it was (the caller's random stream is the caller's)."""
    with torch.random.fork_rng(devices=[]):
        return _trace(fn)


def _sample_sites(tr: poutine.Trace) -> Iterator[tuple[str, dict]]:
    for name, site in tr.nodes.items():
        if site["type"] == "sample" and not site_is_subsample(site):
            yield name, site


def plate_nesting(model: Callable[[], None]) -> int:
    """How many batch dimensions the plates of ``model`` use (``-min dim``; 0 without
    plates). Batch dimensions beyond them belong to a site's own distribution."""
    dims = [f.dim for _, s in _sample_sites(_structure(model)) for f in s["cond_indep_stack"]
            if f.dim is not None]
    return -min(dims, default=0)


def check_plates(model: Callable[[], None]) -> None:
    """Raise :class:`InvalidArgumentError` for a site whose event dimensions overlap a plate
    it is in: the classic ``pyro.deterministic(name, value)`` inside a plate without
    ``event_dim=0`` (pyro then takes every dimension of ``value`` as an event dimension,
    and under an outer plate of draws the site's shape doubles)."""
    for name, site in _sample_sites(_structure(model)):
        event_dim = site["fn"].event_dim
        for f in site["cond_indep_stack"]:
            if f.dim is not None and -f.dim <= event_dim:
                raise InvalidArgumentError(
                    f"site {name!r} is inside plate {f.name!r} (dim {f.dim}) but has "
                    f"event_dim {event_dim}, so the plate's dimension counts as an event "
                    "dimension; inside a plate write pyro.deterministic(name, value, "
                    "event_dim=0) (or the right event_dim for vector-valued entries)"
                )


def improper_sites(model: Callable[[], None]) -> list[str]:
    """Latent sites of ``model`` with an improper prior (``dist.ImproperUniform``): their
    'draws' are placeholders, so no prior draw of the model is a draw from its prior."""
    tr = _structure(poutine.uncondition(model))
    return [n for n, s in _sample_sites(tr) if isinstance(s["fn"], dist.ImproperUniform)]


def observation_mask(model: Callable[[], None], observed: dict[str, torch.Tensor]
                     ) -> dict[str, torch.Tensor | None]:
    """Per observed site, the boolean mask (shape of the data) of the entries that enter the
    likelihood, or ``None`` where all do."""
    tr = _structure(model)
    masks = {}
    for name in observed:
        site = tr.nodes.get(name)
        if site is None or not site["is_observed"]:
            raise InvalidArgumentError(f"{name!r} is in observed but model() has no "
                                       f"pyro.sample({name!r}, ..., obs=...) site")
        fn = site["fn"]
        mask = torch.ones(site["value"].shape, dtype=torch.bool)
        for m in (site["mask"], getattr(fn, "_mask", None)):
            if m is not None and not isinstance(m, bool):
                mask = mask & torch.as_tensor(m, dtype=torch.bool).expand(mask.shape)
            elif m is False:
                mask = torch.zeros_like(mask)
        masks[name] = None if bool(mask.all()) else mask
    return masks


def _over_draws(model: Callable[[], None], n: int, nesting: int) -> Callable[[], None]:
    def batched() -> None:
        with pyro.plate(DRAWS_PLATE, n, dim=-nesting - 1):
            model()

    return batched


def _shaped(draws: dict[str, torch.Tensor], n: int, nesting: int,
            event_dims: dict[str, int]) -> dict[str, torch.Tensor]:
    """Draws ``n x site shape`` as the batched program holds them: ``n``, then ones up to the
    plates' depth, then the site's shape, its event dimensions rightmost (pyro's
    ``Predictive`` pads as if every dimension were a batch one, which misplaces a site with
    an event shape, such as a whole AR(1) path)."""
    return {k: v.reshape((n,) + (1,) * (nesting - (v.ndim - 1 - event_dims[k])) + v.shape[1:])
            for k, v in draws.items()}


def _chunks(n: int, per_draw: int) -> Iterator[slice]:
    size = max(1, CHUNK_ELEMENTS // max(per_draw, 1))
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def pointwise(
    model: Callable[[], None],
    observed: dict[str, torch.Tensor],
    draws: dict[str, torch.Tensor],
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """``log p(y_i | theta^(s))`` and ``y_rep^(s) ~ p(y | theta^(s))`` of every observed site.

    Args:
        model: the pyro program, observed sites conditioned on ``observed``.
        observed: site name -> data tensor (its shape: the observation shape ``O``).
        draws: every latent site the program samples -> ``S x site shape`` values.

    Returns:
        ``(log_likelihood, predictive)``: site name -> ``S x O`` tensors (masked entries, see
        :func:`observation_mask`, hold log-likelihood 0 and an arbitrary predictive draw).
    """
    n = len(next(iter(draws.values())))
    nesting = plate_nesting(model)
    event_dims = {k: s["fn"].event_dim for k, s in _sample_sites(_structure(model))}
    per_draw = sum(v.numel() for v in observed.values())
    loglik = {k: [] for k in observed}
    predictive = {k: [] for k in observed}
    for part in _chunks(n, per_draw):
        size = part.stop - part.start
        values = _shaped({k: v[part] for k, v in draws.items()}, size, nesting, event_dims)
        replicated = poutine.uncondition(_over_draws(model, size, nesting))
        with torch.no_grad():
            tr = _trace(poutine.condition(replicated, values))
        for k, y in observed.items():
            site = tr.nodes[k]  # its fn's batch shape: draws, ones, observation shape
            if site["fn"].event_dim != 0:
                raise InvalidArgumentError(
                    f"observed site {k!r} has event_dim {site['fn'].event_dim}; the pointwise "
                    "log-likelihood needs one scalar distribution per observation"
                )
            shape, batch = (size, *y.shape), site["fn"].batch_shape
            loglik[k].append(site["fn"].log_prob(y).expand(batch).reshape(shape))
            predictive[k].append(site["value"].expand(batch).reshape(shape))
    return ({k: torch.cat(v) for k, v in loglik.items()},
            {k: torch.cat(v) for k, v in predictive.items()})


def prior(model: Callable[[], None], n: int) -> dict[str, torch.Tensor]:
    """``n`` joint draws from the prior and prior predictive: every sample site (latent,
    deterministic and observed) -> ``n x site shape``. Raises :class:`InvalidArgumentError`
    for a model with an improper prior (:func:`improper_sites`)."""
    improper = improper_sites(model)
    if improper:
        raise InvalidArgumentError(
            f"prior draws need proper priors; the model has flat priors on {improper}: give "
            "them a proper prior (e.g. mu_prior=(0, 5)), or ask for no prior draws"
        )
    nesting = plate_nesting(model)
    shapes = {k: s["value"].shape for k, s in _sample_sites(_structure(model))}
    per_draw = sum(max(1, torch.Size(s).numel()) for s in shapes.values())
    out = {k: [] for k in shapes}
    for part in _chunks(n, per_draw):
        size = part.stop - part.start
        with torch.no_grad():
            tr = _trace(poutine.uncondition(_over_draws(model, size, nesting)))
        for k, shape in shapes.items():
            site = tr.nodes[k]
            out[k].append(site["value"].expand(site["fn"].batch_shape + site["fn"].event_shape)
                          .reshape(size, *shape))
    return {k: torch.cat(v) for k, v in out.items()}
