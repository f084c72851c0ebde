"""Search space: bounds checks, unit-cube round trips, snapping, Sobol designs."""

import json
import math

import pytest
import torch

import hbo
from hbo.errors import InvalidSpaceError, ParamKeyError, ParamTypeError, ParamValueError
from hbo.space import space_differences, space_from_dict, space_to_dict


@pytest.fixture
def space() -> hbo.SearchSpace:
    return hbo.SearchSpace(
        [
            hbo.Float("lr", 1e-5, 1e-1, log=True),
            hbo.Int("layers", 1, 8),
            hbo.Categorical("activation", ["relu", "tanh", "gelu"]),
        ]
    )


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda: hbo.Float("x", 1.0, 1.0), "empty or inverted"),
        (lambda: hbo.Float("x", 2.0, 1.0), "empty or inverted"),
        (lambda: hbo.Float("x", 0.0, 1.0, log=True), "log=True needs low > 0"),
        (lambda: hbo.Float("x", -1.0, 1.0, log=True), "log=True needs low > 0"),
        (lambda: hbo.Float("x", 0.0, math.inf), "finite number"),
        (lambda: hbo.Float("x", "0", 1.0), "finite number"),
        (lambda: hbo.Int("n", 1, 2.5), "integers"),
        (lambda: hbo.Categorical("c", []), "empty"),
        (lambda: hbo.Categorical("c", "abc"), "list of values"),
        (lambda: hbo.Categorical("c", ["a", "a"]), "duplicates"),
        (lambda: hbo.Float("", 0.0, 1.0), "non-empty string"),
        (lambda: hbo.Float("value", 0.0, 1.0), "reserved"),
        (lambda: hbo.SearchSpace([]), "at least one"),
        (lambda: hbo.SearchSpace([hbo.Float("x", 0, 1), hbo.Int("x", 0, 3)]), "duplicate"),
        (lambda: hbo.SearchSpace([("x", 0, 1)]), "hbo.Float"),
    ],
)
def test_malformed_spaces_raise_named_errors(make, fragment):
    with pytest.raises(InvalidSpaceError, match=fragment):
        make()


def test_invalid_space_error_is_a_value_error():
    assert issubclass(InvalidSpaceError, ValueError)
    assert issubclass(InvalidSpaceError, hbo.HBOError)


def test_encode_decode_round_trip(space):
    params = [
        {"lr": 1e-5, "layers": 1, "activation": "relu"},
        {"lr": 1e-3, "layers": 5, "activation": "gelu"},
        {"lr": 1e-1, "layers": 8, "activation": "tanh"},
    ]
    X = space.encode(params)
    assert X.shape == (3, 3)
    # log scale: 1e-3 is exactly halfway between 1e-5 and 1e-1
    assert X[1, 0].item() == pytest.approx(0.5)
    assert X[:, 2].tolist() == [0.0, 2.0, 1.0]
    decoded = space.decode(X)
    for before, after in zip(params, decoded, strict=True):
        assert after["lr"] == pytest.approx(before["lr"], rel=1e-12)
        assert after["layers"] == before["layers"] and isinstance(after["layers"], int)
        assert after["activation"] == before["activation"]


def test_snap_lands_on_admissible_points(space):
    X = torch.tensor([[0.37, 0.51, 1.6], [1.2, -0.3, -0.4]], dtype=torch.double)
    snapped = space.snap(X)
    grid = space.discrete_dims()[1]
    for row in snapped.tolist():
        assert 0.0 <= row[0] <= 1.0
        assert min(abs(row[1] - g) for g in grid) < 1e-12
        assert row[2] in (0.0, 1.0, 2.0)
    assert snapped[0, 2].item() == 2.0 and snapped[1, 2].item() == 0.0


