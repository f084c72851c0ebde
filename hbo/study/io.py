"""Export and import a study: JSON (the whole study) and CSV (its trials).

JSON holds everything a study is: ``{"format": "hbo-study", "version": 1, "name",
"space", "task", "direction", "seed", "trials": [{"id", "task", "origin", "state",
"value", "params"}, ...]}``. :func:`load_json` rebuilds it in any storage, with the
same trial ids, states and values (``Study.load`` of the result equals the original).

CSV is :meth:`Study.trials_dataframe` (columns ``trial_id, task, origin, state, value``
then one per parameter, each cell the text of its value, None empty); :func:`import_csv`
appends such rows to a study with the same space, reading each cell by its column's type.

Both check every trial before they store anything (a study included), so a bad file
stores nothing.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from hbo.errors import HBOError, InvalidArgumentError, InvalidDataError
from hbo.space import Categorical, Parameter, SearchSpace, space_from_dict, space_to_dict
from hbo.storage import Storage
from hbo.study.study import Study
from hbo.trial import Origin, TrialState

FORMAT, VERSION = "hbo-study", 1
_STUDY_KEYS = ("name", "space", "task", "direction", "seed", "trials")
_COLUMNS = ["trial_id", "task", "origin", "state", "value"]


def to_dict(study: Study) -> dict[str, Any]:
    """The whole study as a JSON-ready dict (see the module docstring)."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "name": study.name,
        "space": space_to_dict(study.space),
        "task": study.task,
        "direction": study.direction,
        "seed": study.seed,
        "trials": [
            {
                "id": t.id,
                "task": t.task,
                "origin": t.origin.value,
                "state": t.state.value,
                "value": t.value,
                "params": t.params,
            }
            for t in study.storage.get_trials()
        ],
    }


def save_json(study: Study, path: str | os.PathLike) -> None:
    """Write :func:`to_dict` of the study to ``path``."""
    with open(path, "w", encoding="utf-8") as file:
        json.dump(to_dict(study), file, indent=1, allow_nan=False)


def load_json(
    path: str | os.PathLike, storage: Storage | str | None = None, name: str | None = None
) -> Study:
    """Rebuild a study saved by :func:`save_json` in ``storage`` (default: in memory).

    Args:
        path: The JSON file.
        storage: Where to put it; the study must not exist there yet (or hold no trial).
        name: Its name there (default: the saved name; needed with a URL).
    """
    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
    except (OSError, ValueError) as exc:
        raise InvalidDataError(f"{path}: cannot read a study from it ({exc})") from None
    if not isinstance(data, Mapping) or data.get("format") != FORMAT:
        raise InvalidDataError(f"{path}: not an hbo study export (no 'format': {FORMAT!r})")
    if data.get("version") != VERSION or any(k not in data for k in _STUDY_KEYS):
        raise InvalidDataError(
            f"{path}: an hbo study export of version {VERSION} has keys {list(_STUDY_KEYS)}; "
            f"this one has version {data.get('version')!r} and keys {sorted(data)}"
        )
    trials = data["trials"]
    if not isinstance(trials, list) or not all(isinstance(t, Mapping) for t in trials):
        raise InvalidDataError(f"{path}: 'trials' must be a list of trial objects")
    keys = {"id", "task", "origin", "state", "value", "params"}
    bad = [i for i, t in enumerate(trials) if set(t) != keys]
    if bad:
        raise InvalidDataError(f"{path}: trials at positions {bad[:5]} lack keys {sorted(keys)}")
    space = space_from_dict(data["space"])
    rows = _validated(space, trials, f"{path}", same_ids=True)
    if isinstance(storage, str) and name is None:
        name = data["name"]
    study = Study(space, data["task"], data["direction"], data["seed"], storage=storage, name=name)
    held = len(study.storage.get_trials())
    if held:
        raise InvalidDataError(
            f"{path}: the target study already holds {held} trials; import into a new one"
        )
    _store(study, rows)
    return study


def save_csv(study: Study, path: str | os.PathLike) -> None:
    """Write the rows of :meth:`Study.trials_dataframe` to ``path`` (one per trial).

    Cells hold each value's text (``str``; None is the empty cell), so that
    :func:`import_csv` reads back exactly what is stored.

    Raises:
        InvalidArgumentError: two choices of a Categorical have the same text (use JSON).
    """
    for param in study.space.params:
        _csv_reader(param)  # refuse a space whose file could not be read back
    names = study.space.names
    rows = [
        [t["id"], t["task"], t["origin"], t["state"], t["value"], *(t["params"][n] for n in names)]
        for t in to_dict(study)["trials"]
    ]
    pd.DataFrame(rows, columns=[*_COLUMNS, *names], dtype=object).to_csv(path, index=False)


