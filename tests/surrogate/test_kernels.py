"""The kernel protocol: lengthscale derivatives against finite differences, the generic
autodiff derivative against the stationary one, names, pickling, and the group table."""

import math
import pickle

import pytest
import torch

from hbo.errors import InvalidArgumentError
from hbo.surrogate import HierarchicalGP
from hbo.surrogate.information import fisher_information
from hbo.surrogate.kernels import Kernel, Matern52, kernel_names, matern52, resolve_kernel
from hbo.surrogate.kernels.base import _scaled_squares, squared_distance
from hbo.surrogate.priors import GROUP_SPECS, GROUPS, default_hyperpriors, model_groups

KERNELS = [resolve_kernel(name) for name in kernel_names()]


def inputs(T=3, n=6, m=5, D=3):
    g = torch.Generator().manual_seed(1)
    x1 = torch.rand(T, n, D, dtype=torch.double, generator=g)
    x2 = torch.cat([x1[:, :2], torch.rand(T, m - 2, D, dtype=torch.double, generator=g)], 1)
    log_ell = torch.randn(T, D, dtype=torch.double, generator=g) - 1.0
    return x1, x2, log_ell  # x2 shares two points with x1: r = 0 entries included


@pytest.mark.parametrize("kernel", KERNELS, ids=str)
def test_log_lengthscale_grad_matches_finite_differences(kernel):
    x1, x2, log_ell = inputs()
    grad = kernel.log_lengthscale_grad(x1, x2, log_ell.exp()[:, None, None, :])
    h = 1e-6
    for j in range(log_ell.shape[-1]):
        step = torch.zeros_like(log_ell)
        step[:, j] = h
        up = kernel(x1, x2, (log_ell + step).exp()[:, None, None, :])
        down = kernel(x1, x2, (log_ell - step).exp()[:, None, None, :])
        torch.testing.assert_close(grad[..., j], (up - down) / (2 * h), rtol=1e-7, atol=1e-9)


def test_product_form_distance_equals_the_differences_and_their_gradients():
    """One lengthscale (``D`` or ``1 x D``), one per batch and one per row of ``x1``: values
    and gradients (lengthscales and inputs: the acquisition differentiates by the
    candidate) within rounding of the differences' form; coincident points within 1e-13
    of 0."""
    x1, x2, log_ell = inputs()
    rows = log_ell[:, None, :] + torch.linspace(0.0, 0.5, x1.shape[1], dtype=torch.double)[:, None]
    for log_l in (log_ell[0], log_ell[:1], log_ell[:, None, None, :], rows[:, :, None, :]):
        log_l = log_l.clone().requires_grad_(True)
        a, b = x1.clone().requires_grad_(True), x1.clone().requires_grad_(True)
        ours = squared_distance(a, x2, log_l.exp())
        reference = _scaled_squares(b, x2, log_l.exp()).sum(-1)  # the differences' form
        torch.testing.assert_close(ours, reference, rtol=1e-12, atol=1e-13)
        assert ours[:, :2, :2].diagonal(dim1=-2, dim2=-1).abs().max() < 1e-13  # shared points
        weights = torch.randn_like(ours)
        grads = torch.autograd.grad((ours * weights).sum(), (log_l, a))
        expected = torch.autograd.grad((reference * weights).sum(), (log_l, b))
        for g, e in zip(grads, expected, strict=True):
            torch.testing.assert_close(g, e, rtol=1e-10, atol=1e-10)


def test_product_form_distance_is_exact_on_the_diagonal_and_finite_at_extremes():
    """``x1``'s distances to itself are exactly 0 on the diagonal (a correlation of
    exactly 1); an underflowed lengthscale gives finite distances and gradients (the
    correlation of distinct points 0), an overflowed one zero distances (a line search's
    trial steps: a NaN value there stopped a MAP fit)."""
    x1, _, log_ell = inputs()
    sq = squared_distance(x1, x1, log_ell.exp()[:, None, None, :])
    assert (sq.diagonal(dim1=-2, dim2=-1) == 0).all()
    assert (Matern52()(x1, x1, log_ell.exp()[:, None, None, :]).diagonal(dim1=-2, dim2=-1)
            == 1).all()
    for extreme in (-800.0, 800.0):
        log_l = torch.full((x1.shape[-1],), extreme, dtype=torch.double, requires_grad=True)
        k = Matern52()(x1, x1, log_l.exp())
        (grad,) = torch.autograd.grad(k.sum(), log_l)
        assert torch.isfinite(k).all() and (extreme > 0 or torch.isfinite(grad).all())
        expected = torch.eye(x1.shape[1], dtype=k.dtype) if extreme < 0 else torch.ones_like(k)
        torch.testing.assert_close(k, expected.expand_as(k))


