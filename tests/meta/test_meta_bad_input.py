"""Bad input to random_effects: each error names the argument and what is accepted."""

import numpy as np
import pytest

from hbo._warnings import NumericalWarning
from hbo.errors import ArgumentTypeError, InvalidArgumentError, InvalidDataError
from hbo.meta import random_effects
from hbo.meta._inputs import V_MIN

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
        ((Y, V), {"test": "wald"}, InvalidArgumentError, "test must be 'z'"),
        ((Y, V), {"level": 95}, InvalidArgumentError, "level must be a coverage"),
        ((Y, V), {"sei": V}, InvalidArgumentError, "exactly one of vi .* got both"),
        ((Y,), {}, InvalidArgumentError, "got neither"),
        ((Y, V), {"data": {"a": 1}}, InvalidArgumentError, "meta-regression only"),
        ((Y, V), {"labels": ["a", "b"]}, InvalidDataError, "labels has 2 entries"),
        (([[0.1, 0.2]], [[0.1, 0.2]]), {}, InvalidDataError, "one-dimensional"),
        (([], []), {}, InvalidDataError, "yi is empty"),
        ((["a", "b"], V[:2]), {}, InvalidDataError, "yi must be numeric"),
        (("0.1 0.2", V[:2]), {}, ArgumentTypeError, "got a string"),
        ((Y, V), {"level": True}, InvalidArgumentError, "level must be a coverage"),
        # variances whose squares (or whose weights' squares) leave the float range: the
        # estimators divided by zero or overflowed on these
        ((Y, [1e-300] * 4), {}, InvalidDataError, r"vi must lie in \[1.5e-154, 6.7e\+153\]"),
        ((Y, [0.04, 1e300, 0.05, 0.02]), {}, InvalidDataError, r"vi must lie in .*\[1\]"),
        ((Y,), {"sei": [1e-100] * 4}, InvalidDataError, r"sei must lie in \[1.2e-77, "),
    ],
)
def test_bad_input_raises_a_named_error(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        random_effects(*args, **kwargs)


def test_fixed_effect_with_knapp_hartung_warns_as_metafor():
    # metafor fits it and warns that Knapp-Hartung is meant for random-effects models
    with pytest.warns(NumericalWarning, match="meant for random-effects"):
        r = random_effects(Y, V, method="FE", test="knha")
    fe = random_effects(Y, V, method="FE")
    s2 = fe.q / (len(Y) - 1)  # the scaling: residual dispersion of the FE fit
    assert r.se == pytest.approx(fe.se * np.sqrt(s2), rel=1e-12) and r.df == 3


def test_single_study_fixed_effect_is_allowed():
    r = random_effects([0.3], [0.04], method="FE")
    assert r.mu == 0.3 and r.se == pytest.approx(0.2)
    assert (r.q, r.q_df, r.i2, r.h2) == (0.0, 0, 0.0, 1.0)


def test_leave_one_out_needs_three_studies():
    with pytest.raises(InvalidDataError, match="at least 3"):
        random_effects(Y[:2], V[:2]).leave_one_out()


def test_method_is_case_insensitive():
    assert random_effects(Y, V, method="reml").method == "REML"


def test_numpy_numbers_are_accepted():
    assert random_effects(Y, V, level=np.float32(0.9)).ci == pytest.approx(
        random_effects(Y, V, level=0.9).ci, rel=1e-6)  # float32(0.9) is 0.9 to 2e-8
    assert random_effects(Y, V, level=np.float64(0.9)).level == 0.9


def test_variances_at_the_ends_of_the_accepted_range_give_the_unit_fit():
    # y in units c, v in c^2: every statistic but mu's scale is unchanged, up to rounding
    unit = random_effects(Y, V, test="knha")
    for v_scale in (V_MIN / min(V), 1 / V_MIN / max(V)):
        scaled = random_effects(np.array(Y) * np.sqrt(v_scale), np.array(V) * v_scale,
                                test="knha")
        assert (scaled.zval, scaled.pval, scaled.i2, scaled.q) == pytest.approx(
            (unit.zval, unit.pval, unit.i2, unit.q), rel=1e-9)
