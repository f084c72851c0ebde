"""The table of experiments/stage_a_target_loo.py: variants against the joint model."""

import stage_a_target_loo as loo


def record(target: str, joint: float, alone: float, with_target: float) -> dict:
    """One run's state at 12 points: every variant's densities (with g = without = kept)."""
    def d(v):
        return {"with": v, "without": v - 1.0, "kept": v}

    at = {"joint": d(joint), "sources alone": d(alone), "with target": d(with_target),
          "in run": d(with_target - 1.0)}
    return {"scenario": "rbv2_rpart", "target": target, "seed": 0, "loo": {"12": at}}


def test_each_variant_is_reported_as_its_difference_to_the_joint_model():
    table = loo.report([record("a", 10.0, 4.0, 10.0), record("b", 20.0, 12.0, 22.0)])
    rows = {line.split("|")[3].strip(): [c.strip() for c in line.strip("|").split("|")]
            for line in table.splitlines() if line.startswith("| rbv2_rpart | 12 |")}
    assert set(rows) == {"sources alone", "with target", "in run"}
    # differences -6 and -8: mean -7, t interval half-width t(0.95, 1) * sd / sqrt(2) = 6.31
    assert rows["sources alone"][3] == "2"
    assert rows["sources alone"][4] == "-7.00 [-13.31, -0.69]"
    assert rows["with target"][4].startswith("+1.00 ")
    assert rows["in run"][5].startswith("+0.00 ")
    assert "lcbench" not in table  # no records of it: no rows
