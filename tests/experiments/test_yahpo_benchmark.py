"""The YAHPO transfer benchmark's plumbing: data, history, arms and scores
(experiments/yahpo_problems.py, experiments/yahpo_benchmark.py)."""

import json
from pathlib import Path

import numpy as np
import pytest
import yahpo_benchmark as yb
from yahpo_problems import YahpoProblem, check_data_dir

#: 12 random configurations per scenario and yahpo-gym 1.0.2's objective_function on them
#: (two datasets each), written with that package beside this data.
YAHPO_GYM_OUTPUTS = Path(__file__).parent / "data" / "yahpo_gym_outputs.json"


def test_a_missing_data_folder_says_how_to_get_the_data(tmp_path):
    with pytest.raises(FileNotFoundError, match="slds-lmu/yahpo_data"):
        check_data_dir(tmp_path)


@pytest.mark.parametrize("scenario", ["lcbench", "rbv2_rpart"])
def test_the_surrogate_reads_as_yahpo_gym_does(yahpo_data, scenario):
    expected = json.loads(YAHPO_GYM_OUTPUTS.read_text())[scenario]
    p = YahpoProblem(scenario, yahpo_data)
    for instance, values in expected["values"].items():
        # float32 network: the same inputs give the same outputs up to its rounding
        np.testing.assert_allclose(p.evaluate(instance, expected["params"]), values, rtol=1e-6)


def test_lcbench_space_and_objective(yahpo_data):
    p = YahpoProblem("lcbench", yahpo_data)
    assert len(p.instances) == 34
    assert p.space.names == ["batch_size", "learning_rate", "max_dropout", "max_units",
                             "momentum", "num_layers", "weight_decay"]
    params = p.random_params(200, np.random.default_rng(0))
    y = p.evaluate("3945", params)
    assert y.shape == (200,) and np.all((y > 0) & (y <= 1))
    np.testing.assert_array_equal(y, p.evaluate("3945", params))  # a surrogate: no noise
    assert y.std() > 0.01  # the configuration matters
    # another dataset is another function of the same configurations
    assert not np.allclose(y, p.evaluate("7593", params))
    with pytest.raises(ValueError, match="no dataset '1'"):
        p.evaluate("1", params)


def test_rpart_space_has_its_categorical(yahpo_data):
    p = YahpoProblem("rbv2_rpart", yahpo_data)
    assert len(p.instances) == 117
    assert p.space.categorical_dims() == {4: 3}
    params = p.random_params(30, np.random.default_rng(1))
    assert {q["num.impute.selected.cpo"] for q in params} <= {"impute.mean", "impute.median",
                                                              "impute.hist"}
    assert np.all(np.isfinite(p.evaluate(p.instances[0], params)))


def test_history_is_the_same_for_every_arm_and_leaves_out_the_target(yahpo_data):
    h = yb.history("lcbench", yahpo_data, "5x50", "3945", 0)
    assert len(h) == 5 and "3945" not in h
    assert all(len(params) == len(values) == 50 for params, values in h.values())
    yb.history.cache_clear()
    assert yb.history("lcbench", yahpo_data, "5x50", "3945", 0) == h
    assert yb.history("lcbench", yahpo_data, "5x50", "3945", 1) != h
    shuffled = yb.permuted(h, 0)
    for (p0, v0), (p1, v1) in zip(h.values(), shuffled.values(), strict=True):
        assert p0 == p1 and sorted(v0) == sorted(v1) and v0 != v1


@pytest.mark.parametrize("arm", ["random", "tpe", "ws_cmaes", "rgpe", "single_task_gp"])
def test_cheap_arms_run_and_record_their_budget(yahpo_data, arm):
    budget = 9
    record = yb.run_arm(("rbv2_rpart", "5x50", arm, "1040", 0, budget, yahpo_data))
    assert len(record["values"]) == len(record["ask_seconds"]) == budget
    assert yb.run_key(record) == ("rbv2_rpart", "5x50", arm, "1040", 0)
    assert np.all(np.isfinite(record["values"]))


def _record(arm, target, seed, values, setting="5x50"):
    return {"scenario": "lcbench", "setting": setting, "arm": arm, "target": target,
            "seed": seed, "values": values, "ask_seconds": [0.1] * len(values)}


def test_normalized_regret_uses_the_best_of_reference_and_runs(tmp_path):
    cache = tmp_path / "reference.json"
    cache.write_text('{"lcbench/a": {"best": 0.9, "median": 0.5}}')
    records = [_record("hbo", "a", 0, [0.6, 0.8, 0.7]), _record("tpe", "a", 0, [0.95, 0.6])]
    regret = yb.normalized_regrets(records, "unused", cache)
    # y* = 0.95 (a run beat the 20,000 random configurations); scale 0.95 - 0.5
    np.testing.assert_allclose(regret[("lcbench", "5x50", "hbo", "a", 0)],
                               [0.35 / 0.45, 0.15 / 0.45, 0.15 / 0.45])
    np.testing.assert_allclose(regret[("lcbench", "5x50", "tpe", "a", 0)], [0.0, 0.0])


def test_paired_ratio_counts_and_resamples_targets():
    regret = {}
    for t, target in enumerate("abcd"):
        for seed in range(2):
            regret[("lcbench", "5x50", "hbo", target, seed)] = np.full(30, 0.1)
            regret[("lcbench", "5x50", "tpe", target, seed)] = np.full(30, 0.4 if t else 0.1)
    res = yb.paired(regret, ("lcbench", "5x50", "tpe"), ("lcbench", "5x50", "hbo"), 10,
                    np.random.default_rng(0))
    assert res["pairs"] == 8 and res["wtl"] == "6/2/0"
    assert res["ratio"] == pytest.approx(10 ** (6 / 8 * np.log10(0.25)))
    assert res["lo"] < res["ratio"] < res["hi"] <= 1.0


def test_a_history_free_run_serves_every_setting_and_a_history_run_does_not(tmp_path,
                                                                            monkeypatch):
    runs = tmp_path / "runs.jsonl"
    records = [_record("tpe", "a", 0, [0.5] * 30), _record("hbo", "a", 0, [0.6] * 30),
               _record("random", "a", 1, [0.4] * 12)]
    runs.write_text("".join(json.dumps(r) + "\n" for r in records))
    jobs = [("lcbench", setting, arm, "a", seed, 30, "unused") for setting in ("5x50", "20x100")
            for arm in ("tpe", "hbo", "random") for seed in (0, 1)]
    ran = []

    def fake(job):
        ran.append(job[:5])
        return {**_record(job[2], job[3], job[4], [0.1] * 30), "setting": job[1]}

    monkeypatch.setattr(yb, "run_jobs", lambda fn, todo, *_: [fn(job) for job in todo])
    out = yb.resume_runs(fake, jobs, runs, workers=1)
    copy = next(r for r in out if (r["setting"], r["arm"]) == ("20x100", "tpe"))
    assert copy["values"] == [0.5] * 30 and copy["run_in"] == "5x50"
    # hbo reads the history; the random run of seed 1 is shorter than the budget
    assert ("lcbench", "20x100", "hbo", "a", 0) in ran
    assert ("lcbench", "20x100", "random", "a", 1) in ran
    assert ("lcbench", "20x100", "tpe", "a", 0) not in ran
    assert len(out) == len(jobs)
