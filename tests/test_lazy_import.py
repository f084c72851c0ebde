"""``import hbo`` loads no torch, BoTorch or pandas: the heavy names load on first use."""

import subprocess
import sys

import pytest

import hbo


def run(script: str) -> list[str]:
    return subprocess.run([sys.executable, "-W", "ignore", "-c", script], capture_output=True,
                          text=True, check=True).stdout.split()


def test_import_hbo_loads_no_heavy_module_until_a_name_is_used():
    heavy = "('torch', 'botorch', 'pandas', 'scipy', 'hbo.study', 'hbo.space')"
    out = run("import sys, hbo\n"
              f"print(sorted(m for m in {heavy} if m in sys.modules) or 'none')\n"
              "space = hbo.SearchSpace([hbo.Float('x', 0.0, 1.0)])\n"
              "print(hbo.Study.__module__, 'torch' in sys.modules)\n")
    assert out == ["none", "hbo.study.study", "True"]


def test_the_command_line_help_loads_no_torch():
    out = run("import sys\nfrom hbo import cli\n"
              "print(any(m in sys.modules for m in ('torch', 'botorch')))\n")
    assert out == ["False"]


def test_lazy_names_are_listed_and_unknown_ones_named():
    assert {"Study", "SearchSpace", "PoolingReport"} <= set(dir(hbo))
    assert set(hbo.__all__) <= set(dir(hbo))
    with pytest.raises(AttributeError, match="module 'hbo' has no attribute 'Sturdy'"):
        hbo.Sturdy  # noqa: B018


@pytest.mark.parametrize(("module", "integration", "extra"), [
    ("ax", "hbo.integrations.ax", "ax"), ("ray", "hbo.integrations.ray", "ray"),
    ("optuna", "hbo.integrations.optuna", "optuna"),
])
def test_an_integration_without_its_extra_says_what_to_install(module, integration, extra):
    script = (f"import sys\nsys.modules[{module!r}] = None  # as if not installed\n"
              f"try:\n    import {integration}\nexcept ImportError as e:\n    print(e)\n")
    out = " ".join(run(script))
    assert f"{integration} needs {module!r}, which is not installed" in out
    assert f"pip install 'hbo[{extra}]'" in out


def test_a_model_based_ask_loads_no_matplotlib():
    """The proposer standardizes through hbo.meta.tau2; hbo.meta's plots load on first use
    (importing matplotlib had been 0.9 s of the first model-based ask)."""
    out = run("import sys, hbo\n"
              "study = hbo.Study(hbo.SearchSpace([hbo.Float('x', 0.0, 1.0)]), seed=0)\n"
              "points = [{'x': i / 7} for i in range(8)]\n"
              "study.add_history('a', points, [i % 3 for i in range(8)])\n"
              "study.add_history('b', points, [i % 4 for i in range(8)])\n"
              "for _ in range(3):\n"
              "    trial = study.ask()\n"
              "    study.tell(trial, trial.params['x'])\n"
              "import hbo.meta\n"
              "print('matplotlib' in sys.modules, callable(hbo.meta.forest_plot),"
              " 'matplotlib' in sys.modules)\n")
    assert out == ["False", "True", "True"]
