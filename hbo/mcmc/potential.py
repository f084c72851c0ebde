"""The potential energy of a pyro model as one compiled function of one flat vector.

NUTS needs ``U(q) = -log p(q, y)`` (``q``: every latent site mapped to the real line, log
Jacobians included) and ``grad U`` at each leapfrog step. pyro computes them per site, from a
dictionary of tensors, by running the model under its effect handlers and asking autograd for
the gradient; on hierarchical models of tens to thousands of parameters each step then costs
mostly interpreter and dispatch overhead, not arithmetic (about 0.7 ms for Eight Schools'
ten parameters with pyro's TorchScript trace, against about 5 us of floating-point work).

:class:`FlatPotential` removes most of it:

1. one site: the ``D`` unconstrained parameters are concatenated into one vector ``x``, so
   the sampler's per-site bookkeeping (mass matrix, kinetic energy, U-turn checks) loops over
   one tensor;
2. value and gradient in one graph: ``torch.func.grad_and_value`` of ``x -> U(x)`` is traced
   once with ``make_fx`` into a flat graph of ATen operations (pyro's handlers run once, at
   trace time, and vanish from the graph); the graph is then compiled:

   - ``jit=True``: TorchScript (``torch.jit.trace`` of the graph, frozen so that constant
     subgraphs are folded; under a second), no autograd at run time, but an interpreter
     that dispatches each of the graph's 100 to 500 operations one by one;
   - ``jit="inductor"``: TorchInductor (``compile_fx`` on the graph as it is, without
     TorchDynamo's re-tracing and per-call guards,
     :func:`hbo.mcmc._private_apis.torch_compile.compile_inductor`) generates C++ that
     fuses the elementwise work into a few loops: 3.5 to 8 times faster per call than
     TorchScript on Eight Schools, stochastic volatility and IRT, for 1.5 to 7 s of
     compilation per model, about 1 s from Inductor's on-disk cache
     (experiments/results/flat_potential_timing.md);
   - ``jit=False``: no tracing; pyro's potential with autograd on each call.

Tracing runs with pyro's and torch's argument validation off: validation branches on the
values of tensors, which a traced graph cannot do (the checks ran when the model was first
traced by :func:`pyro.infer.mcmc.util.initialize_model`). A model whose arithmetic itself
branches on parameter values cannot be traced; it is fitted with ``jit=False``.

The compiled function returns ``(grad U(x), U(x))``; :class:`_ValueWithGrad` hands ``U`` to
pyro as a tensor whose backward is the stored gradient, so pyro's integrator, which asks
autograd for ``dU/dx``, gets it without a backward pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch.fx.experimental.proxy_tensor import make_fx

from hbo._warnings import HBOWarning, warn
from hbo.errors import InvalidArgumentError
from hbo.mcmc._private_apis.torch_compile import compile_inductor, validation_disabled

#: Name of the one site the sampler sees.
FLAT = "params"
JIT_MODES = (False, True, "inductor")


class _ValueWithGrad(torch.autograd.Function):
    """``U(x)`` from a function returning ``(grad U(x), U(x))``; backward reuses the gradient."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, fn: Callable) -> torch.Tensor:  # noqa: ANN401
        grad, value = fn(x)  # forward of an autograd.Function runs without autograd
        bad = ~torch.isfinite(value)  # see FlatPotential.__call__; one per copy
        grad = torch.where(bad[..., None], 0.0, grad)
        ctx.save_for_backward(grad)
        return torch.where(bad, math.inf, value)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple:  # noqa: ANN401
        (grad,) = ctx.saved_tensors
        return grad_output[..., None] * grad, None


