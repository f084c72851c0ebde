"""The multi-objective transfer benchmark's plumbing (experiments/multiobjective_transfer.py):
task families, scores on hand-made cases, a tiny run of the cheap arms, the hbo arms."""

import json

import multiobjective_transfer as mt
import numpy as np
import pytest


@pytest.mark.parametrize("family", mt.FAMILIES)
def test_families_are_deterministic_per_seed_and_related(family):
    X = np.random.default_rng(0).random((500, mt.make_family(family, 0)[0].dim))
    target, sources = mt.make_family(family, 3)
    again, _ = mt.make_family(family, 3)
    other, _ = mt.make_family(family, 4)
    np.testing.assert_array_equal(target.values(X), again.values(X))
    assert not np.allclose(target.values(X), other.values(X))
    assert len(sources) == mt.N_SOURCES
    for source in sources:
        # the sources are the target's function on a window shifted by at most 0.1 of the
        # domain, rescaled: informative (correlation well above 0.8 on every outcome) ...
        for j in range(len(target.outcomes)):
            assert np.corrcoef(target.values(X)[:, j], source.values(X)[:, j])[0, 1] > 0.8
        # ... but not the target itself
        assert not np.allclose(target.values(X), source.values(X))


def test_the_constrained_family_rules_out_hartmanns_minimizer():
    target, _ = mt.make_family("hartmann6_constrained", 0)
    assert target.objectives == ("f",) and target.outcomes == ("f", "c0")
    # Hartmann-6's minimizer in the window's coordinates: ||z|| = 0.946 > every radius
    z = np.array([0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573])
    x = (z - target.shift) / 0.9
    assert target(x)[0]["c0"] > 0
    assert 0 < (target.values(np.random.default_rng(1).random((4000, 6)))[:, 1] <= 0).mean() < 0.1


def test_hypervolume_of_a_hand_made_front():
    ref = np.array([2.0, 2.0])
    assert mt.hypervolume([[1.0, 1.0], [0.0, 1.5]], ref) == pytest.approx(1.5)
    assert mt.hypervolume([[1.0, 1.0], [0.0, 1.5], [1.5, 1.5]], ref) == pytest.approx(1.5)
    assert mt.hypervolume([[3.0, 0.0]], ref) == 0.0  # does not dominate the reference point
    front = mt.pareto_front([[1.0, 1.0], [0.0, 1.5], [1.5, 1.5], [1.0, 1.0]])
    assert sorted(map(tuple, front)) == [(0.0, 1.5), (1.0, 1.0)]


def test_hypervolume_regret_is_zero_on_the_best_front_and_one_before_any_point_counts():
    ref = np.array([2.0, 2.0])
    Y = np.array([[3.0, 0.0], [1.0, 1.0], [0.0, 1.5]])
    regret = mt.hypervolume_regret(Y, ref, hv_star=1.5)
    np.testing.assert_allclose(regret, [1.0, 1 - 1.0 / 1.5, 0.0])


def test_feasible_regret_before_and_after_a_feasible_point():
    y = np.array([-5.0, 0.5, 0.8, 0.2])
    c = np.array([1.0, 0.0, -1.0, -0.5])  # the first point is the best value but infeasible
    # best 0, median 1, worst feasible 2: nothing feasible yet -> the worst's regret, 2
    np.testing.assert_allclose(mt.feasible_regret(y, c, 0.0, 1.0, 2.0), [2.0, 0.5, 0.5, 0.2])
    np.testing.assert_allclose(mt.feasible_regret(y[:1], c[:1], 0.0, 1.0, 2.0), [2.0])


def _record(family, arm, seed, outcomes):
    return {"family": family, "arm": arm, "seed": seed, "outcomes": outcomes,
            "ask_seconds": [0.1] * len(outcomes)}


