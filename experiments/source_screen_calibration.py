"""How often the source screen lets a source with no function through, and keeps a real one.

``hbo.surrogate.source_screening`` tests each source's MAP GP against a constant plus white
noise, family-wise over the ``S`` sources of a history (bar ``chi2_{1 - 0.05 / S}(k) / 2``
nats). On YAHPO Gym histories (the benchmark's: ``yahpo_benchmark.history``, the same
targets, sources, configurations and seeds), each source is screened twice: on its values as
they are, and on their normal scores (what the screen uses). Shuffled histories (each
source's values permuted among its configurations, as ``hbo_permuted``) have no function: a
calibrated screen passes about ``0.05 / S`` of their sources and at most 5% of the histories
keep any. Real histories show how many real sources each version keeps.

    python experiments/source_screen_calibration.py [--data-dir DIR] [--seeds 0 1 2]

Appends one record per (scenario, setting, history, target, seed) to
``results/source_screen_calibration_runs.jsonl`` (resumable) and writes
``results/source_screen_calibration.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, os.fspath(Path(__file__).resolve().parent))

from resumable import read_records, run_jobs  # noqa: E402
from yahpo_benchmark import history, permuted, problem, targets  # noqa: E402
from yahpo_problems import check_data_dir  # noqa: E402

from hbo.surrogate.source_screening import ALPHA  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
#: (setting, history) pairs screened, in this order: shuffled and real, both settings.
CASES = (("20x100", "shuffled"), ("5x50", "shuffled"), ("5x50", "real"), ("20x100", "real"))


def screen_history(job: tuple) -> dict:
    """Each source of one history screened on its values and on their normal scores."""
    import torch

    from hbo.surrogate.source_screening import function_gain, screen_source

    scenario, setting, kind, target, seed, data_dir = job
    torch.set_num_threads(1)
    p = problem(scenario, data_dir)
    hist = history(scenario, data_dir, setting, target, seed)
    if kind == "shuffled":
        hist = permuted(hist, seed)
    dims = p.space.categorical_dims()
    sources = []
    for source, (params, values) in hist.items():
        X = p.space.encode(params)
        Y = torch.tensor(values, dtype=torch.double).unsqueeze(-1)
        screen = screen_source(source, X, Y, categorical_dims=dims, num_sources=len(hist))
        sources.append({"source": source, "bar": screen.bar, "normal_scores": screen.gain,
                        "values": function_gain(X, Y, categorical_dims=dims)})
    return {"scenario": scenario, "setting": setting, "history": kind, "target": target,
            "seed": seed, "sources": sources}


def key(record: dict) -> tuple:
    return tuple(record[k] for k in ("scenario", "setting", "history", "target", "seed"))


def table(records: list[dict]) -> list[str]:
    """Per scenario, setting and history: sources passed on values and on normal scores,
    histories with any source passed, the gains' range."""
    lines = ["| scenario | history | sources | expected passes with no function | "
             "passed on values | passed on normal scores | histories with a pass "
             "(values / normal scores) | smallest gain (values / normal scores) |",
             "|---|---|---|---|---|---|---|---|"]

    def passed(s: dict, version: str) -> bool:
        return s[version] > s["bar"]

    def histories(runs: list[dict], version: str) -> int:
        return sum(any(passed(s, version) for s in r["sources"]) for r in runs)

    groups: dict[tuple, list[dict]] = {}
    for r in records:
        groups.setdefault((r["scenario"], r["setting"], r["history"]), []).append(r)
    for (scenario, setting, kind), runs in sorted(groups.items()):
        sources = [s for r in runs for s in r["sources"]]
        expected = ALPHA * len(runs)  # ALPHA / S of each history's S sources
        lines.append(
            f"| {scenario} | {setting} {kind} | {len(sources)} ({len(runs)} histories) | "
            + (f"{expected:.1f} | " if kind == "shuffled" else "- | ")
            + f"{sum(passed(s, 'values') for s in sources)} | "
            f"{sum(passed(s, 'normal_scores') for s in sources)} | "
            f"{histories(runs, 'values')} / {histories(runs, 'normal_scores')} | "
            f"{min(s['values'] for s in sources):.1f} / "
            f"{min(s['normal_scores'] for s in sources):.1f} |")
    return lines


def changed(records: list[dict]) -> list[str]:
    """The real sources whose verdict differs between values and normal scores."""
    lines = []
    for r in sorted(records, key=key):
        for s in r["sources"]:
            if r["history"] == "real" and (s["values"] > s["bar"]) != (
                    s["normal_scores"] > s["bar"]):
                verdict = "kept" if s["normal_scores"] > s["bar"] else "left out"
                lines.append(f"- {r['scenario']} {r['setting']}, target {r['target']} seed "
                             f"{r['seed']}: source {s['source']} now {verdict} (gain "
                             f"{s['values']:.1f} on values, {s['normal_scores']:.1f} on normal "
                             f"scores, bar {s['bar']:.1f})")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--targets", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    data_dir = os.fspath(check_data_dir(args.data_dir))
    runs_file = RESULTS / "source_screen_calibration_runs.jsonl"
    records = read_records(runs_file)
    done = {key(r) for r in records}
    jobs = [(scenario, setting, kind, target, seed, data_dir)
            for setting, kind in CASES for scenario in ("lcbench", "rbv2_rpart")
            for seed in args.seeds for target in targets(scenario, data_dir, args.targets)]
    todo = [job for job in jobs if job[:5] not in done]
    print(f"{len(jobs) - len(todo)} of {len(jobs)} histories read from {runs_file}; "
          f"{len(todo)} to screen", flush=True)
    records += run_jobs(screen_history, todo, runs_file, args.workers, lambda r: (
        f"{r['scenario']} {r['setting']} {r['history']} {r['target']} seed {r['seed']}: "
        f"{sum(s['normal_scores'] > s['bar'] for s in r['sources'])} of "
        f"{len(r['sources'])} passed"))
    wanted = {job[:5] for job in jobs}
    records = [r for r in records if key(r) in wanted]
    text = "\n".join([
        "# The source screen on YAHPO histories: values against normal scores", "",
        f"`python experiments/source_screen_calibration.py --seeds {' '.join(map(str, args.seeds))}"
        f" --targets {args.targets}`: the histories of `yahpo_benchmark.py` (its targets, "
        "sources and seeds), each source screened on its values and on their normal scores "
        "(the screen's statistic). With no function (shuffled), a calibrated family-wise screen "
        "passes about 0.05 of each history's sources in all, and keeps any in at most 5% of "
        "the histories.", "", *table(records), "",
        "Real sources whose verdict changes:", "", *(changed(records) or ["- none"]), ""])
    out = RESULTS / "source_screen_calibration.md"
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
