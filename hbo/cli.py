"""The ``hbo`` command.

    hbo demo [--budget 15] [--history 24] [--seed 0] [-o hbo-demo.png]

Errors on bad input are one line on stderr (no traceback) and exit status 2; success is 0.
"""

from __future__ import annotations

import argparse
import sys

from hbo.errors import HBOError


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hbo", description="Hierarchical Bayesian optimization and posterior summaries."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="transfer-tune an SVM on digits with history from 3 other datasets",
        description="Tune an RBF SVM on scikit-learn's digits with and without tuning "
        "history from three related datasets; print the curves and the pooling report and "
        "save a PNG.",
    )
    demo.add_argument("--budget", type=_positive_int, default=15, help="target evaluations")
    demo.add_argument("--history", type=_positive_int, default=24, help="evaluations per source")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("-o", "--output", default="hbo-demo.png", help="PNG of the curves")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "demo":
            from hbo import demo

            demo.main(args.budget, args.history, args.seed, args.output)
    except HBOError as exc:
        print(f"hbo {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
