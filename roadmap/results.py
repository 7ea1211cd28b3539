"""The results folder of a run: the tidy table and what was run, read and written with pandas.

results/NAME/
  results.csv   one row per (step, seed): COLUMNS below
  epochs.csv    one row per (step, seed, epoch): EPOCH_COLUMNS
  run.json      what was run: roadmap, recipe, data, scale, seeds, device, command
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pandas as pd

from roadmap.errors import RoadmapError

COLUMNS = [
    "roadmap", "regime", "step", "label", "group", "adopted", "order", "seed", "status", "error",
    "top1", "top5", "params", "gflops", "res", "epochs", "images_seen",
    "train_time_s", "train_img_s", "eval_img_s", "peak_mem_mb", "device", "torch", "timm", "git_commit",
    "spec_hash", "recipe_hash", "data_fingerprint", "recipe", "data", "width_mult", "depth_mult",
    "paper_top1", "paper_std", "paper_gflops", "finished_at",
]
EPOCH_COLUMNS = ["step", "seed", "epoch", "train_loss", "val_loss", "top1", "top5", "lr", "img_s", "time_s"]


def atomic_write_text(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so a crash never leaves a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def read_results(folder: str | Path) -> pd.DataFrame:
    """The results table of a run folder; one clear sentence if there is none."""
    folder = Path(folder)
    path = folder / "results.csv"
    if not folder.is_dir():
        raise RoadmapError(f"results folder {folder} does not exist")
    if not path.is_file():
        raise RoadmapError(f"results folder {folder} has no results.csv (has `roadmap run --out {folder}` finished a step?)")
    try:
        df = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise RoadmapError(f"{path} is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        raise RoadmapError(f"{path} is not a results table ({str(e).splitlines()[0]})") from None
    if df.empty:
        raise RoadmapError(f"{path} has no rows yet")
    return df


def read_run(folder: str | Path) -> dict:
    path = Path(folder) / "run.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def write_table(df: pd.DataFrame, path: Path, columns: list[str]) -> None:
    atomic_write_text(path, df.reindex(columns=columns).to_csv(index=False))
