"""Several variants at once on one machine: a spawn-context process pool, one variant per task.

The parent stays the one writer of the results folder: a worker trains, keeps its weights file and
returns the row, and the parent writes it under the table lock. Workers report progress through a
queue, ignore Ctrl-C (the parent stops them) and die with the parent (kill -9 included), so their
last epoch checkpoints are what the same command resumes from.
"""
from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import queue
import signal
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Iterable

from roadmap.errors import RoadmapError

_sink = None  # in a worker: where its progress calls go


class QueueSink:
    """A worker's Progress: each call travels to the parent's."""

    def __init__(self, q):
        self.q = q

    def __getattr__(self, method: str):
        if method not in ("say", "start", "step", "epoch"):
            raise AttributeError(method)
        return lambda *args: self.q.put((method, args))


def sink() -> QueueSink:
    """This worker's progress sink (only inside a pool worker)."""
    if _sink is None:
        raise RuntimeError("not in a roadmap pool worker")
    return _sink


def _die_with_parent(parent: int) -> None:
    try:  # Linux: the kernel sends SIGKILL to this worker when its parent dies, however it dies
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)


def _init_worker(q, threads: int, parent: int) -> None:
    global _sink
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent decides
    import torch
    torch.set_num_threads(threads)
    _sink = QueueSink(q)


def _drain(q, progress) -> None:
    while True:
        try:
            method, args = q.get_nowait()
        except queue.Empty:
            return
        getattr(progress, method)(*args)


def run_all(fn: Callable, tasks: Iterable, jobs: int, threads: int, progress,
            on_result: Callable) -> None:
    """fn(task) for every task, `jobs` at a time in worker processes with `threads` intra-op threads
    each, in the given order (first submitted, first started); on_result(task, result) here as each
    ends. A worker's exception stops the rest and is raised here; so is Ctrl-C or SIGTERM."""
    ctx = mp.get_context("spawn")  # fork would copy this process's torch thread pools and locks
    q = ctx.Queue()
    pool = ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init_worker, initargs=(q, threads, os.getpid()))
    futures = {pool.submit(fn, task): task for task in tasks}
    try:
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
            _drain(q, progress)
            for f in done:
                try:
                    result = f.result()
                except BrokenProcessPool:
                    raise RoadmapError("a worker process died (killed, or out of memory); finished rows are "
                                       "kept and the same command resumes the others") from None
                on_result(futures[f], result)
        _drain(q, progress)
    except BaseException:
        _stop(pool)
        raise
    pool.shutdown(wait=True)


def _stop(pool: ProcessPoolExecutor) -> None:
    pool.shutdown(wait=False, cancel_futures=True)
    for child in mp.active_children():  # the pool's workers: stop mid-epoch, their checkpoints stay
        child.terminate()
    for child in mp.active_children():
        child.join(timeout=10)
