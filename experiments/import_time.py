"""How long ``import hbo`` takes in a fresh interpreter, against ``import optuna`` in the same run.

Each statement runs in its own fresh interpreter ``--repeats`` times, alternating, and the
table gives the median wall time of the statement alone (``time.perf_counter`` around it,
so interpreter start-up is not counted) and its ratio to ``import optuna``'s. ``import hbo``
loads only errors, warnings and trials; ``hbo.Study`` loads torch, BoTorch and the
surrogate (the first use of a study pays that once).

    python experiments/import_time.py [--repeats 7]

Writes ``results/import_time.md``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
STATEMENTS = {
    "import optuna": "import optuna",
    "import hbo": "import hbo",
    "import hbo; hbo.Study": "import hbo; hbo.Study",
}


def seconds(statement: str) -> float:
    script = ("import time; t = time.perf_counter(); "
              f"{statement}; print(time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", script], capture_output=True,
                         text=True, check=True)
    return float(out.stdout.split()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    times: dict[str, list[float]] = {name: [] for name in STATEMENTS}
    for _ in range(args.repeats):
        for name, statement in STATEMENTS.items():
            times[name].append(seconds(statement))
    base = statistics.median(times["import optuna"])
    lines = ["# Import time in a fresh interpreter", "",
             f"`python experiments/import_time.py --repeats {args.repeats}` (median of "
             f"{args.repeats} fresh interpreters each, alternating)", "",
             "| statement | median s | / import optuna |", "|---|---|---|"]
    for name, values in times.items():
        median = statistics.median(values)
        lines.append(f"| `{name}` | {median:.3f} | {median / base:.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "import_time.md").write_text(text)


if __name__ == "__main__":
    main()
