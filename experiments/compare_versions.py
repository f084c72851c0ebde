"""Two versions of one arm of ``transfer_benchmark.py``, run for run: did a code change help?

A change to hbo's defaults is measured by running the same arm, families and seeds before
and after it (``--out`` of each run naming its own runs file; the earlier code from a git
worktree of the earlier commit) and pairing the runs by family and seed. Prints the paired
regret ratios after / before (:func:`paired_comparison.paired_table`; below 1: the change
helped) and each version's median seconds per model-based ask.

    python experiments/compare_versions.py --before results/A_runs.jsonl \\
        --after results/B_runs.jsonl [--arm hbo] [--out NAME]

Writes ``results/<NAME>.md`` with ``--out``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, os.fspath(Path(__file__).resolve().parent))

from paired_comparison import paired_table  # noqa: E402
from transfer_benchmark import RESULTS, load_runs, simple_regret  # noqa: E402


def compare(before: Path, after: Path, arm: str) -> str:
    """The paired table of ``arm``'s runs in ``after`` against those in ``before``, and the
    median ask times of each."""
    runs = {version: [r for r in load_runs(path) if r[1] == arm]
            for version, path in (("before", before), ("after", after))}
    if not all(runs.values()):
        raise SystemExit(f"no runs of arm {arm!r} in {before if not runs['before'] else after}")
    regret = {(family, version, seed): simple_regret(values, f_min)
              for version, rs in runs.items() for family, _, seed, values, _, f_min in rs}
    families = sorted({r[0] for rs in runs.values() for r in rs})
    lines = [f"# {arm}: {after.name} against {before.name}", "",
             f"`python experiments/{Path(__file__).name} --before {before} --after {after} "
             f"--arm {arm}`", "", paired_table(regret, families, "before", "after"),
             "| family | version | runs | median seconds per ask (median over runs) |",
             "|---|---|---|---|"]
    for family in families:
        for version, rs in runs.items():
            # asks after the first 5: the model's, not the initial design's
            ask = [np.median(r[4][5:]) for r in rs if r[0] == family]
            lines.append(f"| {family} | {version} | {len(ask)} | {np.median(ask):.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="runs file of the old code")
    parser.add_argument("--after", type=Path, required=True, help="runs file of the new code")
    parser.add_argument("--arm", default="hbo")
    parser.add_argument("--out", help="write results/<OUT>.md")
    args = parser.parse_args(argv)
    text = compare(args.before, args.after, args.arm)
    print(text)
    if args.out:
        (RESULTS / f"{args.out}.md").write_text(text)


if __name__ == "__main__":
    main()
