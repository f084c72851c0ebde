"""The ``hbo`` command.

    hbo demo [--budget 15] [--history 24] [--seed 0] [-o hbo-demo.png]
    hbo studies --storage URL
    hbo show NAME --storage URL [--no-pooling]
    hbo plot NAME --storage URL [-o NAME.png|.pdf|.svg|...] [--no-pooling]
    hbo export NAME --storage URL -o FILE.json|FILE.csv
    hbo import FILE.json --storage URL [--name NAME]
    hbo import --storage URL --study NAME --from-optuna|--from-hbo STUDY[@URL] [--task T]
    hbo import --storage URL --study NAME --from-csv FILE.csv --task T [--source-direction D]
    hbo summarize y.csv [--tau-prior half-cauchy:25]   (columns estimate, se)
    hbo meta data.csv [--method REML] [--test z] [--level 0.95]   (columns yi, vi or sei)

Exit status: 0 success, 2 bad input (one line on stderr, no traceback; argparse's usage
errors too), 1 an unexpected error (a bug: the traceback is printed). Progress of long
work (fitting the surrogate) goes to stderr, results to stdout.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path

import pandas as pd

from hbo.errors import HBOError, ImproperPosteriorError, InvalidArgumentError, InvalidDataError

STORAGE_HELP = "database URL, e.g. sqlite:///tuning.db or postgresql+psycopg://user@host/db"
TAU_PRIORS = ("uniform", "half-normal", "half-cauchy", "exponential")
TAU_PRIOR_HELP = (
    f"NAME[:SCALE], NAME one of {', '.join(TAU_PRIORS)} (SCALE needed but for uniform), "
    "e.g. half-cauchy:25"
)


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

    def stored(name: str, help: str, description: str, study: bool = True):
        sub = commands.add_parser(name, help=help, description=description)
        if study:
            sub.add_argument("name", help="the study's name")
        sub.add_argument("--storage", required=True, metavar="URL", help=STORAGE_HELP)
        return sub

    stored("studies", "list the studies in a database",
           "List the studies stored in a database with their trial counts.", study=False)
    show = stored("show", "print a study: trials, best, pooling report",
                  "Print a stored study's trials, its best trial on the target task and "
                  "the pooling report of the surrogate fitted to all completed trials.")
    show.add_argument("--no-pooling", action="store_true", help="skip the pooling report")
    plot = stored("plot", "plot best-so-far curves per task and the pooling",
                  "Save a figure: the best value so far per task, and the shrinkage of the "
                  "surrogate's hyperparameters per task.")
    plot.add_argument("-o", "--output", help="image path, its format from the suffix (.png, "
                      ".pdf, .svg, .jpg, ...; default: NAME.png)")
    plot.add_argument("--no-pooling", action="store_true", help="only the curves")
    export = stored("export", "write a study to JSON (all of it) or CSV (its trials)",
                    "Write a stored study to a .json file (space, settings, every trial) "
                    "or a .csv file (one row per trial).")
    export.add_argument("-o", "--output", required=True, help="FILE.json or FILE.csv")
    load = stored("import", "store a study exported as JSON, or add history from Optuna/hbo",
                  "Store a study from a JSON file written by `hbo export` (same trial ids); "
                  "or add the completed trials of a past Optuna or hbo study (or of an "
                  "Optuna trials_dataframe() CSV) as history to the existing study --study. "
                  "Parameters map by name, values are negated if the source optimized the "
                  "other way; what is left out is listed.", study=False)
    load.add_argument("path", nargs="?", help="FILE.json (a whole study from `hbo export`)")
    load.add_argument("--name", help="with FILE.json: name in the database (default: the "
                      "exported name)")
    load.add_argument("--study", metavar="NAME", help="the stored study that receives history")
    sources = load.add_mutually_exclusive_group()
    sources.add_argument("--from-optuna", metavar="STUDY[@URL]", help="an Optuna study (URL "
                         "default: --storage)")
    sources.add_argument("--from-hbo", metavar="STUDY[@URL]", help="an hbo study: each of its "
                         "tasks (URL default: --storage)")
    sources.add_argument("--from-csv", metavar="FILE.csv", help="Optuna's trials_dataframe() "
                         "as CSV (columns params_<name>, value, state); needs --task")
    load.add_argument("--task", help="task name of the imported trials (default: the source "
                      "study's name; needed with --from-csv)")
    load.add_argument("--source-direction", choices=["minimize", "maximize"],
                      help="with --from-csv: the direction the source optimized (default: "
                      "the target's)")

    summarize = commands.add_parser(
        "summarize",
        help="exact posterior of the normal hierarchical model (Eight Schools style)",
        description="Exact posterior summary (mu, tau, theta_j) of the normal hierarchical "
        "model y_j ~ N(theta_j, se_j^2), theta_j ~ N(mu, tau^2), a flat prior on mu, for a "
        "CSV with columns estimate and se (one row per group).",
    )
    summarize.add_argument("path", help="CSV file with columns estimate, se")
    summarize.add_argument("--tau-prior", default="uniform", metavar="NAME[:SCALE]",
                           help=f"prior on tau: {TAU_PRIOR_HELP} (default: uniform, BDA3's "
                           "flat prior, improper with fewer than 3 groups)")
    meta = commands.add_parser(
        "meta",
        help="random-effects meta-analysis of a CSV (metafor's rma)",
        description="Random-effects meta-analysis of a CSV with columns yi and vi (sampling "
        "variances) or sei (standard errors); an optional column 'study' labels the rows.",
    )
    meta.add_argument("path", help="CSV file with columns yi and vi (or sei)")
    meta.add_argument("--method", default="REML", help="tau^2 estimator (REML, DL, PM, ML, "
                      "EB, HE, SJ, HS, FE; default REML)")
    meta.add_argument("--test", default="z", choices=["z", "knha"],
                      help="z tests, or Knapp-Hartung (knha)")
    meta.add_argument("--level", type=float, default=0.95, help="interval coverage")
    return parser


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _read_csv(path: str, required: list[list[str]]) -> pd.DataFrame:
    """A CSV with, for each entry of ``required``, at least one of its column names."""
    frame = pd.read_csv(path)
    missing = [" or ".join(names) for names in required if not set(names) & set(frame.columns)]
    if missing:
        raise InvalidDataError(
            f"{path}: needs columns {', '.join(missing)}; it has {list(frame.columns)}"
        )
    return frame


def _numbers(frame: pd.DataFrame, column: str, path: str):
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = [i + 2 for i in values.index[values.isna()]]  # file lines (1 = header)
    if bad:
        raise InvalidDataError(f"{path}: column {column!r} is not a number on lines {bad[:10]}")
    return values.to_numpy(dtype=float)


def _open(args: argparse.Namespace):
    from hbo.study import Study

    return Study.load(args.name, args.storage)


def _pooling(study, skip: bool):
    from hbo.trial import TrialState

    done = study.storage.get_trials(states=[TrialState.COMPLETE])
    if skip or not done:
        return None
    _progress(f"fitting the surrogate to {len(done)} completed trials for the pooling report ...")
    return study.pooling()


def cmd_demo(args: argparse.Namespace) -> None:
    from hbo import demo

    demo.main(args.budget, args.history, args.seed, args.output)


def cmd_studies(args: argparse.Namespace) -> None:
    from hbo.storage.sql import list_studies

    rows = list_studies(args.storage)
    if not rows:
        print(f"no studies in {args.storage}")
        return
    for row in rows:  # several objectives: named in the direction's column
        objectives = row.pop("objectives")
        row["direction"] = row["direction"] or ",".join(f"{k}:{v}" for k, v in objectives.items())
    print(pd.DataFrame(rows).to_string(index=False))


def cmd_show(args: argparse.Namespace) -> None:
    from hbo.errors import NotReadyError

    study = _open(args)
    frame = study.trials_dataframe()
    goal = study.direction if len(study.objectives) == 1 else study.objectives
    print(f"study {study.name!r}: target task {study.task!r}, {goal}, "
          f"seed {study.seed}, {len(frame)} trials")
    counts = frame.groupby(["task", "state"]).size().unstack(fill_value=0)
    print(counts.to_string() if len(frame) else "(no trials)")
    print()
    with pd.option_context("display.max_rows", None, "display.width", 200):
        print(frame.to_string(index=False))
    print()
    if len(study.objectives) > 1:
        front = [t.id for t in study.pareto_front()]
        print(f"Pareto front on {study.task!r} (feasible, non-dominated): trials {front}")
    else:
        try:
            best = study.best
            print(f"best on {study.task!r}: trial {best.id}, value {best.value:.6g}, "
                  f"{best.params}")
        except NotReadyError as exc:
            print(f"best on {study.task!r}: {exc}")
    report = _pooling(study, args.no_pooling)
    if report is not None:
        print()
        print(report)


def _check_image_path(output: str) -> None:
    """``-o output`` checked before any long work: a suffix naming an image format
    matplotlib writes, in a folder that exists."""
    from matplotlib.backend_bases import FigureCanvasBase

    path = Path(output)
    suffix = path.suffix.lower().lstrip(".")
    formats = FigureCanvasBase.get_supported_filetypes()
    if suffix not in formats:
        raise InvalidArgumentError(
            f"-o {output}: give a file name ending in an image format, one of "
            f"{', '.join('.' + f for f in sorted(formats))}"
        )
    if not path.parent.is_dir():
        raise InvalidArgumentError(f"-o {output}: folder {path.parent} does not exist")


def cmd_plot(args: argparse.Namespace) -> None:
    from hbo.study.plots import save_pareto_figure, save_study_figure

    output = args.output or f"{args.name}.png"
    _check_image_path(output)
    study = _open(args)
    if len(study.objectives) > 1:  # no best value: the Pareto front
        save_pareto_figure(study, output)
    else:
        save_study_figure(study, output, _pooling(study, args.no_pooling))
    print(f"wrote {output}")


def cmd_export(args: argparse.Namespace) -> None:
    from hbo.study import io as study_io

    suffix = Path(args.output).suffix.lower()
    if suffix not in (".json", ".csv"):
        raise InvalidArgumentError(f"-o {args.output}: give a .json or .csv file name")
    study = _open(args)
    (study_io.save_json if suffix == ".json" else study_io.save_csv)(study, args.output)
    print(f"wrote {args.output} ({len(study.storage.get_trials())} trials)")


def cmd_import(args: argparse.Namespace) -> None:
    from hbo.study import io as study_io

    flags = {"--from-optuna": args.from_optuna, "--from-hbo": args.from_hbo,
             "--from-csv": args.from_csv}
    source = next(((flag, value) for flag, value in flags.items() if value), None)
    if (args.path is None) == (source is None):
        raise InvalidArgumentError(
            "give FILE.json (a whole study) or one of --from-optuna, --from-hbo, --from-csv "
            "(history for --study)" + (", not both" if source else "")
        )
    if source is None:
        extra = [f"--{k.replace('_', '-')}" for k in ("study", "task", "source_direction")
                 if getattr(args, k) is not None]
        if extra:
            raise InvalidArgumentError(f"{extra} go with --from-...; FILE.json is a whole study")
        study = study_io.load_json(args.path, args.storage, args.name)
        print(f"stored study {study.name!r} ({len(study.storage.get_trials())} trials)")
        return
    _import_history(args, *source)


def _import_history(args: argparse.Namespace, flag: str, value: str) -> None:
    """``hbo import --study NAME --from-...``: read, check, then store the source's trials."""
    import re
    import warnings

    from hbo._warnings import HistoryImportWarning
    from hbo.storage import UnknownStudyError
    from hbo.study import Study
    from hbo.study.history import read_history, store_history
    from hbo.study.history_stored import open_stored

    if args.study is None or args.name is not None:
        raise InvalidArgumentError(f"{flag} adds history to an existing study: name it with "
                                   "--study NAME (not --name)")
    if flag == "--from-csv" and args.task is None:
        raise InvalidArgumentError("--from-csv: a CSV does not name its task; give --task")
    if flag != "--from-csv" and args.source_direction is not None:
        raise InvalidArgumentError(f"--source-direction goes with --from-csv; {flag} reads it")
    try:
        study = Study.load(args.study, args.storage)
    except UnknownStudyError as exc:
        raise UnknownStudyError(
            f"{exc}. `hbo import --study` adds history to an existing study: create it first, "
            f"e.g. hbo.Study(space, storage={args.storage!r}, name={args.study!r})"
        ) from None
    if flag == "--from-csv":
        source = pd.read_csv(value)
    else:  # NAME@URL splits at the first '@' that a URL scheme follows
        match = re.fullmatch(r"(.+?)@([A-Za-z][\w+.-]*://.*)", value)
        name, url = match.groups() if match else (value, args.storage)
        if flag == "--from-hbo" and (name, url) == (args.study, args.storage):
            raise InvalidArgumentError(f"--from-hbo {value}: that is --study itself")
        source = open_stored(name, url, "optuna" if flag == "--from-optuna" else "hbo")
    tables = read_history(source, study.space, study.direction, task=args.task,
                          source_direction=args.source_direction)
    with warnings.catch_warnings():  # the same news is printed below, per task
        warnings.simplefilter("ignore", HistoryImportWarning)
        store_history(study.storage, tables)
    print(f"imported into study {study.name!r} (target task {study.task!r}, {study.direction}):")
    for table in tables:
        print(f"  {table}")


