import os
import shutil
from pathlib import Path

import pytest

# `make test` runs one worker per core: one thread each, as the runner gives parallel jobs (a 2-thread
# op beside a busy core waits). Only in workers: xdist's controller runs no test and needs no torch.
if os.environ.get("PYTEST_XDIST_WORKER"):
    import torch
    torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


UNMARKED = 0.1  # seconds: a test with no long mark, about the mean of those (quiet, 2 cores)


def _seconds(item) -> float:
    mark = item.get_closest_marker("long")
    if mark and not (len(mark.args) == 1 and isinstance(mark.args[0], (int, float))):
        raise pytest.UsageError(f"{item.nodeid}: write @pytest.mark.long(SECONDS), its quiet 2-core time")
    return mark.args[0] if mark else UNMARKED


def pytest_collection_modifyitems(items):
    """Modules by their expected seconds, most first, and long tests first within each: `make test`
    deals whole modules (xdist's loadfile, in this order) to whichever worker is free next, so a long
    module never starts last (the short ones even the workers out at the end), and a module's
    fixtures build once."""
    modules = {}
    for item in items:
        modules.setdefault(item.module.__name__, []).append(item)
    ordered = sorted(modules.values(), key=lambda group: -sum(map(_seconds, group)))
    items[:] = [item for group in ordered for item in sorted(group, key=lambda i: -_seconds(i))]


@pytest.fixture(scope="session")
def two_steps(tmp_path_factory):
    """step0 and step1 trained uninterrupted, one job of one thread: the table the runner tests read,
    and the numbers a resumed or parallel run must give again. Trained once for all test processes
    (the first to ask trains it, under a lock), so tests only read it."""
    import torch
    from quick_runs import cfg
    from roadmap.runs.lock import file_lock
    from roadmap.runs.runner import run
    root = tmp_path_factory.getbasetemp()
    root = root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root  # xdist: the workers' common folder
    out, done = root / "two-steps", root / "two-steps.done"
    with file_lock(root / "two-steps.lock", True, ""):
        if not done.is_file():
            shutil.rmtree(out, ignore_errors=True)  # a process that failed here left part of it
            ambient = torch.get_num_threads()
            torch.set_num_threads(2)
            try:
                assert run(cfg(out, log=["tensorboard"], threads=1)) == 0  # one thread: fast on a busy machine
                assert torch.get_num_threads() == 2  # the caller's count is restored
            finally:
                torch.set_num_threads(ambient)
            done.touch()
    return out


@pytest.fixture
def repo() -> Path:
    return REPO
