"""The source screen's calibration tables (experiments/source_screen_calibration.py)."""

import source_screen_calibration as calibration


def record(kind: str, target: str, gains: list[tuple[float, float]]) -> dict:
    """A screened history: each source's gain on its values and on their normal scores."""
    return {"scenario": "lcbench", "setting": "20x100", "history": kind, "target": target,
            "seed": 0, "sources": [{"source": f"s{i}", "bar": 10.0, "values": v,
                                    "normal_scores": ns} for i, (v, ns) in enumerate(gains)]}


def test_the_table_counts_passes_and_histories_with_a_pass():
    records = [record("shuffled", "a", [(12.0, 3.0), (11.0, 2.0)]),
               record("shuffled", "b", [(1.0, 11.0), (2.0, 1.0)])]
    row = calibration.table(records)[-1]
    cells = [c.strip() for c in row.strip("|").split("|")]
    # 4 sources, 0.05 expected per history; on values 2 pass (both of history a), on
    # normal scores 1 (of history b)
    assert cells[2:7] == ["4 (2 histories)", "0.1", "2", "1", "1 / 1"]
    assert cells[7] == "1.0 / 1.0"


def test_changed_names_the_real_sources_whose_verdict_differs():
    records = [record("real", "a", [(14.5, 8.5), (30.0, 25.0)]),
               record("real", "b", [(9.0, 10.8)]),
               record("shuffled", "c", [(12.0, 3.0)])]
    lines = calibration.changed(records)
    assert len(lines) == 2
    assert "target a seed 0: source s0 now left out (gain 14.5 on values, 8.5" in lines[0]
    assert "target b seed 0: source s0 now kept" in lines[1]
