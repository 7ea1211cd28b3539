"""A row's git_commit names the code its process imported, marked when that code was uncommitted."""
from __future__ import annotations

import subprocess

import pandas as pd

from roadmap.runs import code_version


def _git(where, *args):
    subprocess.run(["git", *args], cwd=where, check=True, capture_output=True)


def test_a_checkout_is_named_by_its_head_and_marked_dirty_while_edited(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "a.py").write_text("x = 1\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=tmp_path, capture_output=True,
                          text=True).stdout.strip()
    assert code_version.read(pkg) == head and len(head) == 12
    (tmp_path / "results.csv").write_text("rows\n")  # files outside the package do not count
    (pkg / "new.py").write_text("")                   # nor untracked ones
    assert code_version.read(pkg) == head
    (pkg / "a.py").write_text("x = 2\n")
    assert code_version.read(pkg) == head + "+dirty"


def test_outside_a_checkout_the_commit_is_unknown(tmp_path):
    assert code_version.read(tmp_path) == "unknown"


def test_a_row_names_the_code_its_process_imported_not_the_head_when_it_finishes(tmp_path, monkeypatch):
    """A commit landing while a long run trains must not relabel its rows: the row takes the value read
    at import (here replaced, as if HEAD had moved since), and no new reading."""
    from quick_runs import SMALL, cfg
    from roadmap.runs.runner import run
    monkeypatch.setattr(code_version, "AT_IMPORT", "0123456789ab+dirty")
    assert run(cfg(tmp_path / "r", upto="step0", data=SMALL, overrides=["epochs=1", "batch_size=50",
                                                                      "batch_per_device=50"])) == 0
    assert pd.read_csv(tmp_path / "r" / "results.csv")["git_commit"].tolist() == ["0123456789ab+dirty"]
