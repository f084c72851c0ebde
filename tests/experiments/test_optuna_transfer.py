"""The Optuna benchmark's plumbing (experiments/optuna_transfer.py): every arm runs through
Optuna on the YAHPO protocol, and HBOSampler asks what hbo.Study asks."""

import numpy as np
import optuna_transfer as ot
import pytest


@pytest.mark.parametrize("arm", ["tpe", "gp", "ws_cmaes"])
def test_optuna_arms_run_and_record_their_budget(yahpo_data, arm):
    record = ot.run_arm(("rbv2_rpart", "5x50", arm, "1040", 0, 4, yahpo_data))
    assert len(record["values"]) == len(record["ask_seconds"]) == 4
    assert ot.run_key(record) == ("rbv2_rpart", "5x50", arm, "1040", 0)
    assert np.all(np.isfinite(record["values"]))


def test_hbo_sampler_asks_what_hbo_study_asks(yahpo_data):
    # budget 3 with history: one Sobol point, then two from the model
    records = [ot.run_arm(("rbv2_rpart", "5x50", arm, "1040", 0, 3, yahpo_data))
               for arm in ("hbo_sampler", "hbo_study")]
    assert records[0]["values"] == records[1]["values"]
    assert "1 of 1 runs ask the same" in ot.identity_line(records)


def test_the_identity_line_names_where_runs_part():
    def record(arm, values):
        return {"scenario": "lcbench", "setting": "5x50", "arm": arm, "target": "3945",
                "seed": 0, "values": values, "ask_seconds": [0.0] * len(values)}

    line = ot.identity_line([record("hbo_sampler", [0.1, 0.2, 0.3]),
                             record("hbo_study", [0.1, 0.25, 0.3])])
    assert "0 of 1 runs" in line and "first differ at evaluations [2]" in line
    assert ot.identity_line([record("hbo_sampler", [0.1])]).startswith("No pair")
