"""Advisory file locks (fcntl): one run per results folder, one writer of its table at a time."""
from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path

from roadmap.errors import RoadmapError


@contextmanager
def file_lock(path: Path, blocking: bool, busy_message: str):
    """Hold an exclusive lock on `path`; when not `blocking` and it is held, raise `busy_message`
    (with `{holder}`: the pid and host written by the holder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            f.seek(0)
            raise RoadmapError(busy_message.format(holder=f.read().strip() or "another process")) from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()} on {os.uname().nodename}")
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
