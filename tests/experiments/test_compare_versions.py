"""experiments/compare_versions.py: one arm's runs before and after a change, paired."""

import json

import pytest
from compare_versions import compare


def _runs(path, values_by_seed, arm="hbo"):
    with open(path, "w") as f:
        for seed, values in values_by_seed.items():
            times = [1.0] * 5 + [2.0 + seed] * (len(values) - 5)
            f.write(json.dumps(["branin", arm, seed, values, times, 0.0]) + "\n")


def test_the_runs_are_paired_by_seed_and_the_ratio_is_after_over_before(tmp_path):
    before, after = tmp_path / "before_runs.jsonl", tmp_path / "after_runs.jsonl"
    _runs(before, {s: [10.0] * 25 for s in range(3)})
    # after: a tenth of the regret from evaluation 5 on, on every seed
    _runs(after, {s: [10.0] * 4 + [1.0] * 21 for s in range(3)})
    text = compare(before, after, "hbo")
    rows = {line.split("|")[2].strip(): line for line in text.splitlines()
            if line.startswith("| branin |")}
    assert "| 3 | 3 |" in rows["5"] and "0.1 [0.1, 0.1]" in rows["5"]
    assert "| branin | after | 3 | 3.00 |" in text  # median of the per-run medians 2, 3, 4


def test_an_arm_missing_from_a_file_is_named(tmp_path):
    before, after = tmp_path / "before_runs.jsonl", tmp_path / "after_runs.jsonl"
    _runs(before, {0: [1.0] * 25})
    _runs(after, {0: [1.0] * 25}, arm="random")
    with pytest.raises(SystemExit, match="no runs of arm 'hbo' in .*after_runs.jsonl"):
        compare(before, after, "hbo")


def _yahpo_runs(path, values_by_seed, arm="hbo"):
    with open(path, "w") as f:
        for seed, values in values_by_seed.items():
            f.write(json.dumps({"scenario": "lcbench", "setting": "5x50", "arm": arm,
                                "target": "3945", "seed": seed, "values": values,
                                "ask_seconds": [0.0] * 10 + [1.0 + seed] * 20}) + "\n")


def test_yahpo_runs_pair_by_target_and_seed_in_normalized_regret(tmp_path, monkeypatch):
    import yahpo_benchmark as yb

    monkeypatch.setattr(yb, "reference", lambda *a: {"best": 1.0, "median": 0.0})
    before, after = tmp_path / "before_runs.jsonl", tmp_path / "after_runs.jsonl"
    # normalized regret 1 - best: 0.5 throughout before, 0.05 from evaluation 10 on after
    _yahpo_runs(before, {s: [0.5] * 30 for s in range(3)})
    _yahpo_runs(after, {s: [0.5] * 9 + [0.95] * 21 for s in range(3)})
    text = compare(before, after, "hbo")
    rows = {line.split("|")[2].strip(): line for line in text.splitlines()
            if line.startswith("| lcbench 5x50 |") and line.split("|")[2].strip().isdigit()}
    assert set(rows) == {"5", "10", "20", "30"}
    assert "1 [1, 1]" in rows["5"] and "0.1 [0.1, 0.1]" in rows["30"]
    assert "| lcbench 5x50 | after | 3 | 2.00 |" in text
    at_first = compare(before, after, "hbo", checkpoints=(1, 9, 10))
    rows = [line.split("|")[2].strip() for line in at_first.splitlines()
            if line.startswith("| lcbench 5x50 |") and line.split("|")[2].strip().isdigit()]
    assert rows == ["1", "9", "10"] and "--at 1 9 10" in at_first