class FlatPotential:
    """pyro's potential energy over one flat vector, compiled (module docstring).

    Args:
        potential_fn: pyro's ``U`` over a dict of unconstrained site values (from
            :func:`pyro.infer.mcmc.util.initialize_model` with ``jit_compile=False``).
        params: a point of that dict (site name -> unconstrained tensor): the layout.
        jit: ``False``, ``True`` (TorchScript) or ``"inductor"`` (TorchInductor).
        copies: ``C`` independent copies of the model in one potential,
            ``U(x_1, ..., x_C) = sum_c U(x_c)``, so that one NUTS trajectory moves ``C``
            chains (``HierarchicalModel.fit(vectorize=True)``). Compiled, the ``C``
            gradients are one batched graph (``torch.func.vmap``): Eight Schools, 4
            copies, 291 us per call against 218 us for one.

    Call it with ``{FLAT: x}``, ``x`` of shape ``C D`` (the copies one after another); it
    returns the scalar ``U(x)``.
    """

    def __init__(self, potential_fn: Callable, params: dict[str, torch.Tensor],
                 jit: bool | str = True, copies: int = 1) -> None:
        if not any(jit is m or (isinstance(m, str) and jit == m) for m in JIT_MODES):
            raise InvalidArgumentError(f"jit must be one of {JIT_MODES}, got {jit!r}")
        self.potential_fn = potential_fn
        self.shapes = {k: v.shape for k, v in params.items()}
        self.sizes = [v.numel() for v in params.values()]
        self.copies = copies
        self._compiled = None if jit is False else self._compile(self.flatten(params), jit)

    def flatten(self, params: dict[str, torch.Tensor]) -> torch.Tensor:
        """The vector ``x`` (shape ``D``) of a dict of unconstrained site values."""
        return torch.cat([params[k].detach().reshape(-1) for k in self.shapes])

    def unflatten(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Site values from ``x`` of shape ``... x D``: each ``... x site shape``."""
        parts = torch.split(x, self.sizes, dim=-1)
        return {k: p.reshape(x.shape[:-1] + s)
                for (k, s), p in zip(self.shapes.items(), parts, strict=True)}

    def _energy(self, x: torch.Tensor) -> torch.Tensor:
        return self.potential_fn(self.unflatten(x))

    def _eager_energy(self, x: torch.Tensor) -> torch.Tensor:
        """``sum_c U(x_c)`` from pyro's potential, autograd-ready; ``x`` flat (``C D``)."""
        if self.copies == 1:
            return self._energy(x)
        return sum(self._energy(c) for c in x.view(self.copies, -1))

    def _compile(self, x0: torch.Tensor, jit: bool | str) -> Callable:
        with validation_disabled():
            # a plain function: make_fx reads the signature of what it traces
            def energy(x: torch.Tensor) -> torch.Tensor:
                return self._energy(x)

            fn = torch.func.grad_and_value(energy)
            if self.copies > 1:
                fn, x0 = torch.func.vmap(fn), x0.expand(self.copies, -1).clone()
            graph = make_fx(fn)(x0)
        graph.graph.eliminate_dead_code()
        graph.recompile()
        if jit == "inductor":
            try:
                return compile_inductor(graph, x0)
            except Exception as exc:  # noqa: BLE001 - no C++ compiler, unsupported platform...
                # Inductor's failures have many types (compiler errors, OSError, backend
                # errors); each leaves the graph intact for TorchScript, which needs no compiler
                warn(f"TorchInductor could not compile the potential energy "
                     f"({type(exc).__name__}: {str(exc)[:200]}); using TorchScript (jit=True)",
                     HBOWarning)
        with torch.no_grad():
            # freezing folds the constant subgraphs (the priors' log-normalizers, data-only
            # terms): about half the nodes of a small model's graph
            script = torch.jit.freeze(torch.jit.trace(graph, x0, check_trace=False).eval())
        return script.forward  # the method itself: skips nn.Module's call machinery

    def value_and_grad(self, x: torch.Tensor) -> tuple[float, torch.Tensor]:
        """``(U(x), grad U(x))`` of the flat vector ``x`` (shape ``C D``), no autograd graph
        kept; ``(+inf, 0)`` where ``U`` is not finite (see :meth:`__call__`)."""
        if self._compiled is not None and self.copies == 1:
            grad, value = self._compiled(x)
            value = float(value)
        elif self._compiled is not None:
            grad, value = self._compiled(x.view(self.copies, -1))
            value, grad = float(value.sum()), grad.reshape(x.shape)
        else:
            with torch.enable_grad():
                x = x.detach().requires_grad_(True)
                u = self._eager_energy(x)
                (grad,) = torch.autograd.grad(u, x)
            value = float(u.detach())
        if not math.isfinite(value):
            return math.inf, torch.zeros_like(x)
        return value, grad

    def __call__(self, params: dict[str, torch.Tensor]) -> torch.Tensor:
        """``U(x)``; ``+inf`` with a zero gradient wherever ``U`` is not finite.

        A NaN or ``-inf`` energy is arithmetic breaking down (an overflow, a singular
        matrix), not a point of high density: as ``+inf`` the sampler rejects the step
        and marks it divergent. pyro maps NaN to ``+inf`` itself but not ``-inf``, which
        would make the multinomial weights of its tree NaN; the gradient is zeroed so no
        NaN reaches the momentum.
        """
        x = params[FLAT]
        if self._compiled is not None:
            copies = x.view(self.copies, -1) if self.copies > 1 else x
            return _ValueWithGrad.apply(copies, self._compiled).sum()
        value = self._eager_energy(x)
        if not torch.isfinite(value):
            return x.sum() * 0.0 + math.inf  # zero gradient, still a graph for autograd
        return value
