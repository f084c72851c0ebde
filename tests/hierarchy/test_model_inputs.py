"""as_tensor, the boundary where pandas / numpy data become the models' tensors."""

import numpy as np
import pandas as pd
import pytest
import torch

from hbo.errors import InvalidDataError
from hbo.hierarchy.models import IRT2PL, StochasticVolatility, simulate_irt
from hbo.hierarchy.models._base import as_tensor


def test_read_only_arrays_are_copied_without_a_warning():
    x = np.array([1.0, 2.0, 3.0])
    x.setflags(write=False)
    # torch warns ("non-writable") when it wraps a read-only array; warnings are errors here
    t = as_tensor(x, "x")
    t += 1.0  # the caller's array is untouched: a copy, not a view
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])
    writable = np.array([1.0, 2.0])
    t = as_tensor(writable, "x")
    writable[0] = 10.0
    assert t[0].item() == 1.0


def test_models_take_read_only_pandas_columns():
    data, _ = simulate_irt(3, 4, 5)
    frozen = {}
    for col in data:
        frozen[col] = data[col].to_numpy(dtype=float, copy=True)
        frozen[col].setflags(write=False)
    IRT2PL(frozen["correct"], frozen["student"], frozen["item"], frozen["country"])
    returns = np.linspace(-1.0, 1.0, 10)
    returns.setflags(write=False)
    StochasticVolatility(pd.Series(returns, copy=False))


def test_bad_input_is_named():
    with pytest.raises(InvalidDataError, match="y must be numeric"):
        as_tensor(["a", "b"], "y")
    with pytest.raises(InvalidDataError, match="sigma must have 1 dimension"):
        as_tensor([[1.0]], "sigma")
    with pytest.raises(InvalidDataError, match="y contains NaN"):
        as_tensor([1.0, np.nan], "y")
    assert as_tensor([1, 0], "c").dtype == torch.float64
