"""Jobs run in worker processes, each result appended to a JSON-lines file as it comes.

A stopped run loses only the jobs in flight: run the same command again and the jobs
whose records are in the file are skipped (the caller compares keys). The workers die with
the process that started them (on Linux): a benchmark killed by its command line left its
spawned workers running for hours, orphaned, beside later measurements.
"""

from __future__ import annotations

import ctypes
import json
import multiprocessing as mp
import signal
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any


def read_records(path: Path) -> list[dict]:
    """The records in ``path`` (one JSON object per line), or none if it does not exist."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def _die_with_parent() -> None:
    """Worker initializer: ask Linux to kill this process when its parent exits
    (``prctl(PR_SET_PDEATHSIG, SIGKILL)``); elsewhere nothing."""
    if sys.platform.startswith("linux"):
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def run_jobs(
    fn: Callable[[Any], dict], jobs: Sequence[Any], runs: Path, workers: int,
    describe: Callable[[dict], str], every: int = 1,
) -> list[dict]:
    """``fn(job)`` for every job in ``workers`` spawned processes, in completion order.

    Each record is appended to ``runs`` as it comes; every ``every``-th (and the last) is
    printed as ``[i/n] describe(record) (elapsed s)``. Returns the new records.
    """
    records: list[dict] = []
    start = time.perf_counter()
    runs.parent.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"),
                             initializer=_die_with_parent) as pool:
        futures = [pool.submit(fn, job) for job in jobs]
        for i, future in enumerate(as_completed(futures), 1):
            record = future.result()
            records.append(record)
            with runs.open("a") as handle:
                handle.write(json.dumps(record) + "\n")
            if i % every == 0 or i == len(jobs):
                print(f"[{i}/{len(jobs)}] {describe(record)} "
                      f"({time.perf_counter() - start:.0f}s)", flush=True)
    return records
