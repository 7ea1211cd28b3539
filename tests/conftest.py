import os
from pathlib import Path

import pytest

if os.environ.get("PYTEST_XDIST_WORKER"):  # `make test` runs one worker per core: one thread each, as the
    import torch                            # runner gives parallel jobs (a 2-thread op beside a busy core waits)
    torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def pytest_collection_modifyitems(items):
    """Long tests first, so that the workers finish together: xdist's worksteal hands each worker a
    share in this order and idle ones take from the end of the others' queues (a long test last kept a
    worker busy 17 s after the other was done). Modules stay whole, so their fixtures build once."""
    modules = {}
    for item in items:
        modules.setdefault(item.module.__name__, []).append(item)
    def longs(group):
        return sum(1 for item in group if item.get_closest_marker("long"))
    ordered = sorted(modules.values(), key=longs, reverse=True)
    items[:] = [item for group in ordered for item in sorted(group, key=lambda i: not i.get_closest_marker("long"))]


@pytest.fixture
def repo() -> Path:
    return REPO
