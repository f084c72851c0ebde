"""FlatPotential: the compiled potential energy and gradient equal pyro's own, per model."""

import pytest
import torch
from pyro.infer.mcmc.util import initialize_model

from hbo.errors import InvalidArgumentError
from hbo.hierarchy.models import (
    IRT2PL,
    EightSchools,
    StochasticVolatility,
    simulate_irt,
    simulate_returns,
)
from hbo.hierarchy.models._potential import FLAT, FlatPotential


def _irt(missing: float = 0.0):
    data, _ = simulate_irt(3, 4, 5)
    data = data.sample(frac=1.0 - missing, random_state=0)
    return IRT2PL(data["correct"], data["student"], data["item"], data["country"])


MODELS = {
    "eight_schools_centered": lambda: EightSchools(centered=True),
    "eight_schools_flat_mu": lambda: EightSchools(mu_prior=None),
    "eight_schools_marginalized": lambda: EightSchools(marginalize=True),
    "stochastic_volatility": lambda: StochasticVolatility(simulate_returns(T=20)[0]),
    "irt": _irt,
    "irt_with_missing_responses": lambda: _irt(missing=0.2),  # a masked likelihood
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_traced_potential_and_gradient_equal_pyros(name):
    torch.manual_seed(0)
    init, potential_fn, _, _ = initialize_model(MODELS[name]().model)
    traced = FlatPotential(potential_fn, init, jit=True)
    for _ in range(3):  # away from the point the graph was traced at
        x = traced.flatten(init) + torch.randn(sum(traced.sizes), dtype=torch.float64)
        params = {k: v.clone().requires_grad_(True) for k, v in traced.unflatten(x).items()}
        ref = potential_fn(params)
        grads = torch.autograd.grad(ref, list(params.values()))
        ref_grad = torch.cat([g.reshape(-1) for g in grads])
        x.requires_grad_(True)
        value = traced({FLAT: x})
        (grad,) = torch.autograd.grad(value, x)
        # the same floating-point operations in the same order, up to constant folding
        torch.testing.assert_close(value, ref.detach(), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(grad, ref_grad, rtol=1e-10, atol=1e-12)


def test_flatten_and_unflatten_are_inverse():
    init, potential_fn, _, _ = initialize_model(EightSchools().model)
    flat = FlatPotential(potential_fn, init, jit=False)
    x = flat.flatten(init)
    assert x.shape == (10,)  # mu, tau, z_1..8
    back = flat.unflatten(torch.stack([x, 2 * x]))  # a leading batch dimension is kept
    assert {k: tuple(v.shape) for k, v in back.items()} == {"mu": (2,), "tau": (2,), "z": (2, 8)}
    for k, v in init.items():
        torch.testing.assert_close(back[k][0], v)


def test_unknown_jit_mode_is_rejected():
    with pytest.raises(InvalidArgumentError, match="jit must be one of"):
        EightSchools().fit(jit="xla")
