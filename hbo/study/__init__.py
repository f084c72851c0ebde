"""The study: the ask/tell loop users touch (:mod:`hbo.study.study`), what it has found
(:mod:`hbo.study.results`), its objectives and constraints (:mod:`hbo.study.outcomes`),
its export and import (:mod:`hbo.study.io`: JSON and CSV), history read from past Optuna,
hbo and Ax studies (:mod:`hbo.study.history`) and its figures (:mod:`hbo.study.plots`)."""

from hbo.study.study import Study

__all__ = ["Study"]
