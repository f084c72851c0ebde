"""The design matrix ``X`` (``k x p``) of a meta-regression, from the ``mods`` argument.

As metafor's ``rma(yi, vi, mods=...)``, ``mods`` is one of

- a ``k x p'`` matrix (or a length-``k`` vector: one moderator) of numbers, a
  :class:`pandas.DataFrame` of numeric columns, or a :class:`pandas.Series`; an intercept
  column of ones is put in front unless ``intercept=False``;
- a one-sided formula over the columns of ``data``: ``"~ ablat + year"``. Terms are column
  names joined by ``+``, each a main effect. A numeric column enters as it is; a column of
  strings, booleans or categories, or a term written ``factor(name)``, enters as treatment
  (dummy) contrasts against its first level in sorted order (R's ``factor`` default), one
  column per other level named ``name`` + level (``allocrandom``, as R names them); in a
  model without intercept the first categorical term gets a column for every level, as in R. ``- 1``
  or a leading ``0 +`` drops the intercept; ``~ 1`` is the intercept-only model. Column
  names are identifiers (letters, digits, ``_`` and ``.``).

The formula language is deliberately small (no interactions, transformations or ``I()``);
build such columns in ``data`` first. Every error names what is wrong and what is accepted.
The resulting :class:`Design` remembers how it was built, so that :meth:`Design.rows` maps
new moderator values (a matrix, or a DataFrame for a formula) onto the same columns, as
metafor's ``predict(res, newmods=...)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hbo.errors import ArgumentTypeError, InvalidArgumentError, InvalidDataError

INTERCEPT = "intrcpt"
_IDENT = r"[A-Za-z_.][A-Za-z0-9_.]*"
_NAME = re.compile(rf"^(?:factor\((?P<factor>{_IDENT})\)|(?P<plain>{_IDENT}))$")


@dataclass(frozen=True)
class _Term:
    """One moderator: a numeric column, or a categorical one with its ``levels``."""

    column: str
    levels: tuple | None = None  # None: numeric; else (reference, other levels...)
    full: bool = False  # one column per level (the first factor of a model without intercept)

    @property
    def coded(self) -> tuple:
        """The levels that get a dummy column."""
        return self.levels if self.full else self.levels[1:]


@dataclass(frozen=True)
class Design:
    """The design matrix ``X`` (``k x p``), its column names, and how new rows are built.

    ``intercept`` is True when the first column is the intercept added here;
    ``terms`` is set for a formula (else ``None``).
    """

    X: np.ndarray
    names: tuple[str, ...]
    intercept: bool
    terms: tuple[_Term, ...] | None = None

    @property
    def p(self) -> int:
        return self.X.shape[1]

    def rows(self, newmods, intercept: bool | None = None) -> np.ndarray:
        """New moderator values as rows of the design, shape ``m x p``.

        ``newmods``: a DataFrame with the formula's columns (formula fits only), or numbers
        as metafor's ``predict``: a matrix with ``p'`` columns (the moderators; the intercept
        is added when the model has one and ``intercept`` is not False) or ``p`` columns (used
        as they are); a vector is one new study, except for a model with one moderator,
        where each entry is a study.
        """
        if isinstance(newmods, pd.DataFrame) and self.terms is not None:
            return _formula_matrix(newmods, self.terms, self.intercept, "newmods")
        if isinstance(newmods, str):
            raise ArgumentTypeError("newmods must be numbers (or a DataFrame for a formula "
                                    "fit); got a string.")
        try:
            arr = np.asarray(newmods, dtype=float)
        except (TypeError, ValueError) as exc:
            raise InvalidDataError(f"newmods must be numeric: {exc}") from exc
        n_mods = self.p - int(self.intercept)
        if arr.ndim == 0:
            arr = arr.reshape(1, 1)
        elif arr.ndim == 1:
            arr = arr[:, None] if n_mods == 1 or self.p == 1 else arr[None, :]
        if arr.ndim != 2:
            raise InvalidDataError(f"newmods must be a vector or a matrix; got shape {arr.shape}.")
        if not np.all(np.isfinite(arr)):
            raise InvalidDataError("newmods contains NaN or infinite values.")
        if arr.shape[1] == self.p:  # with the intercept column: intercept= is ignored
            return arr
        if arr.shape[1] == n_mods and self.intercept:
            add = 1.0 if intercept is None or intercept else 0.0
            return np.column_stack([np.full(arr.shape[0], add), arr])
        raise InvalidDataError(
            f"newmods has {arr.shape[1]} columns; the model has {n_mods} moderators "
            f"({', '.join(self.names[int(self.intercept):]) or 'none'})"
            + (f" and an intercept, so give {n_mods} or {self.p} columns." if self.intercept
               else f", so give {self.p} columns.")
        )


def design_matrix(mods, data: pd.DataFrame | None, k: int, intercept: bool = True) -> Design:
    """The :class:`Design` of ``k`` studies for ``mods`` (see the module docstring).

    Raises:
        InvalidDataError: wrong number of rows, non-numeric or non-finite moderators, a
            constant categorical moderator, a design that is not of full column rank, or as
            many coefficients as studies or more.
        InvalidArgumentError: a malformed formula, a formula column missing from ``data``.
        ArgumentTypeError: a formula without ``data``, ``data`` given beside a matrix.
    """
    if not isinstance(intercept, bool):
        raise ArgumentTypeError(f"intercept must be True or False; got {intercept!r}.")
    if isinstance(mods, str):
        design = _formula_design(mods, data, k)
    else:
        if data is not None:
            raise ArgumentTypeError(
                "data is used with a formula only (mods='~ a + b'); pass the moderator values "
                "themselves as mods, or mods as a formula over data."
            )
        design = _matrix_design(mods, k, intercept)
    _check_rank(design, k)
    return design


def _matrix_design(mods, k: int, intercept: bool) -> Design:
    if isinstance(mods, pd.Series):
        mods = mods.to_frame()
    if isinstance(mods, pd.DataFrame):
        bad = [c for c in mods.columns if not pd.api.types.is_numeric_dtype(mods[c])
               or pd.api.types.is_bool_dtype(mods[c])]
        if bad:
            raise InvalidDataError(
                f"mods column(s) {bad} are not numeric; give a formula (mods='~ ...', "
                "data=frame) to turn categorical columns into dummies, or code them yourself."
            )
        names = [str(c) for c in mods.columns]
        arr = mods.to_numpy(dtype=float)
    else:
        try:
            arr = np.asarray(mods, dtype=float)
        except (TypeError, ValueError) as exc:
            raise InvalidDataError(f"mods must be numeric: {exc}") from exc
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2:
            raise InvalidDataError(
                f"mods must be a vector or a k x p matrix; got shape {arr.shape}."
            )
        names = [f"mod{j + 1}" for j in range(arr.shape[1])] if arr.shape[1] > 1 else ["mods"]
    if arr.shape[0] != k:
        raise InvalidDataError(
            f"mods has {arr.shape[0]} rows for {k} studies; give one row per study "
            f"(shape {k} x p)."
        )
    _check_finite(arr, names)
    if intercept:
        arr = np.column_stack([np.ones(k), arr])
        names = [INTERCEPT, *names]
    return Design(arr, tuple(names), intercept)


def parse_formula(formula: str) -> tuple[list[str], bool]:
    """The terms of a one-sided formula ``"~ a + factor(b) - 1"`` and whether it keeps the
    intercept."""
    text = formula.strip()
    if not text.startswith("~"):
        raise InvalidArgumentError(
            f"mods formula must be one-sided, starting with '~' (as '~ ablat + year'); "
            f"got {formula!r}."
        )
    body = text[1:].replace(" ", "")
    if not body:
        raise InvalidArgumentError(f"mods formula {formula!r} has no terms; use '~ 1' for the "
                                   "intercept-only model.")
    intercept = True
    if body.endswith("-1"):
        intercept, body = False, body[:-2]
    elif body.startswith("0+") or body == "0":
        intercept, body = False, body[2:]
    elif body.endswith("+0"):
        intercept, body = False, body[:-2]
    terms = [] if body in ("", "1") else body.split("+")
    if terms and terms[0] == "1":
        terms = terms[1:]
    out = []
    for term in terms:
        match = _NAME.match(term)
        if not match:
            raise InvalidArgumentError(
                f"mods formula term {term!r} in {formula!r} is not supported: terms are column "
                "names or factor(name) joined by '+', with '- 1' or '0 +' to drop the "
                "intercept (no interactions or transformations: add such columns to data)."
            )
        out.append(match.group("factor") and f"factor({match.group('factor')})"
                   or match.group("plain"))
    if len(set(out)) != len(out):
        raise InvalidArgumentError(f"mods formula {formula!r} names a term twice.")
    return out, intercept


def _formula_design(formula: str, data, k: int) -> Design:
    if data is None:
        raise ArgumentTypeError(
            f"mods={formula!r} is a formula: pass the DataFrame holding its columns as data=."
        )
    if not isinstance(data, pd.DataFrame):
        raise ArgumentTypeError(f"data must be a pandas DataFrame; got {type(data).__name__}.")
    if len(data) != k:
        raise InvalidDataError(f"data has {len(data)} rows for {k} studies.")
    names, intercept = parse_formula(formula)
    terms = []
    for name in names:
        factor = name.startswith("factor(")
        column = name[7:-1] if factor else name
        if column not in data.columns:
            raise InvalidArgumentError(
                f"mods formula column {column!r} is not in data; its columns are "
                f"{[str(c) for c in data.columns]}."
            )
        values = data[column]
        if values.isna().any():
            rows = np.flatnonzero(values.isna().to_numpy())[:5].tolist()
            raise InvalidDataError(
                f"moderator {column!r} is missing (NaN) for study index {rows}; drop those "
                "studies or supply values."
            )
        numeric = (pd.api.types.is_numeric_dtype(values)
                   and not pd.api.types.is_bool_dtype(values))
        if factor or not numeric:
            levels = tuple(sorted(pd.unique(values), key=lambda x: (str(type(x)), x)))
            if len(levels) < 2:
                raise InvalidDataError(
                    f"categorical moderator {column!r} has one level ({levels[0]!r}): it "
                    "cannot be told apart from the intercept; leave it out."
                )
            full = not intercept and not any(t.levels for t in terms)
            terms.append(_Term(column, levels, full))
        else:
            terms.append(_Term(column))
    terms = tuple(terms)
    X = _formula_matrix(data, terms, intercept, "data")
    names = [INTERCEPT] if intercept else []
    for term in terms:
        if term.levels is None:
            names.append(term.column)
        else:
            names += [f"{term.column}{level}" for level in term.coded]
    if X.shape[1] == 0:
        raise InvalidArgumentError(f"mods formula {formula!r} leaves no coefficient.")
    return Design(X, tuple(names), intercept, terms)


def _formula_matrix(frame: pd.DataFrame, terms, intercept: bool, what: str) -> np.ndarray:
    cols = [np.ones(len(frame))] if intercept else []
    for term in terms:
        if term.column not in frame.columns:
            raise InvalidArgumentError(f"{what} lacks the moderator column {term.column!r}.")
        values = frame[term.column]
        if term.levels is None:
            try:
                col = values.to_numpy(dtype=float)
            except (TypeError, ValueError) as exc:
                raise InvalidDataError(f"{what} column {term.column!r} must be numeric: "
                                       f"{exc}") from exc
            _check_finite(col[:, None], [term.column])
            cols.append(col)
        else:
            unknown = sorted({str(x) for x in values if x not in term.levels})
            if unknown:
                raise InvalidDataError(
                    f"{what} column {term.column!r} has level(s) {unknown} the model was not "
                    f"fitted with; known levels: {list(term.levels)}."
                )
            cols += [(values == level).to_numpy(dtype=float) for level in term.coded]
    return np.column_stack(cols) if cols else np.empty((len(frame), 0))


def _check_finite(arr: np.ndarray, names) -> None:
    bad = ~np.isfinite(arr)
    if bad.any():
        rows, cols = np.nonzero(bad)
        raise InvalidDataError(
            f"moderator {names[cols[0]]!r} is NaN or infinite for study index "
            f"{sorted(set(rows.tolist()))[:5]}; drop those studies or supply finite values."
        )


def _check_rank(design: Design, k: int) -> None:
    p = design.p
    if p >= k:
        raise InvalidDataError(
            f"the model has {p} coefficients ({', '.join(design.names)}) for {k} studies; "
            "a meta-regression needs fewer coefficients than studies (tau^2 and the residual "
            "heterogeneity test need k - p >= 1). Use fewer moderators."
        )
    # rank of the column-scaled design (columns of very different size, e.g. year and a
    # 0/1 dummy, would otherwise look nearly dependent to the SVD's default tolerance)
    scale = np.max(np.abs(design.X), axis=0)
    scale[scale == 0] = 1.0
    rank = np.linalg.matrix_rank(design.X / scale)
    if rank < p:
        raise InvalidDataError(
            f"the moderators are linearly dependent (design rank {rank} < {p} columns: "
            f"{', '.join(design.names)}); a column is constant or a combination of others "
            "(with the intercept). Drop the redundant moderator."
        )