def _tau_prior(text: str) -> dict:
    """``--tau-prior NAME[:SCALE]`` as the ``tau_prior`` and ``tau_scale`` of NormalHierarchy."""
    name, _, scale = text.partition(":")
    name = name.replace("_", "-")
    if name not in TAU_PRIORS:
        raise InvalidArgumentError(f"--tau-prior {text}: unknown prior {name!r}.")
    try:
        tau_scale = float(scale) if scale else None
    except ValueError:
        raise InvalidArgumentError(f"--tau-prior {text}: {scale!r} is not a number.") from None
    return {"tau_prior": name.replace("-", "_"), "tau_scale": tau_scale}


def cmd_summarize(args: argparse.Namespace) -> None:
    from hbo.hierarchy import NormalHierarchy

    frame = _read_csv(args.path, [["estimate"], ["se"]])
    y, se = _numbers(frame, "estimate", args.path), _numbers(frame, "se", args.path)
    try:
        summary = NormalHierarchy(y, se, **_tau_prior(args.tau_prior)).fit().summary()
    except (InvalidArgumentError, ImproperPosteriorError) as exc:  # say how to set the prior
        raise type(exc)(f"{exc} Set --tau-prior {TAU_PRIOR_HELP}.") from None
    print(f"Normal hierarchical model, J = {len(y)} groups, {args.tau_prior} prior on tau, "
          "flat on mu: exact posterior (BDA3 5.4)")
    print(summary.to_string(float_format=lambda v: f"{v:.3f}"))


