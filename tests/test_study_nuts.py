"""Study(inference="nuts") end to end: ask, diagnostics, posterior pooling, bad options."""

import math
import subprocess
import sys

import numpy as np
import pytest

import hbo
from hbo._warnings import ConvergenceWarning
from hbo.errors import InvalidArgumentError, NotReadyError
from hbo.surrogate.posterior_pooling import PosteriorPoolingReport

# short chains: enough to exercise the path, not to converge (the convergence of the
# sampler is tested in tests/surrogate/test_nuts_recovery.py)
SHORT = {"warmup": 30, "draws": 30, "chains": 2, "thinning": 3, "progress": False}


def _study(**kwargs) -> hbo.Study:
    space = hbo.SearchSpace([hbo.Float("x", 0.0, 1.0)])
    study = hbo.Study(space, task="target", seed=0, **kwargs)
    xs = np.linspace(0.05, 0.95, 6)
    study.add_history("source", [{"x": float(x)} for x in xs],
                      [math.sin(6 * x) + 0.1 * x for x in xs])
    study.add_history("target", [{"x": float(x)} for x in (0.1, 0.5, 0.9)],
                      [math.sin(6 * x + 0.2) for x in (0.1, 0.5, 0.9)])
    return study


@pytest.mark.filterwarnings("ignore::hbo._warnings.ConvergenceWarning")
def test_nuts_study_asks_reports_and_plots(tmp_path):
    study = _study(inference="nuts", nuts=SHORT)
    with pytest.raises(NotReadyError, match="no NUTS fit yet"):
        study.diagnostics()
    trial = study.ask()
    assert 0.0 <= trial.params["x"] <= 1.0
    report = study.diagnostics()
    assert (report.n_chains, report.n_draws) == (2, 30)
    assert {"tau_lengthscale", "tau_noise"} <= {i.split("[")[0] for i in report.table.index}
    assert study.proposer.model.num_draws == 2 * 10  # chains x ceil(draws / thinning)
    study.tell(trial, 0.3)
    pair = study.ask(2)  # qLogNEI over the ensemble
    assert len({t.params["x"] for t in pair}) == 2
    pooling = study.pooling()
    assert isinstance(pooling, PosteriorPoolingReport)
    text = str(pooling)
    assert "Posterior pooling across 2 task(s) (target: target)" in text
    assert "medians [90% intervals] over 20 NUTS draws" in text
    frame = pooling.to_frame()
    assert {"value", "value_5%", "value_95%", "shrinkage", "tau_5%", "tau_95%"} <= set(frame)
    assert ((frame["shrinkage_5%"] <= frame["shrinkage"])
            & (frame["shrinkage"] <= frame["shrinkage_95%"])).all()
    assert ((frame["shrinkage"] >= 0) & (frame["shrinkage"] <= 1)).all()
    for plot in ("plot_tau", "plot_shrinkage", "plot_funnel"):
        path = tmp_path / f"{plot}.png"
        getattr(pooling, plot)(path)
        assert path.read_bytes()[:4] == b"\x89PNG"


def test_failed_convergence_warns_with_advice():
    # 4 draws per chain: split R-hat is NaN (ArviZ needs 4 draws per half), which never passes
    study = _study(inference="nuts", nuts={"warmup": 0, "draws": 4, "thinning": 1,
                                           "progress": False})
    with pytest.warns(ConvergenceWarning, match="R-hat") as caught:
        study.ask()
    message = next(str(w.message) for w in caught if w.category is ConvergenceWarning)
    assert "more warm-up" in message and "tau_scale" in message
    assert not study.diagnostics().ok


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"inference": "mcmc"}, InvalidArgumentError, "inference must be one of"),
        ({"inference": "nuts", "nuts": {"chains": 0}}, InvalidArgumentError, "'chains'"),
        ({"inference": "nuts", "nuts": {"draw": 5}}, InvalidArgumentError, "unknown options"),
        ({"nuts": {"draws": 5}}, InvalidArgumentError, 'only with inference="nuts"'),
    ],
)
def test_bad_inference_options(kwargs, error, message):
    space = hbo.SearchSpace([hbo.Float("x", 0.0, 1.0)])
    with pytest.raises(error, match=message):
        hbo.Study(space, **kwargs)


def test_diagnostics_needs_nuts():
    study = _study()
    with pytest.raises(InvalidArgumentError, match='inference="map"'):
        study.diagnostics()


@pytest.mark.filterwarnings("ignore::hbo._warnings.ConvergenceWarning")
def test_nuts_study_with_one_task():
    """No history: nothing to pool, and the report says so (SingleTaskGP-like ensemble)."""
    space = hbo.SearchSpace([hbo.Float("x", 0.0, 1.0)])
    study = hbo.Study(space, task="only", seed=1, inference="nuts",
                      nuts={"warmup": 20, "draws": 20, "thinning": 4, "progress": False})
    xs = (0.1, 0.4, 0.6, 0.9)
    study.add_history("only", [{"x": x} for x in xs], [math.cos(5 * x) for x in xs])
    assert 0.0 <= study.ask().params["x"] <= 1.0
    pooling = study.pooling()
    assert "one task: nothing to pool" in str(pooling)
    assert (pooling.to_frame()["shrinkage"] == 0).all()
    pooling.plot_funnel()  # no sampled tau: an empty figure, not an error


def test_import_hbo_leaves_the_fully_bayesian_modules_unloaded():
    """A study fitted by MAP never needs ArviZ, matplotlib or the NUTS code: ``import hbo``
    does not load them; ``inference="nuts"`` options are still checked at ``Study(...)``."""
    script = (
        "import sys, hbo\n"
        "space = hbo.SearchSpace([hbo.Float('x', 0.0, 1.0)])\n"
        "hbo.Study(space, task='t', inference='nuts', nuts={'warmup': 5})\n"
        "try:\n"
        "    hbo.Study(space, task='t', inference='nuts', nuts={'warmups': 5})\n"
        "except hbo.HBOError as error:\n"
        "    print(type(error).__name__)\n"
        "print(sorted(m for m in ('arviz', 'matplotlib', 'hbo.surrogate.nuts',\n"
        "                          'hbo.surrogate.fully_bayesian') if m in sys.modules))\n"
        "from hbo.surrogate import FullyBayesianHierarchicalGP, fit_fully_bayesian\n"
        "print('hbo.surrogate.fully_bayesian' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", script], capture_output=True,
                         text=True, check=True).stdout.split("\n")
    assert out[:3] == ["InvalidArgumentError", "[]", "True"]
