"""The coordinates NUTS runs in: constants integrated out exactly, centering, Jacobians."""

import numpy as np
import pytest
import torch

from hbo.mcmc import FLAT, FlatPotential
from hbo.surrogate import HierarchicalGP, nuts
from hbo.surrogate.hierarchical_gp import CONSTANT_PRIOR_SCALE, robust_cholesky
from hbo.surrogate.information import shrinkage
from hbo.surrogate.nuts import CENTER_BELOW, SamplingCoordinates, _call, _draw_constants


def _model(make_task_data, related_fns, shared: bool) -> HierarchicalGP:
    X, Y = make_task_data(np.random.default_rng(5), related_fns[:3], n=10, d=2)
    model = HierarchicalGP(X, Y, shared_function=shared).fit()
    with torch.no_grad():  # noise well above the floor: the reference below is well posed
        model.m["noise"].fill_(-3.0)
    return model


@pytest.mark.parametrize("shared", [False, True])
def test_constant_marginal_is_the_gaussian_integral(make_task_data, related_fns, shared):
    """``int N(y; Hc, K) N(c; 0, s^2 I) dc = N(y; 0, K + s^2 H H^T)``, and the
    conditional of ``c`` is the Gaussian posterior with precision ``M = H^T K^-1 H + I/s^2``."""
    model = _model(make_task_data, related_fns, shared)
    with torch.no_grad():
        value, c_hat, L_M = model.constant_marginal()
        theta = model.log_hyperparameters()
        L, y = model._factor(theta, constant=torch.zeros_like(model.constant))
    counts = model._counts.tolist()
    if not shared:  # padded blocks -> the block-diagonal N x N matrix
        K = torch.block_diag(*[(b @ b.T)[:n, :n] for b, n in zip(L, counts, strict=True)])
        y = torch.cat([r[:n] for r, n in zip(y, counts, strict=True)])
    else:
        K = L @ L.T
    H = torch.nn.functional.one_hot(model._tasks, model.num_tasks).double()
    s2 = CONSTANT_PRIOR_SCALE**2
    reference = torch.distributions.MultivariateNormal(
        torch.zeros_like(y), K + s2 * H @ H.T
    ).log_prob(y)
    assert value.item() == pytest.approx(reference.item(), rel=1e-9)
    K_inv = torch.linalg.inv(K)
    M = H.T @ K_inv @ H + torch.eye(model.num_tasks, dtype=K.dtype) / s2
    torch.testing.assert_close(L_M @ L_M.T, M)
    torch.testing.assert_close(c_hat, torch.linalg.solve(M, H.T @ K_inv @ y))


def test_constants_are_drawn_from_their_conditional(make_task_data, related_fns):
    model = _model(make_task_data, related_fns, True)
    params = {n: p.detach().expand(4000, *p.shape) for n, p in model.named_parameters()
              if p.requires_grad and n != "constant"}
    torch.manual_seed(0)
    draws = _draw_constants(model, {n: v[:400] for n, v in params.items()})
    _, c_hat, L_M = model.constant_marginal()
    cov = torch.cholesky_inverse(L_M).detach()
    sd = cov.diagonal().sqrt()
    # 400 draws: the mean is within 4 standard errors, the sd within 20% (sd of a sample
    # sd at n = 400 is 3.5%)
    assert ((draws.mean(0) - c_hat.detach()).abs() < 4 * sd / 20).all()
    assert ((draws.std(0) / sd - 1).abs() < 0.2).all()


@pytest.mark.parametrize("shared", [False, True])
def test_coordinates_round_trip_and_jacobian(make_task_data, related_fns, shared, monkeypatch):
    model = _model(make_task_data, related_fns, shared)
    # center about half of the elements, whatever the data, so both forms are exercised
    values = torch.cat([b.reshape(-1) for b in shrinkage(model).values()])
    monkeypatch.setattr(nuts, "CENTER_BELOW", float(values.median()))
    coords = SamplingCoordinates(model)
    centered = torch.cat([c.reshape(-1) for c in coords.centered.values()])
    assert centered.any() and not centered.all()
    values, _ = coords.to_parameters(coords.start)
    for name, p in coords.params.items():
        torch.testing.assert_close(values[name], p.detach())

    def flat(psi):
        v, _ = coords.to_parameters(psi)
        return torch.cat([v[n].reshape(-1) for n in coords.names])

    psi = coords.psi(0.3 * torch.randn(len(coords.start), dtype=torch.double))
    J = torch.autograd.functional.jacobian(flat, psi)
    _, log_jacobian = coords.to_parameters(psi)
    assert log_jacobian.item() == pytest.approx(torch.linalg.slogdet(J)[1].item(), abs=1e-10)
    # a batch of draws maps as each draw alone
    U = torch.randn(3, len(coords.start), dtype=torch.double)
    batch, batch_log_jacobian = coords.to_parameters(coords.psi(U))
    one, one_log_jacobian = coords.to_parameters(coords.psi(U[1]))
    for name in one:
        torch.testing.assert_close(batch[name][1], one[name])
    torch.testing.assert_close(batch_log_jacobian[1], one_log_jacobian)


def test_centering_follows_the_shrinkage(make_task_data, related_fns):
    model = _model(make_task_data, related_fns, False)
    coords = SamplingCoordinates(model)
    for g, centered in coords.centered.items():
        assert torch.equal(centered, shrinkage(model)[g] < CENTER_BELOW)


