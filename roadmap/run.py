"""The runner: train every variant of a roadmap up to a step, seeds included, into one tidy table.

A (spec, recipe, data, seed) that already has a finished row is skipped; a killed run resumes
from each variant's last epoch checkpoint; rows are written atomically under a lock, and a
second interactive run on the same folder is refused while the first holds it.
"""
from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import timm
import torch

from roadmap import distributed
from roadmap.builder import build
from roadmap.complexity import complexity
from roadmap.data import load_data
from roadmap.errors import RoadmapError
from roadmap.progress import Progress
from roadmap.recipe import drop_path_rate, load_recipe, recipe_hash
from roadmap.results import COLUMNS, EPOCH_COLUMNS, atomic_write_text, write_table
from roadmap.roadmap_file import Roadmap, Step, load
from roadmap.scale import scale_spec
from roadmap.train import TrainingFailed, train


@dataclass
class RunConfig:
    roadmap: str = "convnext-t"
    upto: str | None = None          # None: the whole roadmap
    only: list[str] = field(default_factory=list)  # train just these step ids
    recipe: str = "smoke"
    overrides: list[str] = field(default_factory=list)
    data: str = "embedded"
    seeds: int = 1
    first_seed: int = 0              # seeds are first_seed .. first_seed + seeds - 1
    out: str | None = None
    force: bool = False
    quiet: bool = False


def default_out(rm: Roadmap, recipe: dict, data_name: str) -> Path:
    return Path("results") / f"{rm.name}-{data_name}-{recipe['name']}"


def git_commit() -> str:
    try:
        here = Path(__file__).resolve().parent
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=10).stdout.strip()
        return sha or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@contextmanager
def file_lock(path: Path, blocking: bool, busy_message: str):
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


