"""An arm of the transfer benchmark rerun after a code change, paired by seed with its runs
from before: did the change move the regret?

Both files hold runs of ``transfer_benchmark.py`` (``--runs``); the arm's runs of each are
renamed ``<arm>_before`` / ``<arm>_after`` and compared run for run with
:func:`paired_comparison.paired_table` (geometric-mean regret ratio, after / before, with a
90% interval, per family and pooled).

    python experiments/transfer_benchmark.py --arms hbo --runs results/<new>_runs.jsonl \\
        --out <new>
    python experiments/rerun_check.py results/<old>_runs.jsonl results/<new>_runs.jsonl \\
        --arm hbo --out <new>_paired
"""

from __future__ import annotations

import argparse
from pathlib import Path

from paired_comparison import paired_table
from transfer_benchmark import FAMILIES, RESULTS, load_runs, simple_regret


def regrets(path: Path, arm: str, label: str) -> dict:
    return {(family, label, seed): simple_regret(values, f_min)
            for family, run_arm, seed, values, _times, f_min in load_runs(path)
            if run_arm == arm}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path, help="runs from before the change")
    parser.add_argument("after", type=Path, help="runs from after it")
    parser.add_argument("--arm", default="hbo")
    parser.add_argument("--out", required=True, help="name of the table in results/")
    args = parser.parse_args(argv)
    before, after = f"{args.arm}_before", f"{args.arm}_after"
    regret = {**regrets(args.before, args.arm, before), **regrets(args.after, args.arm, after)}
    families = [f for f in FAMILIES if any(k[0] == f for k in regret)]
    text = (f"# {args.arm} rerun: {args.after.name} against {args.before.name}\n\n"
            f"`python experiments/rerun_check.py {args.before} {args.after} --arm {args.arm} "
            f"--out {args.out}`\n\n" + paired_table(regret, families, before, after))
    print(text)
    (RESULTS / f"{args.out}.md").write_text(text)


if __name__ == "__main__":
    main()
