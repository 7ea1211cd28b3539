"""Which code trained a row: the git commit of the package's checkout, read once, when this module
is first imported. A run imports it as it starts, in its own process and in the fork server its
workers come from, so commits made while a long run trains do not relabel its rows with code they
never ran. "+dirty" when the package had uncommitted changes then; "unknown" outside a git checkout
(an installed wheel)."""
from __future__ import annotations

import subprocess
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]


def read(where: Path = PACKAGE) -> str:
    """The checkout's HEAD (12 hex digits) with "+dirty" if tracked files under `where` differ from it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=where, capture_output=True, text=True, timeout=10).stdout.strip()
    try:
        sha = git("rev-parse", "--short=12", "HEAD")
        if not sha:
            return "unknown"
        return sha + ("+dirty" if git("status", "--porcelain", "--untracked-files=no", "--", ".") else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


AT_IMPORT = read()