class Table:
    """results.csv and epochs.csv of one folder; every change is a locked read-modify-write."""

    def __init__(self, out: Path):
        self.out = out
        self.path, self.epochs_path, self.lock = out / "results.csv", out / "epochs.csv", out / ".table.lock"

    def read(self) -> pd.DataFrame:
        if not self.path.is_file():
            return pd.DataFrame(columns=COLUMNS)
        try:
            df = pd.read_csv(self.path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
            raise RoadmapError(f"{self.path} is not a results table ({e}); move it away or choose another --out") from None
        if not {"step", "seed", "status", "spec_hash"} <= set(df.columns):
            raise RoadmapError(f"{self.path} is not a roadmap results table; choose another --out")
        return df

    def finished(self, row_key: dict) -> bool:
        df = self.read()
        if df.empty:
            return False
        hit = df[(df["roadmap"] == row_key["roadmap"]) & (df["step"] == row_key["step"])
                 & (df["seed"] == row_key["seed"]) & (df["status"] == "ok")]
        same = ("spec_hash", "recipe_hash", "data_fingerprint", "res")
        return any(all(str(r[k]) == str(row_key[k]) for k in same) for _, r in hit.iterrows())

    def put(self, row: dict, history: list[dict]) -> None:
        with file_lock(self.lock, True, ""):
            # a new result for (roadmap, step, seed) replaces the old row and its epochs
            df = self.read()
            df = df[~((df["roadmap"] == row["roadmap"]) & (df["step"] == row["step"]) & (df["seed"] == row["seed"]))]
            df = _concat(df, pd.DataFrame([row]))
            write_table(df.sort_values(["order", "seed"], kind="stable"), self.path, COLUMNS)
            ep = pd.read_csv(self.epochs_path) if self.epochs_path.is_file() else pd.DataFrame(columns=EPOCH_COLUMNS)
            ep = ep[~((ep["step"] == row["step"]) & (ep["seed"] == row["seed"]))]
            new = pd.DataFrame([{**h, "step": row["step"], "seed": row["seed"]} for h in history])
            ep = _concat(ep, new)
            write_table(ep, self.epochs_path, EPOCH_COLUMNS)


def _concat(*frames: pd.DataFrame) -> pd.DataFrame:
    """Concatenate, skipping empty frames (pandas warns on them); empty if all are."""
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _row(rm: Roadmap, step: Step, order: int, seed: int, spec, recipe: dict, data, res: int) -> dict:
    c = complexity(spec, num_classes=data.num_classes, res=res)
    return {
        "roadmap": rm.name, "regime": rm.regime, "step": step.id, "label": step.label, "group": step.group or "",
        "adopted": step.adopted, "order": order, "seed": seed, "params": c["params"], "gflops": c["gflops"],
        "res": res, "spec_hash": spec.hash, "recipe_hash": recipe_hash(recipe),
        "data_fingerprint": data.fingerprint, "recipe": recipe["name"], "data": data.name,
        "width_mult": recipe["scale_width"], "depth_mult": recipe["scale_depth"],
        "paper_top1": step.paper.get("top1"), "paper_std": step.paper.get("std"),
        "paper_gflops": step.paper.get("gflops"), "torch": torch.__version__, "timm": timm.__version__,
        "git_commit": git_commit(),
    }


def variants(rm: Roadmap, cfg: RunConfig) -> list[tuple[int, Step, int]]:
    steps = rm.upto(cfg.upto) if cfg.upto else rm.steps
    if cfg.only:
        wanted = {rm.step(s).id for s in cfg.only}
        steps = [s for s in steps if s.id in wanted]
    order = {s.id: i for i, s in enumerate(rm.steps)}
    return [(order[s.id], s, seed) for s in steps
            for seed in range(cfg.first_seed, cfg.first_seed + cfg.seeds)]


def run(cfg: RunConfig, hold_folder: bool = True) -> int:
    """Train what is not yet in the table; 0 if every variant finished, 1 if any failed."""
    if cfg.seeds < 1:
        raise RoadmapError("--seeds must be at least 1")
    rm = load(cfg.roadmap)
    recipe = load_recipe(cfg.recipe, cfg.overrides)
    todo = variants(rm, cfg)
    data = load_data(cfg.data)
    out = Path(cfg.out) if cfg.out else default_out(rm, recipe, data.name)
    ctx = distributed.context()
    res = recipe["res"] or data.image_size
    table = Table(out)
    folder_lock = file_lock(out / ".run.lock", False,
                            f"results folder {out} is in use by another roadmap run ({{holder}}); wait for it "
                            "to finish or choose another --out") if (hold_folder and ctx.main) else _nothing()
    failed = 0
    with folder_lock:
        if ctx.main:
            table.read()  # refuse a folder that holds something else before training anything
            atomic_write_text(out / "run.json", json.dumps({
                "roadmap": rm.name, "roadmap_file": cfg.roadmap, "title": rm.title, "regime": rm.regime,
                "recipe": recipe, "data": cfg.data, "data_name": data.name, "num_classes": data.num_classes,
                "res": res, "seeds": cfg.seeds, "upto": cfg.upto, "command": "roadmap " + " ".join(sys.argv[1:]),
                "device": torch.cuda.get_device_name(ctx.device) if ctx.device.type == "cuda" else "cpu",
                "world_size": ctx.world,
            }, indent=1, default=str))
        progress = Progress(len(todo), quiet=cfg.quiet or not ctx.main)
        for order, step, seed in todo:
            spec = scale_spec(step.spec, recipe["scale_width"], recipe["scale_depth"], recipe["stem_stride"])
            row = _row(rm, step, order, seed, spec, recipe, data, res)
            name = f"{step.id} seed {seed}"
            progress.start(name)
            ckpt = out / "checkpoints" / f"{step.id}-seed{seed}-{spec.hash}-{row['recipe_hash']}.pt"
            skip = distributed.broadcast_object(ctx.main and not cfg.force and table.finished(row))
            if skip:
                progress.finish(f"{name}: already in {table.path} (cached; --force retrains)", trained=False)
                continue
            if cfg.force and ctx.main and ckpt.exists():
                ckpt.unlink()
            distributed.barrier()
            lock = file_lock(out / "locks" / f"{step.id}-seed{seed}.lock", False,
                             f"{step.id} seed {seed} is being trained by {{holder}}") if ctx.main else _nothing()
            with lock:
                try:
                    r = train(lambda: build(spec, data.num_classes, drop_path_rate(recipe, rm.regime), img_size=res),
                              data, recipe, seed, ckpt, progress)
                    row.update(status="ok", error="", top1=r.top1, top5=r.top5, epochs=r.epochs,
                               images_seen=r.images_seen, train_time_s=round(r.train_time_s, 2),
                               train_img_s=round(r.train_img_s, 1), eval_img_s=round(r.eval_img_s, 1),
                               peak_mem_mb=round(r.peak_mem_mb, 1), device=r.device)
                    history = r.history
                    text = f"{name}: top-1 {r.top1:.2f}%  ({r.train_time_s:.0f} s, {r.train_img_s:.0f} img/s)"
                except TrainingFailed as e:
                    failed += 1
                    row.update(status="failed", error=str(e), epochs=recipe["epochs"])
                    history = []
                    text = f"{name}: FAILED, {e}"
                row["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
                if ctx.main:
                    table.put(row, history)
            progress.finish(text)
    if failed:
        print(f"roadmap: {failed} variant(s) failed; see the status and error columns of {table.path}",
              file=sys.stderr)
        return 1
    if ctx.main and not cfg.quiet:
        print(f"results: {table.path}")
    return 0


@contextmanager
def _nothing():
    yield