def cmd_meta(args: argparse.Namespace) -> None:
    from hbo.meta import random_effects

    frame = _read_csv(args.path, [["yi"], ["vi", "sei"]])
    if {"vi", "sei"} <= set(frame.columns):
        raise InvalidDataError(f"{args.path}: give column vi or sei, not both")
    yi = _numbers(frame, "yi", args.path)
    spread = {c: _numbers(frame, c, args.path) for c in ("vi", "sei") if c in frame.columns}
    labels = frame["study"].astype(str).tolist() if "study" in frame.columns else None
    result = random_effects(
        yi, spread.get("vi"), sei=spread.get("sei"), method=args.method, test=args.test,
        level=args.level, labels=labels,
    )
    print(result.summary())


HANDLERS = {
    "demo": cmd_demo,
    "studies": cmd_studies,
    "show": cmd_show,
    "plot": cmd_plot,
    "export": cmd_export,
    "import": cmd_import,
    "summarize": cmd_summarize,
    "meta": cmd_meta,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        HANDLERS[args.command](args)
    except (HBOError, OSError, pd.errors.ParserError, pd.errors.EmptyDataError,
            UnicodeDecodeError) as exc:
        print(f"hbo {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except Exception:
        traceback.print_exc()
        print(f"hbo {args.command}: unexpected error (a bug: please report it with the "
              "traceback above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
