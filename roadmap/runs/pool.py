"""Several variants at once on one machine: a forkserver-context process pool, one variant per task.

The parent stays the one writer of the results folder: a worker trains, keeps its weights file and
returns the row, and the parent writes it under the table lock. Workers report progress through a
queue, ignore Ctrl-C (the parent stops them) and die with the parent (kill -9 included), so their
last checkpoints are what the same command resumes from.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import threading
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import wait as wait_for
from typing import Callable, Iterable

from roadmap.errors import RoadmapError

_sink = None  # in a worker: where its progress calls go
_shared = None  # in a worker: what the run handed every worker once (its data)


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


def shared():
    """What run_all(shared=...) handed this worker (only inside a pool worker)."""
    if _sink is None:
        raise RuntimeError("not in a roadmap pool worker")
    return _shared


def _die_with_parent() -> None:
    """Kill this worker as soon as the run's process is gone, however it went (kill -9 included).
    A worker's OS parent is the fork server, which lives on while any worker does, so the kernel's
    parent-death signal cannot serve; multiprocessing's parent sentinel (a pipe from the run's
    process, under spawn too) becomes ready when that process ends."""
    sentinel = mp.parent_process().sentinel

    def watch():
        wait_for([sentinel])
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def _init_worker(q, threads: int, environ: dict, given) -> None:
    global _sink, _shared
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent decides
    os.environ.clear()  # multiprocessing hands over the directory, not the environment: the fork
    os.environ.update(environ)  # server's is that of the process's first pooled run
    import torch
    torch.set_num_threads(threads)
    _sink, _shared = QueueSink(q), given


def _drain(q, progress) -> None:
    while True:
        try:
            method, args = q.get_nowait()
        except queue.Empty:
            return
        getattr(progress, method)(*args)


def _context():
    """Workers fork from a server process that imported the trainer (torch, timm) once and ran nothing,
    so each starts in milliseconds instead of importing it anew as a spawned one does; forking this
    process instead would copy its torch thread pools and locks. Spawn where there is no fork."""
    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["roadmap.runs.runner"])
    return ctx


def start_early() -> None:
    """Start the fork server now, before this process imports the trainer itself: the two imports
    (seconds each) then overlap on two cores instead of following each other. Left unused (every
    variant cached, a single one to train), the server ends with this process, its import having
    cost a fully cached 2-core run ~5% (5.38 against 4.98 s with --jobs 1, quiet, 2026-12-02)."""
    ctx = _context()
    if ctx.get_start_method() == "forkserver":
        from multiprocessing import forkserver
        forkserver.ensure_running()


def run_all(fn: Callable, tasks: Iterable, jobs: int, threads: int, progress,
            on_result: Callable, shared=None) -> None:
    """fn(task) for every task, `jobs` at a time in worker processes with `threads` intra-op threads
    each, in the given order (first submitted, first started); on_result(task, result) here as each
    ends. `shared` reaches each worker once, pickled (`shared()` there): the run's data, which a
    worker would otherwise load again (CIFAR-10's JPEGs: some 9 s each). A worker's exception stops
    the rest and is raised here; so is Ctrl-C or SIGTERM."""
    ctx = _context()
    q = ctx.Queue()
    pool = ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init_worker,
                               initargs=(q, threads, dict(os.environ), shared))
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
