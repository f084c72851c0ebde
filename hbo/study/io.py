"""Export and import a study: JSON (the whole study) and CSV (its trials).

JSON holds everything a study is: ``{"format": "hbo-study", "version": 2, "name",
"space", "task", "direction", "seed", "trials": [{"id", "task", "origin", "state",
"value", "params", "user_attrs", "datetime_start", "datetime_complete"}, ...]}`` (times
in ISO 8601, UTC, or null). :func:`load_json` rebuilds it in any storage, with the same
trial ids, states, values, user attributes and times (``Study.load`` of the result
equals the original); it also reads version 1 files (no user attributes or times: the
import's time stands in).

CSV is :meth:`Study.trials_dataframe` without ``duration`` (which the times give):
columns ``trial_id, task, origin, state, value``, one per parameter, then
``datetime_start, datetime_complete`` and ``user_attrs_<key>``; each cell the text of its
value (a time in ISO 8601, a user attribute as JSON), None empty. :func:`import_csv`
appends such rows to a study with the same space, reading each cell by its column's type;
the time and user attribute columns may be left out (as in files of earlier versions).

Both check every trial before they store anything (a study included), and store all of
them in one transaction, so a bad file stores nothing.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from hbo.errors import HBOError, InvalidArgumentError, InvalidDataError
from hbo.space import Categorical, Parameter, SearchSpace, space_from_dict, space_to_dict
from hbo.storage import Storage
from hbo.study.arguments import check_user_attrs
from hbo.study.frame import COLUMNS as _COLUMNS
from hbo.study.frame import TIME_COLUMNS, USER_ATTR_PREFIX
from hbo.study.study import Study
from hbo.trial import Origin, Trial, TrialState

FORMAT, VERSION = "hbo-study", 2
_STUDY_KEYS = ("name", "space", "task", "direction", "seed", "trials")
_TRIAL_KEYS = {1: {"id", "task", "origin", "state", "value", "params"}}
_TRIAL_KEYS[2] = _TRIAL_KEYS[1] | {"user_attrs", *TIME_COLUMNS}


def to_dict(study: Study) -> dict[str, Any]:
    """The whole study as a JSON-ready dict (see the module docstring)."""
    _one_outcome(study, "save_json")
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
                "user_attrs": t.user_attrs,
                "datetime_start": _iso(t.datetime_start),
                "datetime_complete": _iso(t.datetime_complete),
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
    version = data.get("version")
    if version not in _TRIAL_KEYS or any(k not in data for k in _STUDY_KEYS):
        raise InvalidDataError(
            f"{path}: an hbo study export of version {sorted(_TRIAL_KEYS)} has keys "
            f"{list(_STUDY_KEYS)}; this one has version {version!r} and keys {sorted(data)}"
        )
    trials = data["trials"]
    if not isinstance(trials, list) or not all(isinstance(t, Mapping) for t in trials):
        raise InvalidDataError(f"{path}: 'trials' must be a list of trial objects")
    keys = _TRIAL_KEYS[version]
    bad = [i for i, t in enumerate(trials) if set(t) != keys]
    if bad:
        raise InvalidDataError(
            f"{path}: trials at positions {bad[:5]} do not have the keys {sorted(keys)} "
            f"(of version {version})"
        )
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
    """Write the rows of :meth:`Study.trials_dataframe` to ``path`` (one per trial, the
    columns of the module docstring).

    Cells hold each value's text (``str``; a user attribute as JSON; None is the empty
    cell), so that :func:`import_csv` reads back exactly what is stored.

    Raises:
        InvalidArgumentError: two choices of a Categorical have the same text (use JSON).
    """
    _one_outcome(study, "save_csv")
    for param in study.space.params:
        _csv_reader(param)  # refuse a space whose file could not be read back
    names = study.space.names
    trials = to_dict(study)["trials"]
    keys = sorted({key for t in trials for key in t["user_attrs"]})
    rows = [
        [t["id"], t["task"], t["origin"], t["state"], t["value"],
         *(t["params"][n] for n in names), *(t[c] for c in TIME_COLUMNS),
         *(json.dumps(t["user_attrs"][k]) if k in t["user_attrs"] else None for k in keys)]
        for t in trials
    ]
    columns = [*_COLUMNS, *names, *TIME_COLUMNS, *(USER_ATTR_PREFIX + k for k in keys)]
    pd.DataFrame(rows, columns=columns, dtype=object).to_csv(path, index=False)


def import_csv(study: Study, path: str | os.PathLike) -> None:
    """Append the trials of a CSV written by :func:`save_csv` to ``study`` (new ids)."""
    _one_outcome(study, "import_csv")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise InvalidDataError(f"{path}: cannot read trials from it ({exc})") from None
    expected = [*_COLUMNS, *study.space.names]
    found = list(frame.columns)
    extra = found[len(expected):]
    times = [c for c in extra if c in TIME_COLUMNS]
    keys = [c[len(USER_ATTR_PREFIX):] for c in extra if c.startswith(USER_ATTR_PREFIX)]
    if found[: len(expected)] != expected or len(times) + len(keys) + extra.count(
        "duration"
    ) != len(extra):
        raise InvalidDataError(
            f"{path}: columns must be {expected}, then any of {[*TIME_COLUMNS, 'duration']} "
            f"(duration is ignored) and '{USER_ATTR_PREFIX}<key>' columns; got {found}"
        )
    readers = {p.name: _csv_reader(p) for p in study.space.params}
    records = [
        {
            "id": row["trial_id"],
            "task": row["task"],
            "origin": row["origin"],
            "state": row["state"],
            "value": None if row["value"] == "" else _number(row["value"]),
            "params": {name: read(row[name]) for name, read in readers.items()},
            "user_attrs": {k: _json(row[USER_ATTR_PREFIX + k]) for k in keys
                           if row[USER_ATTR_PREFIX + k] != ""},
            **{c: row[c] or None for c in times},
        }
        for row in frame.to_dict("records")
    ]
    _store(study, _validated(study.space, records, f"{path}", same_ids=False))


def _one_outcome(study: Study, method: str) -> None:
    """Refuse ``method`` for a study of several outcomes: the formats hold one value."""
    if len(study.outcomes) > 1:
        raise InvalidArgumentError(
            f"{method} writes and reads one value per trial; this study has the outcomes "
            f"{study.outcomes} (read them with study.trials_dataframe())"
        )


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _json(text: str) -> Any:
    """A CSV cell of a user attribute: its JSON, or the text itself if it is not JSON
    (a cell typed by hand)."""
    try:
        return json.loads(text)
    except ValueError:
        return text


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
) -> list[Trial]:
    """Every trial checked, as a :class:`Trial` for :func:`_store` (ids as given).

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
            attrs = check_user_attrs(t.get("user_attrs"))
        except HBOError as exc:  # the same error, saying which row
            raise type(exc)(f"{where}: {exc}") from None
        start, complete = (_time(t.get(c), f"{where}: {c}") for c in TIME_COLUMNS)
        rows.append(Trial(i, t["task"], params, state, None if value is None else float(value),
                          origin, attrs, start, complete))
    return rows


def _time(text: Any, where: str) -> datetime | None:
    """An ISO 8601 time (a naive one is taken as UTC) as a UTC datetime; None stays None."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise InvalidDataError(f"{where} must be an ISO 8601 time or null, got {text!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _store(study: Study, trials: list[Trial]) -> None:
    """Store trials of :func:`_validated` in order (ids follow the stored ones), in one
    transaction."""
    if trials:
        study.storage.add_trials(trials)
