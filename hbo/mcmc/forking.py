"""Calls run at once, each in a process forked from this one (chains that share a compiled
potential without rebuilding it)."""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import sys
import traceback
import warnings
from collections.abc import Callable, Iterable
from multiprocessing.connection import Connection
from typing import Any

import torch


def can_fork(processes: int) -> bool:
    """Whether :func:`in_forked_processes` can run ``processes`` at once here: Linux (fork
    is the start method that shares the compiled potential; macOS and Windows lack a safe
    one), at least two processes and two usable cores, and not inside a daemonic process
    (one that may not have children, e.g. a ``multiprocessing.Pool`` worker)."""
    return (sys.platform.startswith("linux") and processes > 1
            and len(os.sched_getaffinity(0)) > 1 and not mp.current_process().daemon)


def in_forked_processes(fn: Callable[[int], Any], items: Iterable[int]) -> list[Any]:
    """``[fn(i) for i in items]``, each call in a process forked from this one.

    Each child runs on one thread (a forked child that entered a multi-threaded OpenMP
    region of the parent's pool can hang; PyTorch's DataLoader workers do the same) and
    sends its result back through a pipe. An exception in a child is raised here, with the
    child's traceback as a note; a child that dies without a word raises
    :class:`ChildProcessError`. Children still running when this returns or raises are
    terminated.
    """
    context = mp.get_context("fork")
    children = []

    def child(item: int, send: Connection) -> None:
        # plain pickle: Connection.send would share tensors by file descriptor (torch's
        # reducers), which the parent can only fetch while this process still lives
        torch.set_num_threads(1)
        try:
            send.send_bytes(pickle.dumps(("ok", fn(item))))
        except BaseException as error:  # noqa: BLE001 - every failure goes to the parent
            trace = traceback.format_exc()
            try:
                message = pickle.dumps(("error", (error, trace)))
            except Exception:  # noqa: BLE001 - an error that does not pickle: its text
                message = pickle.dumps(
                    ("error", (RuntimeError(f"{type(error).__name__}: {error}"), trace)))
            send.send_bytes(message)
        finally:
            send.close()

    try:
        for item in items:
            receive, send = context.Pipe(duplex=False)
            process = context.Process(target=child, args=(item, send), daemon=True)
            with warnings.catch_warnings():
                # Python >= 3.12 warns that a fork of a multi-threaded process may deadlock
                # (a lock held by another thread); the child touches no lock but torch's
                warnings.filterwarnings("ignore", "This process .* is multi-threaded",
                                        DeprecationWarning)
                process.start()
            send.close()  # the child's end: so that a dead child reads as EOF here
            children.append((process, receive))
        results = []
        for process, receive in children:
            try:
                status, value = pickle.loads(receive.recv_bytes())
            except EOFError:
                process.join()
                raise ChildProcessError(
                    f"a chain's process ended without a result (exit code {process.exitcode})"
                ) from None
            if status == "error":
                error, trace = value
                error.add_note(f"in the forked chain process:\n{trace}")
                raise error
            results.append(value)
            process.join()
        return results
    finally:
        for process, receive in children:
            receive.close()
            if process.is_alive():
                process.terminate()
