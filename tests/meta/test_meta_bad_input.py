"""Bad input to random_effects: each error names the argument and what is accepted."""

import numpy as np
import pytest

from hbo.errors import ArgumentTypeError, InvalidArgumentError, InvalidDataError
from hbo.meta import random_effects

Y = [0.1, 0.3, -0.2, 0.5]
V = [0.04, 0.09, 0.05, 0.02]


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((Y, [0.04, -0.09, 0.05, 0.02]), {}, InvalidDataError, r"vi must be > 0.*\[1\]"),
        ((Y, [0.04, 0.0, 0.05, 0.02]), {}, InvalidDataError, "vi must be > 0"),
        ((Y,), {"sei": [0.2, 0.3, 0.0, 0.1]}, InvalidDataError, "sei must be > 0"),
        (([0.1, np.nan, 0.2, 0.3], V), {}, InvalidDataError, "yi contains NaN"),
        ((Y, [0.04, np.inf, 0.05, 0.02]), {}, InvalidDataError, "vi contains NaN or infinite"),
        ((Y, V[:3]), {}, InvalidDataError, "same length; got 4 and 3"),
        (([0.1], [0.04]), {}, InvalidDataError, "at least 2"),
        ((Y, V), {"method": "BAYES"}, InvalidArgumentError, "method must be one of"),
        ((Y, V), {"test": "t"}, InvalidArgumentError, "test must be 'z'"),
        ((Y, V), {"level": 95}, InvalidArgumentError, "level must be a coverage"),
        ((Y, V), {"sei": V}, InvalidArgumentError, "exactly one of vi .* got both"),
        ((Y,), {}, InvalidArgumentError, "got neither"),
        ((Y, V), {"method": "FE", "test": "knha"}, InvalidArgumentError, "random-effects"),
        ((Y, V), {"labels": ["a", "b"]}, InvalidDataError, "labels has 2 entries"),
        (([[0.1, 0.2]], [[0.1, 0.2]]), {}, InvalidDataError, "one-dimensional"),
        (([], []), {}, InvalidDataError, "yi is empty"),
        ((["a", "b"], V[:2]), {}, InvalidDataError, "yi must be numeric"),
        (("0.1 0.2", V[:2]), {}, ArgumentTypeError, "got a string"),
    ],
)
def test_bad_input_raises_a_named_error(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        random_effects(*args, **kwargs)


def test_single_study_fixed_effect_is_allowed():
    r = random_effects([0.3], [0.04], method="FE")
    assert r.mu == 0.3 and r.se == pytest.approx(0.2)
    assert (r.q, r.q_df, r.i2, r.h2) == (0.0, 0, 0.0, 1.0)


def test_leave_one_out_needs_three_studies():
    with pytest.raises(InvalidDataError, match="at least 3"):
        random_effects(Y[:2], V[:2]).leave_one_out()


def test_method_is_case_insensitive():
    assert random_effects(Y, V, method="reml").method == "REML"
