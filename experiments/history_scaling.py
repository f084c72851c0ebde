"""Ask time against history size: T source tasks x n points each, d = 7 (issue #27).

For each size ``T x n`` a fresh process (one torch thread) builds an ``hbo.Study`` with
the sources' history (a related family: Levy-7 in shifted windows with random scales,
as :class:`transfer_benchmark.Task`) and 2 target points, then times the first ask (cold:
source screening, stage A, the target's fit, the acquisition) and 10 later asks (each
after telling the target's value), and reports the peak resident memory of that process.
In the same run, and on the same data, BoTorch's ``MultiTaskGP`` (one cold fit + LogEI ask)
and RGPE (``experiments/rgpe.py``: a GP per source, ranking weights, LogEI) are timed where
they finish within ``--peer-timeout`` seconds.

    python experiments/history_scaling.py                       # all rows
    python experiments/history_scaling.py --sizes 5x50 50x100   # some rows

Appends each row to ``experiments/results/<out>.jsonl`` as it finishes and writes the
table of every row there to ``<out>.md`` (``--table`` only writes the table).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from transfer_benchmark import RESULTS, Task, _history_tensors_from, _space  # noqa: E402

D, LATER_ASKS, TARGET_POINTS = 7, 10, 2
SIZES = ("5x50", "20x100", "50x100", "100x200")


def _family(T: int, n: int, seed: int = 0):
    from botorch.test_functions import Levy

    rng = np.random.default_rng(seed)
    tasks = [Task(Levy(dim=D), rng.uniform(0, 0.1, D), rng.uniform(0.5, 2), rng.uniform(-1, 1))
             for _ in range(T + 1)]
    X = rng.random((T, n, D))
    Y = np.stack([f(x) for f, x in zip(tasks[1:], X, strict=True)])
    return tasks[0], X, Y


def _time_hbo(T: int, n: int, training: str, queue) -> None:
    import hbo

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    target, X, Y = _family(T, n)
    study = hbo.Study(_space(D), task="target", seed=0, training=training)
    names = study.space.names
    for t in range(T):
        study.add_history(f"s{t}", [dict(zip(names, r, strict=True)) for r in X[t].tolist()],
                          Y[t].tolist())
    x0 = np.random.default_rng(1).random((TARGET_POINTS, D))
    study.add_history("target", [dict(zip(names, r, strict=True)) for r in x0.tolist()],
                      target(x0).tolist())
    times = []
    for _ in range(1 + LATER_ASKS):
        start = time.perf_counter()
        trial = study.ask()
        times.append(time.perf_counter() - start)
        study.tell(trial, float(target(np.array([[trial.params[k] for k in names]]))[0]))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # GiB (Linux: KiB)
    queue.put({"first": times[0], "later": statistics.median(times[1:]), "peak_gb": peak,
               "approximation": study.proposer.model.__class__.__name__})


def _time_peer(T: int, n: int, peer: str, queue) -> None:
    from transfer_benchmark import _botorch_ask, _multi_task_gp

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    target, X, Y = _family(T, n)
    x0 = torch.tensor(np.random.default_rng(1).random((TARGET_POINTS, D)))
    y0 = -torch.tensor(target(x0.numpy())).unsqueeze(-1)
    start = time.perf_counter()
    if peer == "mtgp":
        _botorch_ask(_multi_task_gp, x0, y0, _history_tensors_from(X, Y))
    else:
        _rgpe_ask(X, Y, x0, y0)
    queue.put({"time": time.perf_counter() - start})


def _rgpe_ask(X, Y, x0, y0) -> None:
    from botorch.acquisition import LogExpectedImprovement
    from botorch.optim import optimize_acqf
    from rgpe import RGPE, fit_gp, ranking_weights, standardize

    from hbo.acquisition import LBFGS_FACTR, NUM_RESTARTS, RAW_SAMPLES

    bounds = torch.tensor([[0.0] * D, [1.0] * D], dtype=torch.double)
    sources = [fit_gp(torch.tensor(x), standardize(-torch.tensor(y)), bounds)
               for x, y in zip(X, Y, strict=True)]
    target = fit_gp(x0, standardize(y0.squeeze(-1)), bounds)
    weights = ranking_weights(sources, target, x0, torch.Generator().manual_seed(0))
    model = RGPE([*sources, target], weights)
    acqf = LogExpectedImprovement(model, best_f=standardize(y0.squeeze(-1)).max())
    optimize_acqf(acqf, bounds, q=1, num_restarts=NUM_RESTARTS, raw_samples=RAW_SAMPLES,
                  options={"factr": LBFGS_FACTR})


def _in_process(target, args, timeout: float) -> dict | None:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    proc.join(timeout)
    if proc.is_alive():
        proc.kill()
        proc.join()
        return None
    return queue.get() if not queue.empty() else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", default=list(SIZES))
    parser.add_argument("--training", default="auto", choices=("auto", "joint", "hierarchical"))
    parser.add_argument("--peer-timeout", type=float, default=300.0)
    parser.add_argument("--peers", nargs="*", default=["mtgp", "rgpe"])
    parser.add_argument("--mtgp-max-points", type=int, default=5000,
                        help="skip MultiTaskGP above this many history points (its N x N "
                        "matrix alone is 3.2 GB at 20,000)")
    parser.add_argument("--out", default="history_scaling")
    parser.add_argument("--table", action="store_true", help="only write the table")
    args = parser.parse_args(argv)
    out = RESULTS / f"{args.out}.jsonl"
    for size in [] if args.table else args.sizes:
        T, n = map(int, size.split("x"))
        row = {"size": size, "training": args.training, "peer_timeout": args.peer_timeout,
               "hbo": _in_process(_time_hbo, (T, n, args.training), 3600)}
        for peer in args.peers:
            if peer == "mtgp" and T * n > args.mtgp_max_points:
                continue
            row[peer] = _in_process(_time_peer, (T, n, peer), args.peer_timeout)
        print(json.dumps(row), flush=True)
        with open(out, "a") as handle:
            handle.write(json.dumps(row) + "\n")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    (RESULTS / f"{args.out}.md").write_text(table(rows))


def table(rows: list[dict]) -> str:
    """Markdown table of the rows (seconds, GiB; "> t" where a peer ran past its limit)."""
    def peer(row: dict, name: str) -> str:
        if name not in row:
            return "not run"
        value = row[name]
        return f"> {row.get('peer_timeout', 480):.0f}" if value is None else f"{value['time']:.1f}"

    lines = ["| T x n | training | model | first ask | median later ask (of 10) | peak memory "
             "(GiB) | MultiTaskGP fit + ask | RGPE fit + ask | first ask / MTGP |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        hbo, mtgp = row["hbo"], row.get("mtgp")
        if mtgp:
            ratio = f"{hbo['first'] / mtgp['time']:.3f}"
        elif "mtgp" in row:
            ratio = f"< {hbo['first'] / row.get('peer_timeout', 480):.3f}"
        else:
            ratio = "-"
        lines.append(
            f"| {row['size']} | {row['training']} | {hbo['approximation']} | {hbo['first']:.1f} "
            f"| {hbo['later']:.2f} | {hbo['peak_gb']:.2f} | {peer(row, 'mtgp')} | "
            f"{peer(row, 'rgpe')} | {ratio} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
