"""Which code trained a row: the git commit of the package's checkout, read once per process, when
this module is first imported. A run's process imports it as the run starts, and so does the fork
server its workers come from, so commits made while a long run trains do not relabel its rows
with code they never ran. "+dirty" when the package or the roadmap files it reads (the checkout's
`steps/`) had uncommitted edits then; "unknown" when the package is not tracked by a git checkout
(an installed wheel, even one inside another project's repository)."""
from __future__ import annotations

import subprocess
from pathlib import Path

from roadmap import shipped

PACKAGE = Path(__file__).resolve().parents[1]


def read(package: Path = PACKAGE, also: tuple[Path, ...] | None = None) -> str:
    """HEAD (12 hex digits) of the checkout that tracks `package`, "+dirty" if tracked files under it
    or `also` (default: the shipped roadmap folders) differ from HEAD; "unknown" if none tracks it."""
    also = tuple(p for p in shipped.FOLDERS["roadmap"] if p.is_dir()) if also is None else also

    def git(*args: str) -> subprocess.CompletedProcess:
        # --no-optional-locks: reading status must not take the index lock a commit may be holding
        return subprocess.run(["git", "--no-optional-locks", *args], cwd=package, capture_output=True, text=True,
                              timeout=10)
    try:
        if git("ls-files", "--error-unmatch", "--", ".").returncode != 0:
            return "unknown"
        sha = git("rev-parse", "--short=12", "HEAD").stdout.strip()
        if not sha:
            return "unknown"
        paths = [str(package), *(str(p) for p in also)]
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", *paths).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


AT_IMPORT = read()