def test_regrets_take_the_best_of_reference_and_runs(tmp_path):
    cache = tmp_path / "reference.json"
    v = mt.REFERENCE_VERSION
    cache.write_text(json.dumps({
        f"v{v}/hartmann6_constrained/0": {"best": -3.0, "median": -1.0, "worst": 0.0},
        f"v{v}/branin_currin/0": {"ref_point": [2.0, 2.0], "front": [[1.0, 1.0]]}}))
    records = [
        _record("hartmann6_constrained", "a", 0, [{"f": -4.0, "c0": 1.0}, {"f": -2.0, "c0": 0.0}]),
        _record("hartmann6_constrained", "b", 0, [{"f": -3.5, "c0": -0.1}]),
        _record("branin_currin", "a", 0, [{"f0": 1.5, "f1": 1.5}]),
        _record("branin_currin", "b", 0, [{"f0": 0.0, "f1": 1.5}]),
    ]
    regret = mt.regrets(records, cache)
    # y* = -3.5 (a run beat the reference; the infeasible -4 does not count), scale 2.5
    np.testing.assert_allclose(regret[("hartmann6_constrained", "a", 0)], [3.5 / 2.5, 1.5 / 2.5])
    np.testing.assert_allclose(regret[("hartmann6_constrained", "b", 0)], [0.0])
    # HV* = HV of {(1, 1), (0, 1.5), (1.5, 1.5)} = 1.5
    np.testing.assert_allclose(regret[("branin_currin", "a", 0)], [1 - 0.25 / 1.5])
    np.testing.assert_allclose(regret[("branin_currin", "b", 0)], [1 - 1.0 / 1.5])


def test_a_tiny_run_of_the_cheap_arms_writes_a_report_and_resumes(tmp_path, monkeypatch,
                                                                  capsys):
    monkeypatch.setattr(mt, "RESULTS", tmp_path)
    monkeypatch.setattr(mt, "hbo_has_objectives", lambda: False)  # the note, whatever hbo is
    argv = ["--families", "branin_currin", "--seeds", "2", "--budget", "6", "--workers", "1",
            "--out", "tiny"]
    mt.main(argv)
    text = (tmp_path / "tiny.md").read_text()
    assert "hbo arms were not run" in text
    assert "| random | 2 |" in text and "| ax_default | 2 |" in text
    assert "| branin_currin | ax_default | 0 | - | - | not run |" in text
    assert (tmp_path / "tiny.png").stat().st_size > 0
    records = [json.loads(line) for line in (tmp_path / "tiny_runs.jsonl").read_text().splitlines()]
    assert sorted(mt.run_key(r)[1:] for r in records) == [
        ("ax_default", 0), ("ax_default", 1), ("random", 0), ("random", 1)]
    assert all(len(r["outcomes"]) == len(r["ask_seconds"]) == 6 for r in records)
    mt.main(argv)
    assert "4 of 4 runs read" in capsys.readouterr().out


needs_objectives = pytest.mark.skipif(
    not mt.hbo_has_objectives(),
    reason="hbo.Study has no `objectives` parameter yet (several outcomes: branch study-moo); "
    "the hbo arms are written against that API")


@needs_objectives
@pytest.mark.parametrize("family", ["branin_currin", "hartmann6_constrained"])
@pytest.mark.parametrize("arm", mt.HBO_ARMS)
def test_the_hbo_arms_run_and_record_their_budget(family, arm):
    record = mt.run_arm((family, arm, 0, 3))
    target, _ = mt.make_family(family, 0)
    assert len(record["outcomes"]) == len(record["ask_seconds"]) == 3
    assert all(set(o) == set(target.outcomes) for o in record["outcomes"])
    assert np.all(np.isfinite([list(o.values()) for o in record["outcomes"]]))


@needs_objectives
def test_hbo_front_and_hypervolume_agree_with_the_benchmarks():
    import hbo

    target, _ = mt.make_family("branin_currin", 0)
    space = hbo.SearchSpace([hbo.Float(f"x{i}", 0.0, 1.0) for i in range(target.dim)])
    study = hbo.Study(space, task="target", objectives={"f0": "minimize", "f1": "minimize"},
                      seed=0)
    Y = []
    for _ in range(4):  # hbo's initial design: no model fitted
        trial = study.ask()
        Y.append(target(np.array([trial.params["x0"], trial.params["x1"]]))[0])
        study.tell(trial, Y[-1])
    Y = np.array([[y["f0"], y["f1"]] for y in Y])
    ref = Y.max(axis=0) + 1.0  # every point counts (BoTorch's point is tighter)
    assert len(study.pareto_front()) == len(mt.pareto_front(Y))
    assert mt.hypervolume(Y, ref) > 0
    assert study.hypervolume(dict(zip(target.objectives, ref, strict=True))) == pytest.approx(
        mt.hypervolume(Y, ref))
