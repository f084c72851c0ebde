"""Tracing and compiling a potential with torch's private APIs (see the package docstring)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pyro
import torch


def compile_inductor(graph: torch.fx.GraphModule, x0: torch.Tensor) -> Callable:
    """TorchInductor straight on the traced ATen graph, without TorchDynamo: torch.compile
    would re-trace it and check guards on every call (about 50 us, more than Eight Schools'
    whole compiled gradient).

    Outside Dynamo there is no shape environment, and Inductor's FX graph cache refuses such
    graphs ("No shape env"); an empty tracing context with one gives it the cache, so a graph
    compiled before (same operations and the same data: constants are hashed by value) loads
    in about a second instead of 1 to 7 s of code generation, across processes too.
    AOTAutograd's own cache stays off: it cannot pickle this graph's key and would log a
    warning trying.

    Inductor inlines an elementwise expression into each of its readers until the
    expression exceeds ``realize_cpu_opcount_threshold`` operations (50 on CPU) and only
    then stores it in a buffer. A scan (stochastic volatility's ``ar1_filter``: each of its
    ``log2 T`` levels reads the one before twice) doubles the inlined C++ at every level.
    Storing every expression past 10 operations cut stochastic volatility's (T = 500)
    compilation from 25 to 5 s with the call time unchanged within noise
    (45-60 us), and left Eight Schools, IRT, football and MrP within noise in both.

    ``cpp_wrapper``: the code that allocates the graph's buffers and calls its kernels is
    C++ too, not Python; stochastic volatility has about 45 buffers, and a call took 42 to
    45 us against 62 to 68 us with the Python wrapper; the other models' calls were equal
    within noise. It costs 1 to 2 s more compilation per model.
    """
    # heavy imports, on demand
    from torch._guards import TracingContext, tracing
    from torch._inductor import config as inductor_config
    from torch._inductor.compile_fx import compile_fx
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.symbolic_shapes import ShapeEnv

    context = TracingContext(FakeTensorMode(shape_env=ShapeEnv()))
    with (tracing(context), torch._functorch.config.patch(enable_autograd_cache=False),
          inductor_config.patch(realize_cpu_opcount_threshold=10, cpp_wrapper=True)):
        return compile_fx(graph, [x0])


@contextlib.contextmanager
def validation_disabled() -> Iterator[None]:
    """pyro's and torch's argument validation off for the block, restored after it."""
    validate = torch.distributions.Distribution._validate_args
    torch.distributions.Distribution.set_default_validate_args(False)
    try:
        with pyro.validation_enabled(False):
            yield
    finally:
        torch.distributions.Distribution.set_default_validate_args(validate)
