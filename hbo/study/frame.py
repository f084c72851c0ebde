"""A study's trials as a table: :meth:`hbo.Study.trials_dataframe` (and the CSV export).

Columns, in order: ``trial_id, task, origin, state, value``, in a study of several
outcomes ``values_<name>`` per outcome (Optuna's ``values_<i>``, named; ``value`` is left
out when there are several objectives), one per parameter (its name),
``datetime_start, datetime_complete`` (``datetime64[us, UTC]``; NaT while waiting
or running),
``duration`` (a timedelta; NaT until finished), then ``user_attrs_<key>`` for each user
attribute key any trial has (sorted; empty where a trial lacks it), as Optuna names
them. Enqueued trials not yet handed out are rows too, in state ``waiting``.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from hbo.space import SearchSpace
from hbo.trial import Trial

COLUMNS = ["trial_id", "task", "origin", "state", "value"]
TIME_COLUMNS = ["datetime_start", "datetime_complete"]
USER_ATTR_PREFIX = "user_attrs_"
VALUES_PREFIX = "values_"


def user_attr_keys(trials: Sequence[Trial]) -> list[str]:
    """Every user attribute key of ``trials``, sorted."""
    return sorted({key for t in trials for key in t.user_attrs})


def trials_frame(
    space: SearchSpace, trials: Sequence[Trial], outcomes: Sequence[str] | None = None,
    *, value: bool = True,
) -> pd.DataFrame:
    """One row per trial of ``trials``, the columns of the module docstring: a
    ``values_<name>`` column for each of ``outcomes`` (None: none), and ``value`` if
    ``value``."""
    keys = user_attr_keys(trials)
    attrs = [USER_ATTR_PREFIX + key for key in keys]
    head = [*COLUMNS[:4], *(["value"] if value else []),
            *(VALUES_PREFIX + name for name in outcomes or ())]
    rows = [
        {
            "trial_id": t.id,
            "task": t.task,
            "origin": t.origin.value,
            "state": t.state.value,
            "value": t.value,
            **{VALUES_PREFIX + name: v for name, v in (t.values or {}).items()},
            **t.params,
            "datetime_start": t.datetime_start,
            "datetime_complete": t.datetime_complete,
            **{USER_ATTR_PREFIX + key: value for key, value in t.user_attrs.items()},
        }
        for t in trials
    ]
    frame = pd.DataFrame(rows, columns=[*head, *space.names, *TIME_COLUMNS, *attrs])
    for column in TIME_COLUMNS:  # microseconds, as datetime: one dtype whatever the rows
        frame[column] = pd.to_datetime(frame[column], utc=True).astype("datetime64[us, UTC]")
    frame.insert(len(head) + len(space.names) + 2, "duration",
                 frame["datetime_complete"] - frame["datetime_start"])
    return frame