def test_validate_errors_name_the_parameter(space):
    ok = {"lr": 1e-3, "layers": 2, "activation": "relu"}
    assert space.validate(dict(ok, layers=3.0))["layers"] == 3
    with pytest.raises(ParamKeyError, match=r"missing keys \['layers'\]"):
        space.validate({"lr": 1e-3, "activation": "relu"})
    with pytest.raises(ParamKeyError, match=r"unknown keys \['dropout'\]"):
        space.validate(dict(ok, dropout=0.1))
    with pytest.raises(ParamTypeError, match="'lr' takes a number"):
        space.validate(dict(ok, lr="0.001"))
    with pytest.raises(ParamTypeError, match="'layers' takes a number"):
        space.validate(dict(ok, layers=True))
    with pytest.raises(ParamValueError, match=r"'lr' = 0.5 is outside"):
        space.validate(dict(ok, lr=0.5))
    with pytest.raises(ParamValueError, match="'lr' = nan"):
        space.validate(dict(ok, lr=float("nan")))
    with pytest.raises(ParamValueError, match="takes an integer"):
        space.validate(dict(ok, layers=2.5))
    with pytest.raises(ParamValueError, match="not one of"):
        space.validate(dict(ok, activation="swish"))
    with pytest.raises(ParamTypeError, match="must be a dict"):
        space.validate([1e-3, 2, "relu"])


def test_categorical_does_not_confuse_bool_and_int():
    c = hbo.Categorical("flag", [1, 0])
    with pytest.raises(ParamValueError):
        c.validate(True)
    assert c.validate(0) == 0


def test_sobol_is_space_filling_reproducible_and_admissible(space):
    a = space.sobol(16, seed=3)
    b = space.sobol(16, seed=3)
    assert torch.equal(a, b)
    assert torch.equal(space.sobol(4, seed=3, skip=12), a[12:])
    # all three categories appear in 16 points (Sobol splits [0, 1) evenly into 3 bins)
    assert set(a[:, 2].tolist()) == {0.0, 1.0, 2.0}
    assert torch.equal(space.snap(a), a)
    # the continuous column is spread: every quarter of [0, 1] gets points
    counts = torch.histc(a[:, 0].float(), bins=4, min=0, max=1)
    assert (counts >= 2).all()


# ---------------------------------------------------------------------- JSON form
def test_space_survives_json_exactly():
    space = hbo.SearchSpace(
        [
            hbo.Float("lr", 1e-5, 0.1, log=True),
            hbo.Int("layers", 1, 8),
            hbo.Categorical("flag", [1, 0.5, "a", True, None]),
        ]
    )
    data = json.loads(json.dumps(space_to_dict(space)))
    again = space_from_dict(data)
    assert again.params == space.params and space_differences(space, again) == []
    assert [type(c) for c in again.params[2].choices] == [int, float, str, bool, type(None)]


@pytest.mark.parametrize(
    "data, message",
    [
        ([], "a 'params' list"),
        ({"params": [{"type": "complex", "name": "z"}]}, "'type' in"),
        ({"params": [{"type": "float", "name": "x", "low": 0}]}, "has keys"),
        ({"params": [{"type": "float", "name": "x", "low": 0, "high": 1, "log": "no"}]}, "log"),
        ({"params": [{"type": "float", "name": "x", "low": 1, "high": 0, "log": False}]}, "empty"),
        ({"params": []}, "at least one parameter"),
    ],
)
def test_malformed_stored_space_is_rejected(data, message):
    with pytest.raises(InvalidSpaceError, match=message):
        space_from_dict(data)


def test_choices_that_json_cannot_hold_are_named():
    space = hbo.SearchSpace([hbo.Categorical("f", [(1, 2), "a"])])
    with pytest.raises(InvalidSpaceError, match=r"choices \[\(1, 2\)\] cannot be stored"):
        space_to_dict(space)


def test_differences_name_parameters_bounds_and_order():
    a = hbo.SearchSpace([hbo.Float("x", 0, 1), hbo.Int("k", 0, 3)])
    b = hbo.SearchSpace([hbo.Int("k", 0, 3), hbo.Float("x", 0, 2)])
    c = hbo.SearchSpace([hbo.Int("k", 0, 3), hbo.Float("x", 0, 1)])
    assert space_differences(a, b) == [
        "parameter 'x': stored {'type': 'float', 'name': 'x', 'low': 0, 'high': 1, 'log': False}, "
        "given {'type': 'float', 'name': 'x', 'low': 0, 'high': 2, 'log': False}"
    ]
    assert space_differences(a, c) == ["parameter order: stored ['x', 'k'], given ['k', 'x']"]