@pytest.mark.parametrize("shared", [False, True])
def test_standardized_m_of_a_centered_group_is_a_priori_standard_normal(
    make_task_data, related_fns, shared, monkeypatch
):
    """With every element of a group centered, ``y`` depends on ``theta``, not on ``m``, and
    ``m`` given ``(theta, tau)`` is Gaussian: after standardization against that
    conditional the log density in ``m~`` is exactly ``-m~^2 / 2`` + const, so NUTS sees no
    ``(m, log tau)`` funnel there."""
    model = _model(make_task_data, related_fns, shared)
    monkeypatch.setattr(nuts, "CENTER_BELOW", 2.0)  # B < 1 always: everything centered
    coords = SamplingCoordinates(model)
    assert all(c.all() for c in coords.centered.values())
    offsets = np.cumsum([0, *coords.sizes])
    psi = coords.psi(0.3 * torch.randn(len(coords.start), dtype=torch.double,
                                       generator=torch.Generator().manual_seed(1)))
    for g in coords.centered:
        i = coords.names.index(f"m.{g}")
        index = int(offsets[i])  # first element of m (the lengthscale's m is per input)
        moved = psi.clone()
        moved[index] = 2.5
        gain = coords.log_density(moved) - coords.log_density(psi)
        assert gain.item() == pytest.approx(-0.5 * (2.5**2 - psi[index].item() ** 2), abs=1e-8)
        # and m itself moved: the map to the model's m is not the identity
        assert not torch.equal(coords.to_parameters(moved)[0][f"m.{g}"],
                               coords.to_parameters(psi)[0][f"m.{g}"])


def test_preconditioning_whitens_the_laplace_approximation(make_task_data, related_fns):
    """``A^T (-H) A = I`` where the curvature is above the floor."""
    model = _model(make_task_data, related_fns, False)
    coords = SamplingCoordinates(model)
    H = torch.autograd.functional.hessian(lambda psi: -coords.log_density(psi), coords.start)
    lam = torch.linalg.eigvalsh(H)
    if (lam > 1e-2).all():
        torch.testing.assert_close(coords.scale.T @ H @ coords.scale,
                                   torch.eye(len(lam), dtype=H.dtype), atol=1e-6, rtol=0)
    else:  # floored directions: unit or less curvature after whitening
        assert torch.linalg.eigvalsh(coords.scale.T @ H @ coords.scale).abs().max() < 1 + 1e-6


def _density(traceable: bool):
    def fn(model: HierarchicalGP) -> torch.Tensor:
        return model.constant_marginal(traceable=traceable)[0] + model.log_prior()

    return fn


@pytest.mark.parametrize("shared", [False, True])
def test_compiled_potential_equals_the_model_density(make_task_data, related_fns, shared):
    """The traced (TorchScript) potential NUTS runs on: same value and gradient as the
    eager ``constant_marginal + log_prior`` at other points than the trace's."""
    model = _model(make_task_data, related_fns, shared)
    coords = SamplingCoordinates(model)
    potential = FlatPotential(lambda u: -coords.log_density(coords.psi(u[FLAT])),
                              {FLAT: torch.zeros_like(coords.start)})
    for seed in range(3):
        u = 0.5 * torch.randn(len(coords.start), dtype=torch.double,
                              generator=torch.Generator().manual_seed(seed)).requires_grad_()
        value = potential({FLAT: u})
        (grad,) = torch.autograd.grad(value, u)
        values, log_jacobian = coords.to_parameters(coords.psi(u))
        reference = -(_call(model, _density(traceable=True), values) + log_jacobian)
        (reference_grad,) = torch.autograd.grad(reference, u, retain_graph=True)
        torch.testing.assert_close(value, reference)
        torch.testing.assert_close(grad, reference_grad)
        # where no jitter is needed, the traceable density is the model's own
        exact = -(_call(model, _density(traceable=False), values) + log_jacobian)
        torch.testing.assert_close(value, exact)


def test_traceable_cholesky_is_nan_where_not_positive_definite():
    K = torch.stack([torch.eye(2, dtype=torch.double), torch.tensor([[1.0, 2.0], [2.0, 1.0]],
                                                                    dtype=torch.double)])
    L, jitter = robust_cholesky(K, traceable=True)
    assert jitter == 0.0
    torch.testing.assert_close(L[0], torch.eye(2, dtype=torch.double))
    assert torch.isnan(L[1]).all()


def test_traceable_cholesky_adds_jitter_only_where_needed():
    """A singular matrix gets the first jitter level and a finite gradient; a regular one
    none: the eager factorization's choice, without a Python branch."""
    singular = torch.ones(2, 2, dtype=torch.double).requires_grad_()
    regular = torch.eye(2, dtype=torch.double) * 2.0
    L, _ = robust_cholesky(torch.stack([singular, regular]), traceable=True)
    eager, jitter = robust_cholesky(singular.detach())
    assert jitter > 0
    torch.testing.assert_close(L[0].detach(), eager)
    torch.testing.assert_close(L[1], regular.sqrt())
    (grad,) = torch.autograd.grad(L.diagonal(dim1=-2, dim2=-1).log().sum(), singular)
    assert torch.isfinite(grad).all()


def test_traceable_constant_marginal_is_nan_not_an_error_where_k_fails(make_task_data,
                                                                      related_fns):
    """A kernel matrix that cannot be factored gives a NaN density in the sampler's
    (traceable) path, which NUTS rejects, instead of an exception that stops the run."""
    model = _model(make_task_data, related_fns, True)
    with torch.no_grad():
        theta = {g: v.clone() for g, v in model.log_hyperparameters().items()}
        theta["noise"].fill_(float("nan"))
    value, _, _ = model.constant_marginal(theta, traceable=True)
    assert torch.isnan(value)
