"""The committed results stay cached: every shipped recipe, with the overrides its run.json command
gave, still hashes to the recipe_hash the rows were trained under (a changed hash retrains a folder)."""
import json
import shlex
from pathlib import Path

import pandas as pd
import pytest

from roadmap.train.recipe import load_recipe

RESULTS = Path(__file__).resolve().parents[1] / "results"
FOLDERS = sorted(p.parent for p in RESULTS.glob("*/results.csv"))


def _command_hashes(folder: Path) -> set[str]:
    """The recipe hash of each `roadmap run` command recorded in run.json, from today's recipe code."""
    runs = json.loads((folder / "run.json").read_text())
    hashes = set()
    for inv in runs.get("invocations", [runs]):
        argv = shlex.split(inv["command"])
        recipe = argv[argv.index("--recipe") + 1] if "--recipe" in argv else "smoke"
        sets = [argv[i + 1] for i, a in enumerate(argv) if a == "--set"]
        hashes.add(load_recipe(recipe, sets).hash)
    return hashes


def test_every_committed_folder_is_checked():
    assert len(FOLDERS) >= 5


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_committed_rows_keep_their_recipe_hash(folder):
    rows = set(pd.read_csv(folder / "results.csv", dtype=str)["recipe_hash"])
    assert rows and rows == _command_hashes(folder), f"{folder.name}: rows {rows}"
