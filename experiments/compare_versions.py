"""Two versions of one arm of a benchmark, run for run: did a code change help?

A change to hbo's defaults is measured by running the same arm, problems and seeds before
and after it (``--out`` of each run naming its own runs file; the earlier code from a git
worktree of the earlier commit) and pairing the runs. Runs files of
``transfer_benchmark.py`` pair by family and seed (simple regret); those of
``yahpo_benchmark.py`` by scenario and setting (the "family" column) and by target and seed
(normalized regret, ``y*`` the best of the random reference and of the two versions' runs,
floored at ``RATIO_FLOOR`` as in the benchmark's ratios).
Prints the paired regret ratios after / before (:func:`paired_comparison.paired_table`;
below 1: the change helped) and each version's median seconds per model-based ask.

    python experiments/compare_versions.py --before results/A_runs.jsonl \\
        --after results/B_runs.jsonl [--arm hbo] [--out NAME] [--data YAHPO_DATA]

Writes ``results/<NAME>.md`` with ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, os.fspath(Path(__file__).resolve().parent))

import yahpo_benchmark as yb  # noqa: E402
from paired_comparison import paired_table  # noqa: E402
from transfer_benchmark import RESULTS, load_runs, simple_regret  # noqa: E402
from yahpo_problems import DEFAULT_DATA  # noqa: E402

#: Regret of each run, ``(family, version, seed) -> curve``, and its median seconds per
#: model-based ask, ``(family, version) -> one per run``.
Scores = tuple[dict[tuple, np.ndarray], dict[tuple[str, str], list[float]]]


def is_yahpo(path: Path) -> bool:
    """Whether ``path`` holds runs of ``yahpo_benchmark.py`` (JSON objects, one per line)."""
    first = next((line for line in path.read_text().splitlines() if line.strip()), "[]")
    return isinstance(json.loads(first), dict)


def family_scores(paths: dict[str, Path], arm: str) -> Scores:
    """Runs of ``transfer_benchmark.py``: simple regret, asks after the first 5."""
    regret, asks = {}, {}
    for version, path in paths.items():
        for family, arm_, seed, values, times, f_min in load_runs(path):
            if arm_ == arm:
                regret[family, version, seed] = simple_regret(values, f_min)
                asks.setdefault((family, version), []).append(float(np.median(times[5:])))
    return regret, asks


def yahpo_scores(paths: dict[str, Path], arm: str, data_dir: str | None) -> Scores:
    """Runs of ``yahpo_benchmark.py``: normalized regret, asks from ``TIMED_FROM`` on."""
    records = {version: [r for r in yb.read_records(path) if r["arm"] == arm]
               for version, path in paths.items()}
    tagged = [{**r, "arm": version} for version, rs in records.items() for r in rs]
    # the data are read (and checked) only for a target whose reference is not cached
    curves = yb.normalized_regrets(tagged, os.fspath(data_dir or DEFAULT_DATA),
                                   RESULTS / "yahpo_reference.json")
    regret, asks = {}, {}
    for r in tagged:
        family = f"{r['scenario']} {r['setting']}"
        # floored as the benchmark's own ratios are: a run can find y* itself
        regret[family, r["arm"], f"{r['target']}/{r['seed']}"] = np.maximum(
            curves[yb.run_key(r)], yb.RATIO_FLOOR)
        asks.setdefault((family, r["arm"]), []).append(
            float(np.median(r["ask_seconds"][yb.TIMED_FROM:])))
    return regret, asks


def compare(before: Path, after: Path, arm: str, data_dir: str | None = None,
            checkpoints: tuple[int, ...] | None = None) -> str:
    """The paired table of ``arm``'s runs in ``after`` against those in ``before``, and the
    median ask times of each (``data_dir``: YAHPO data, for a target without a cached
    random reference; ``checkpoints``: evaluations to compare at, default the benchmark's)."""
    paths = {"before": before, "after": after}
    yahpo = is_yahpo(before)
    regret, asks = (yahpo_scores(paths, arm, data_dir) if yahpo
                    else family_scores(paths, arm))
    for version, path in paths.items():
        if not any(v == version for _, v, _ in regret):
            raise SystemExit(f"no runs of arm {arm!r} in {path}")
    families = sorted({f for f, _, _ in regret})
    at = "" if checkpoints is None else " --at " + " ".join(map(str, checkpoints))
    checkpoints = checkpoints or (yb.CHECKPOINTS if yahpo else (5, 10, 25))
    lines = [f"# {arm}: {after.name} against {before.name}", "",
             f"`python experiments/{Path(__file__).name} --before {before} --after {after} "
             f"--arm {arm}{at}`", "",
             paired_table(regret, families, "before", "after", checkpoints),
             "| family | version | runs | median seconds per ask (median over runs) |",
             "|---|---|---|---|"]
    for family in families:
        for version in paths:
            ask = asks.get((family, version), [])
            if ask:
                lines.append(f"| {family} | {version} | {len(ask)} | {np.median(ask):.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="runs file of the old code")
    parser.add_argument("--after", type=Path, required=True, help="runs file of the new code")
    parser.add_argument("--arm", default="hbo")
    parser.add_argument("--out", help="write results/<OUT>.md")
    parser.add_argument("--data", help="YAHPO data folder, for targets without a cached "
                        "random reference (default ../shared/yahpo_data)")
    parser.add_argument("--at", type=int, nargs="+",
                        help="evaluations to compare at (default: the benchmark's checkpoints)")
    args = parser.parse_args(argv)
    text = compare(args.before, args.after, args.arm, args.data,
                   None if args.at is None else tuple(args.at))
    print(text)
    if args.out:
        (RESULTS / f"{args.out}.md").write_text(text)


if __name__ == "__main__":
    main()
