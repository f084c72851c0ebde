"""The proposer protocol: what a :class:`~hbo.Study` asks for its next points, apart from it.

The Study owns the trials (its storage), validates input and hands out trials; a
*proposer* chooses the points, as a sampler does in Optuna. A proposer implements one
method, :meth:`Proposer.propose` (``q`` encoded points for a task, from the study's
stored trials); :meth:`Proposer.ask` stores them and settles concurrent asks, the same
for every proposer. :class:`SobolProposer` is the simplest: the task's own scrambled
Sobol sequence.

Reproducibility: every proposal is drawn under a seed made of the study's seed and the
number of the task's trials stored before the ask, so a study replayed with the same seed
and the same results asks the same points (also after :meth:`~hbo.Study.load`). Other
tasks' trials do not enter the seed: history that the model leaves out (a source the
screen drops) leaves the task's proposals exactly as they are without it, and trials of
another task asked in between do not reseed this one's.

Enqueued points (:meth:`~hbo.Study.enqueue`) are not a proposer's business:
:meth:`hbo.Study.ask` hands them out before it asks the proposer for the rest. A handed-out
enqueued trial is running, so a proposal counts it as pending; a waiting one is not
pending (the default proposer only avoids repeating it). Neither counts in the task's
Sobol sequence (only ``ASKED`` trials do), so enqueuing does not shift the Sobol points.
"""

from __future__ import annotations

import zlib
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

import torch
from botorch.utils.sampling import manual_seed

from hbo.trial import Origin, Trial, TrialState

if TYPE_CHECKING:
    from hbo.study import Study

#: Rounds of :meth:`Proposer.ask`'s settlement (each a concurrent ask found and proposed
#: around).
SETTLE_ROUNDS = 8


def trials_before(
    study: Study, task: str | None, before: int | None, states: list[TrialState] | None = None
) -> list[Trial]:
    """The study's stored trials (of ``task``, in ``states``) with ids below ``before``
    (None: all)."""
    trials = study.storage.get_trials(task, states)
    return trials if before is None else [t for t in trials if t.id < before]


def sobol_points(study: Study, task: str, q: int, before: int | None = None) -> torch.Tensor:
    """The next ``q`` points of the task's own scrambled Sobol sequence, after its asked
    trials (stored before ``before``): ``q x d`` encoded."""
    asked = [t for t in trials_before(study, task, before) if t.origin is Origin.ASKED]
    task_seed = (study.seed + zlib.crc32(task.encode())) % 2**31
    return study.space.sobol(q, seed=task_seed, skip=len(asked))


def taken_points(study: Study, task: str, before: int | None) -> set[tuple[float, ...]]:
    """The encoded points of ``task``'s trials (any state) stored before ``before``."""
    taken = [t.params for t in trials_before(study, task, before)]
    return {tuple(row) for row in study.space.encode(taken).tolist()}


def distinct_points(
    study: Study, X: torch.Tensor, task: str, before: int | None
) -> torch.Tensor:
    """``X`` (``q x d`` encoded) with each row that repeats another or a trial of ``task``
    (any state, stored before ``before``) replaced by a fresh Sobol point of the task.

    Only matters on discrete spaces; a repeated point would waste an evaluation (or re-run
    a failed one blindly).
    """
    seen = taken_points(study, task, before)
    spare = iter(map(tuple, sobol_points(study, task, 64 + len(X), before).tolist()))
    rows = []
    for row in map(tuple, X.tolist()):
        if row in seen:  # keep the repeat only if the space is exhausted
            row = next((s for s in spare if s not in seen), row)
        seen.add(row)
        rows.append(row)
    return torch.tensor(rows, dtype=torch.double)


class Proposer(ABC):
    """Chooses a study's next points. Subclasses implement :meth:`propose`."""

    @abstractmethod
    def propose(
        self, study: Study, task: str, q: int, seed: int, before: int | None = None
    ) -> torch.Tensor:
        """``q`` distinct points for ``task``, ``q x d`` in the space's encoding.

        Reads the study's trials only. ``seed``: this ask's seed (:meth:`ask` has also
        seeded torch's generator with it). ``before``: when an ask proposes again (see
        :meth:`ask`), only the trials stored before its own first id count, as pending
        or taken.
        """

    def ask(self, study: Study, task: str, q: int) -> list[Trial]:
        """Propose ``q`` points for ``task``, store them as running trials, settle, return them.

        Settlement: while other workers' asks were stored between this ask's reading and
        its storing, both proposals came from the same trials, and with one seed they are
        one point. The ask with the lower ids keeps its points; the other proposes again
        from the trials stored before its own (the earlier asks pending, and counted in the
        Sobol sequence, so each ask's Sobol points follow from its ids) and replaces its
        points before handing them out. Later trials are left out: they do the same
        around this one.

        Each proposal reads the study in one storage snapshot
        (:meth:`~hbo.storage.Storage.snapshot`: one read of the trials, no write lock), and
        the writes come after it.
        """
        with study.storage.snapshot():  # the proposal's reads: one view, read once
            known = {t.id for t in study.storage.get_trials(task)}
            X = self._seeded(study, task, q)
        trials = study.storage.create_trials(task, study.space.decode(X))
        first = trials[0].id
        for _ in range(SETTLE_ROUNDS):
            with study.storage.snapshot():  # reads only: set_params writes after it
                earlier = {t.id for t in trials_before(study, task, first)} - known
                if not earlier:
                    break
                known |= earlier
                X = self._seeded(study, task, len(trials), before=first)
            trials = [study.storage.set_params(t.id, params)
                      for t, params in zip(trials, study.space.decode(X), strict=True)]
        return trials

    def _seeded(self, study: Study, task: str, q: int, before: int | None = None) -> torch.Tensor:
        stored = len(trials_before(study, task, before))
        seed = (study.seed * 1_000_003 + stored) % 2**31
        with manual_seed(seed):
            return self.propose(study, task, q, seed, before)


class SobolProposer(Proposer):
    """The task's own scrambled Sobol sequence (no model): a space-filling baseline."""

    def propose(
        self, study: Study, task: str, q: int, seed: int, before: int | None = None
    ) -> torch.Tensor:
        return sobol_points(study, task, q, before)

    def __repr__(self) -> str:
        return "SobolProposer()"
