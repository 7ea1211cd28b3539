"""The YAML files shipped with the package: roadmaps and training recipes, by name or by path.

One loader for both, so "a shipped name or a path to your own file" means the same everywhere.
Installed, the files are package data (`roadmap/arch/roadmaps/`, `roadmap/train/recipes/`); in a
source checkout the roadmaps are read from the top-level `steps/` folder they are mapped from.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from roadmap.errors import RoadmapError, malformed_yaml

_PACKAGE = Path(__file__).resolve().parent
# kind -> where its files are, first match wins: installed package data, then a checkout
FOLDERS = {
    "roadmap": (_PACKAGE / "arch" / "roadmaps", _PACKAGE.parent / "steps"),
    "recipe": (_PACKAGE / "train" / "recipes",),
}


def folder(kind: str) -> Path:
    for d in FOLDERS[kind]:
        if d.is_dir():
            return d
    raise RoadmapError(f"the shipped {kind} files are missing (reinstall the package)")


def names(kind: str) -> list[str]:
    return sorted(p.stem for p in folder(kind).glob("*.yaml"))


def find(kind: str, name_or_path: str | Path) -> Path:
    """A shipped file by name ("convnext-t", "smoke"), or the user's own file by path (.yaml/.yml)."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = folder(kind) / f"{name_or_path}.yaml"
        if not path.is_file():
            raise RoadmapError(f"unknown {kind} {str(name_or_path)!r}: not a file, and the shipped ones are "
                               f"{', '.join(names(kind))}")
    elif not path.is_file():
        raise RoadmapError(f"{kind} file {path} does not exist")
    return path


def read_yaml(path: Path) -> Any:
    """The parsed file; malformed YAML or an unreadable file is one sentence naming it."""
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise malformed_yaml(path, e) from None
    except (OSError, UnicodeDecodeError) as e:
        raise RoadmapError(f"cannot read {path}: {e.strerror if isinstance(e, OSError) else 'not text'}") from None
