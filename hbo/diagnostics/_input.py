"""Validation shared by the diagnostics: the InferenceData they read."""

from __future__ import annotations

import arviz as az
import xarray as xr

from hbo.errors import InvalidArgumentError, InvalidDataError


def posterior_of(idata: az.InferenceData) -> xr.Dataset:
    """The ``posterior`` group of ``idata`` (``chain x draw x ...`` variables), or an error."""
    if not isinstance(idata, az.InferenceData) or "posterior" not in idata.groups():
        raise InvalidDataError(
            "idata must be an arviz.InferenceData with a posterior group (e.g. FitResult.idata "
            f"or az.from_dict(posterior=...)), got {type(idata).__name__}"
        )
    return idata.posterior


def check_var_names(post: xr.Dataset, names: list[str] | None, arg: str = "var_names") -> None:
    """Raise :class:`InvalidArgumentError` naming any of ``names`` not in ``post``."""
    if names is None:
        return
    if isinstance(names, str):
        names = [names]
    unknown = sorted(set(names) - set(post.data_vars))
    if unknown:
        raise InvalidArgumentError(
            f"{arg} {unknown} are not posterior variables; choose from {sorted(post.data_vars)}"
        )

