"""A row's git_commit names the code its process imported, marked when that code was uncommitted."""
from __future__ import annotations

import subprocess

import pandas as pd

from roadmap.runs import code_version


def _git(where, *args):
    subprocess.run(["git", *args], cwd=where, check=True, capture_output=True)


def _repo(tmp_path):
    """A checkout with a package and a steps/ folder beside it, committed."""
    pkg, steps = tmp_path / "pkg", tmp_path / "steps"
    pkg.mkdir()
    steps.mkdir()
    (pkg / "a.py").write_text("x = 1\n")
    (steps / "r.yaml").write_text("name: r\n")
    (tmp_path / ".gitignore").write_text("venv/\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=tmp_path, capture_output=True,
                          text=True).stdout.strip()
    return pkg, steps, head


def test_a_checkout_is_named_by_its_head_and_marked_dirty_while_edited(tmp_path):
    pkg, steps, head = _repo(tmp_path)
    assert code_version.read(pkg, (steps,)) == head and len(head) == 12
    (tmp_path / "results.csv").write_text("rows\n")  # files outside the package and steps/ do not count
    (pkg / "new.py").write_text("")                   # nor untracked ones
    assert code_version.read(pkg, (steps,)) == head
    (steps / "r.yaml").write_text("name: edited\n")  # the roadmap files the package reads do
    assert code_version.read(pkg, (steps,)) == head + "+dirty"
    _git(tmp_path, "checkout", "-q", "--", "steps")
    (pkg / "a.py").write_text("x = 2\n")
    assert code_version.read(pkg, (steps,)) == head + "+dirty"


def test_a_package_no_checkout_tracks_is_unknown(tmp_path):
    assert code_version.read(tmp_path, ()) == "unknown"
    _, _, head = _repo(tmp_path)
    installed = tmp_path / "venv" / "site" / "roadmap"  # a wheel in an ignored venv inside a repo
    installed.mkdir(parents=True)
    (installed / "a.py").write_text("")
    assert code_version.read(installed, ()) == "unknown"


def test_a_row_names_the_code_its_process_imported_not_the_head_when_it_finishes(tmp_path, monkeypatch):
    """A commit landing while a long run trains must not relabel its rows: the row takes the value read
    at import (here replaced, as if HEAD had moved since), and no new reading."""
    from quick_runs import SMALL, cfg
    from roadmap.runs.runner import run
    monkeypatch.setattr(code_version, "AT_IMPORT", "0123456789ab+dirty")
    assert run(cfg(tmp_path / "r", upto="step0", data=SMALL, overrides=["epochs=1", "batch_size=50",
                                                                      "batch_per_device=50"])) == 0
    assert pd.read_csv(tmp_path / "r" / "results.csv")["git_commit"].tolist() == ["0123456789ab+dirty"]
