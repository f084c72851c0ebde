"""FlatPotential: the compiled potential energy and gradient equal pyro's own, per model."""

import pytest
import torch
from pyro.infer.mcmc.util import initialize_model

from hbo._warnings import HBOWarning
from hbo.errors import InvalidArgumentError
from hbo.hierarchy.models import (
    IRT2PL,
    EightSchools,
    StochasticVolatility,
    simulate_irt,
    simulate_returns,
)
from hbo.mcmc import FLAT, FlatPotential


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


INDUCTOR_MODELS = ["eight_schools_centered", "stochastic_volatility",
                   "irt_with_missing_responses"]


@pytest.mark.parametrize(
    ("name", "jit"),
    [(n, True) for n in sorted(MODELS)] + [(n, "inductor") for n in INDUCTOR_MODELS],
)
def test_traced_potential_and_gradient_equal_pyros(name, jit):
    """TorchScript runs the same floating-point operations in the same order (up to constant
    folding): equal to 1e-12. Inductor fuses and reorders them (sums in other orders, fused
    multiply-adds): equal to 1e-10, and through :meth:`FlatPotential.value_and_grad` too."""
    torch.manual_seed(0)
    init, potential_fn, _, _ = initialize_model(MODELS[name]().model)
    traced = FlatPotential(potential_fn, init, jit=jit)
    tol = 1e-12 if jit is True else 1e-10
    for _ in range(3):  # away from the point the graph was traced at
        x = traced.flatten(init) + torch.randn(sum(traced.sizes), dtype=torch.float64)
        params = {k: v.clone().requires_grad_(True) for k, v in traced.unflatten(x).items()}
        ref = potential_fn(params)
        grads = torch.autograd.grad(ref, list(params.values()))
        ref_grad = torch.cat([g.reshape(-1) for g in grads])
        x.requires_grad_(True)
        value = traced({FLAT: x})
        (grad,) = torch.autograd.grad(value, x)
        torch.testing.assert_close(value, ref.detach(), rtol=tol, atol=tol)
        torch.testing.assert_close(grad, ref_grad, rtol=1e-10, atol=tol)
        u, g = traced.value_and_grad(x.detach())
        assert u == pytest.approx(ref.item(), rel=tol, abs=tol)
        torch.testing.assert_close(g, ref_grad, rtol=1e-10, atol=tol)


def test_inductor_failure_falls_back_to_torchscript(monkeypatch):
    """No C++ compiler (or any other failure of Inductor): a warning naming it, and the
    TorchScript graph instead, with the same values."""
    import torch._inductor.compile_fx as inductor

    def broken(*args, **kwargs):
        raise RuntimeError("no C++ compiler found")

    monkeypatch.setattr(inductor, "compile_fx", broken)
    init, potential_fn, _, _ = initialize_model(EightSchools().model)
    with pytest.warns(HBOWarning, match="TorchInductor could not compile.*no C.. compiler"):
        fallen = FlatPotential(potential_fn, init, jit="inductor")
    script = FlatPotential(potential_fn, init, jit=True)
    x = script.flatten(init) + 0.3
    assert fallen.value_and_grad(x)[0] == script.value_and_grad(x)[0]


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


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize(
    "breakdown",  # past x[0] = 1: NaN, then -inf
    [torch.sqrt, lambda t: torch.log(t.clamp_min(0.0))],
    ids=["nan", "minus_inf"],
)
def test_non_finite_energy_is_infinite_with_zero_gradient(jit, breakdown):
    """A NaN or -inf energy (arithmetic breaking down) becomes +inf with gradient 0, so
    NUTS rejects the step (pyro turns NaN into +inf itself, but -inf would give NaN tree
    weights). Where finite, the energy is untouched."""

    def energy(params):
        x = params["x"]
        return (x**2).sum() + breakdown(1.0 - x[0])

    potential = FlatPotential(energy, {"x": torch.zeros(2, dtype=torch.double)}, jit=jit)
    for x0, finite in ((0.5, True), (2.0, False)):
        x = torch.tensor([x0, 1.0], dtype=torch.double, requires_grad=True)
        value = potential({FLAT: x})
        (grad,) = torch.autograd.grad(value, x)
        if finite:
            reference = energy({"x": x})
            torch.testing.assert_close(value, reference)
            torch.testing.assert_close(grad, torch.autograd.grad(reference, x)[0])
        else:
            assert value.item() == float("inf")
            torch.testing.assert_close(grad, torch.zeros(2, dtype=torch.double))


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("name", ["eight_schools_centered", "irt"])
def test_copies_sum_the_energies_and_stack_the_gradients(name, jit):
    """``copies=C``: ``U(x_1, ..., x_C) = sum_c U(x_c)``, gradient ``(grad U(x_c))_c``;
    a copy whose energy breaks down makes the sum +inf and only its own gradient 0."""
    torch.manual_seed(1)
    init, potential_fn, _, _ = initialize_model(MODELS[name]().model)
    one = FlatPotential(potential_fn, init, jit=jit)
    three = FlatPotential(potential_fn, init, jit=jit, copies=3)
    xs = [one.flatten(init) + torch.randn(sum(one.sizes), dtype=torch.float64)
          for _ in range(3)]
    x = torch.cat(xs).requires_grad_(True)
    value = three({FLAT: x})
    (grad,) = torch.autograd.grad(value, x)
    values, grads = [], []
    for xc in xs:
        xc = xc.clone().requires_grad_(True)
        values.append(one({FLAT: xc}))
        grads.append(torch.autograd.grad(values[-1], xc)[0])
    torch.testing.assert_close(value, torch.stack(values).sum(), rtol=1e-12, atol=1e-10)
    torch.testing.assert_close(grad, torch.cat(grads), rtol=1e-10, atol=1e-12)
    if name == "eight_schools_centered" and jit:  # tau = exp(x[1]) overflows to inf
        x = torch.cat([xs[0], xs[1].index_fill(0, torch.tensor([1]), 1e4), xs[2]])
        x.requires_grad_(True)
        value = three({FLAT: x})
        (grad,) = torch.autograd.grad(value, x)
        assert value.item() == float("inf")
        n = len(xs[0])
        assert (grad[n:2 * n] == 0).all()
        torch.testing.assert_close(grad[:n], grads[0])