@pytest.mark.parametrize("kernel", KERNELS, ids=str)
def test_stationary_derivative_equals_the_generic_one(kernel):
    """The chain-rule derivative of a stationary kernel equals the protocol's default
    (one JVP per input dimension), per row lengthscales included, and so do their
    gradients (the MAP fit backpropagates through the Fisher information)."""
    x1, x2, log_ell = inputs()
    log_ell.requires_grad_(True)
    rows = log_ell[:, None, :] + torch.linspace(0.0, 0.5, x1.shape[1], dtype=torch.double)[:, None]
    for ell in (log_ell.exp()[:, None, None, :], rows.exp()[:, :, None, :]):
        ours = kernel.log_lengthscale_grad(x1, x2, ell)
        generic = Kernel.log_lengthscale_grad(kernel, x1, x2, ell)
        torch.testing.assert_close(ours, generic, rtol=1e-12, atol=1e-14)
        weights = torch.randn_like(ours)
        (g1,) = torch.autograd.grad((ours * weights).sum(), log_ell, retain_graph=True)
        (g2,) = torch.autograd.grad((generic * weights).sum(), log_ell, retain_graph=True)
        torch.testing.assert_close(g1, g2, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["matern52", "matern32"])
@pytest.mark.parametrize("shared", [False, True])
def test_fisher_information_matches_finite_difference_of_the_kernel(rng, related_fns,
                                                                    make_task_data, name,
                                                                    shared):
    """``I_t = 1/2 tr(P dK P dK)`` for the lengthscale, ``dK`` by finite differences."""
    X, Y = make_task_data(rng, related_fns[:3], n=7, d=2)
    model = HierarchicalGP(X, Y, shared_function=shared, kernel=name)
    with torch.no_grad():
        for z in model.z.values():
            z.normal_()
    theta = {k: v.detach() for k, v in model.log_hyperparameters().items()}
    L, _ = model._factor(theta)
    info = fisher_information(model, theta, L)["lengthscale"]
    Zp, mask = model.padded_inputs()
    K_inverse = torch.cholesky_inverse(L)
    for t in range(model.num_tasks):
        Z = Zp[t][mask[t]]
        rows = model._tasks == t
        P = K_inverse[rows][:, rows] if shared else K_inverse[t][: len(Z), : len(Z)]
        for j in range(Z.shape[-1]):
            h = 1e-6 * torch.eye(Z.shape[-1], dtype=Z.dtype)[j]

            def K(shift, t=t, Z=Z, h=h):
                ell = (theta["lengthscale"][t] + shift * h).exp()
                return theta["outputscale"][t].exp() * model.kernel(Z, Z, ell)

            dK = (K(1.0) - K(-1.0)) / 2e-6
            expected = 0.5 * torch.trace(P @ dK @ P @ dK)
            assert info[t, j].item() == pytest.approx(expected.item(), rel=1e-6, abs=1e-10)


def test_kernels_resolve_by_name_pickle_and_compare():
    assert kernel_names() == ["matern32", "matern52"]
    assert resolve_kernel("matern52") == matern52 == Matern52()
    assert resolve_kernel(matern52) is matern52
    assert resolve_kernel("matern32").name == "matern32"
    assert resolve_kernel("matern32") != matern52
    for kernel in KERNELS:
        assert pickle.loads(pickle.dumps(kernel)) == kernel
        assert resolve_kernel(kernel.name) == kernel  # the name is the JSON form
    with pytest.raises(InvalidArgumentError, match="unknown name 'rbf'.*matern32"):
        resolve_kernel("rbf")
    with pytest.raises(InvalidArgumentError, match="got int"):
        resolve_kernel(52)


def test_kernel_argument_defaults_to_matern52(rng, related_fns, make_task_data):
    X, Y = make_task_data(rng, related_fns[:3], n=8, d=2)
    values = [HierarchicalGP(X, Y, kernel=k).log_joint().item()
              for k in ("matern52", Matern52())]
    assert values == [HierarchicalGP(X, Y).log_joint().item()] * 2
    assert HierarchicalGP(X, Y, kernel="matern32").log_joint().item() != values[0]
    with pytest.raises(InvalidArgumentError, match="kernel"):
        HierarchicalGP(X, Y, kernel="matern72")


def test_group_table():
    assert tuple(spec.name for spec in GROUP_SPECS) == GROUPS
    assert GROUPS == ("lengthscale", "outputscale", "noise", "shared_scale")
    assert model_groups(shared_function=True) == GROUPS
    assert model_groups(shared_function=False) == ("lengthscale", "outputscale", "noise")
    assert default_hyperpriors() == {spec.name: spec.default_prior for spec in GROUP_SPECS}
    assert default_hyperpriors()["lengthscale"].location(4) == pytest.approx(
        math.sqrt(2.0) + 0.5 * math.log(4) - 3.0
    )
    shapes = {spec.name: spec.shape(5) for spec in GROUP_SPECS}
    assert shapes == {"lengthscale": (5,), "outputscale": (), "noise": (), "shared_scale": ()}
