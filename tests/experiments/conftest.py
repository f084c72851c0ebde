"""The benchmark scripts live in experiments/ (not a package): put it on the path."""

import sys
from pathlib import Path

import pytest

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
sys.path.insert(0, str(EXPERIMENTS))


@pytest.fixture(scope="session")
def yahpo_data() -> str:
    """The shared YAHPO data folder; its tests skip, saying so, where it is absent (CI and
    sessions have it beside the repository)."""
    from yahpo_problems import DEFAULT_DATA

    if not (DEFAULT_DATA / "lcbench" / "model.onnx").is_file():
        pytest.skip(f"no YAHPO data at {DEFAULT_DATA}")
    return str(DEFAULT_DATA)
