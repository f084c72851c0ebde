"""PRIVATE APIS OF TORCH AND PYRO: every use of them in hbo is in this package, and only here.

The code here is written against members that torch and pyro do not promise to keep, so
``pyproject.toml`` pins the versions it is tested on (torch 2.13, pyro-ppl 1.9.2); a new
version of either is checked here first, with ``tests/hierarchy/test_flat_nuts.py``,
``tests/hierarchy/test_flat_potential.py`` and ``tests/mcmc/test_conformance.py``.

torch (:mod:`.torch_compile`, for :class:`hbo.mcmc.FlatPotential`):

- :func:`compile_inductor`: ``torch._inductor.compile_fx``, ``torch._guards``,
  ``torch._subclasses``, ``torch._functorch.config`` and Inductor's ``config``;
- :func:`validation_disabled`: ``torch.distributions.Distribution._validate_args``, the
  default that has a public setter but no public getter.

pyro (:mod:`.pyro_nuts`: ``pyro.infer.NUTS``, pyro/infer/mcmc/nuts.py and hmc.py):

- :class:`RecordingNUTS` overrides ``_sample_r`` and ``_build_basetree`` and reads
  ``_fetch_from_cache``, ``_kinetic_energy``, ``_divergences``, ``_t`` and
  ``_warmup_steps``;
- :class:`FlatNUTS` replaces ``sample`` and so writes what pyro's ``sample`` writes at the
  end of a transition: ``_cache``, ``_t``, ``_divergences``, ``_accept_cnt``,
  ``_mean_accept_prob`` and the warm-up adapter's step (``_adapter.step``); it reads
  ``_max_tree_depth``.

Nothing is imported here: :mod:`hbo.mcmc.potential` needs :mod:`.torch_compile`, and
:mod:`.pyro_nuts` needs :mod:`hbo.mcmc.potential`.
"""