def import_csv(study: Study, path: str | os.PathLike) -> None:
    """Append the trials of a CSV written by :func:`save_csv` to ``study`` (new ids)."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise InvalidDataError(f"{path}: cannot read trials from it ({exc})") from None
    expected = [*_COLUMNS, *study.space.names]
    if list(frame.columns) != expected:
        raise InvalidDataError(f"{path}: columns must be {expected}, got {list(frame.columns)}")
    readers = {p.name: _csv_reader(p) for p in study.space.params}
    records = [
        {
            "id": row["trial_id"],
            "task": row["task"],
            "origin": row["origin"],
            "state": row["state"],
            "value": None if row["value"] == "" else _number(row["value"]),
            "params": {name: read(row[name]) for name, read in readers.items()},
        }
        for row in frame.to_dict("records")
    ]
    _store(study, _validated(study.space, records, f"{path}", same_ids=False))


def _number(text: str) -> int | float | str:
    """A cell's text as an int or a float; text that is neither is returned for the
    validation to reject, naming the row and the column."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _csv_reader(param: Parameter) -> Callable[[str], Any]:
    """The function from a CSV cell of ``param`` to its value: a number for a Float or
    an Int, the choice whose text it is for a Categorical (None: the empty cell)."""
    if not isinstance(param, Categorical):
        return _number
    texts: dict[str, list] = {}
    for choice in param.choices:
        texts.setdefault("" if choice is None else str(choice), []).append(choice)
    same = next(([t, c] for t, c in texts.items() if len(c) > 1), None)
    if same is not None:
        raise InvalidArgumentError(
            f"Categorical {param.name!r}: choices {same[1]} are both written {same[0]!r} in "
            "a CSV, which cannot tell them apart; use save_json and load_json"
        )
    return lambda text: texts[text][0] if text in texts else text


def _validated(
    space: SearchSpace, trials: list[Mapping], source: str, same_ids: bool
) -> list[tuple]:
    """Every trial checked: rows ``(task, params, state, value, origin)`` for :func:`_store`.

    ``same_ids``: the ids must be ``0, 1, 2, ...`` (they are kept).
    """
    rows = []
    for i, t in enumerate(trials):
        where = f"{source}: trial {i}"
        if same_ids and t["id"] != i:
            raise InvalidDataError(f"{where} has id {t['id']!r}; ids must be 0, 1, 2, ...")
        try:
            state, origin = TrialState(t["state"]), Origin(t["origin"])
        except ValueError:
            raise InvalidDataError(
                f"{where}: unknown state {t['state']!r} or origin {t['origin']!r}"
            ) from None
        value = t["value"]
        if (state is TrialState.COMPLETE) != (value is not None):
            raise InvalidDataError(f"{where}: a {state.value} trial with value {value!r}")
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if value is not None and not (number and math.isfinite(value)):
            raise InvalidDataError(f"{where}: value must be a finite number, got {value!r}")
        if not isinstance(t["task"], str) or not t["task"]:
            raise InvalidDataError(f"{where}: task must be a non-empty string, got {t['task']!r}")
        try:
            params = space.validate(t["params"], "params")
        except HBOError as exc:  # the same error, saying which row
            raise type(exc)(f"{where}: {exc}") from None
        rows.append((t["task"], params, state, value, origin))
    return rows


def _store(study: Study, rows: list[tuple]) -> None:
    """Store rows of :func:`_validated` in order (ids follow the stored ones)."""
    # consecutive rows of one task, origin and kind (complete or not) in one transaction
    runs = itertools.groupby(rows, key=lambda r: (r[0], r[4], r[2] is TrialState.COMPLETE))
    for (task, origin, complete), run in runs:
        run = list(run)
        values = [float(r[3]) for r in run] if complete else None
        stored = study.storage.create_trials(task, [r[1] for r in run], values, origin=origin)
        for trial, row in zip(stored, run, strict=True):
            if row[2] is TrialState.FAILED:
                study.storage.finish_trial(trial.id, TrialState.FAILED, None)
