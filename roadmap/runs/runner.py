"""The runner: train every variant of a roadmap up to a step, seeds included, into one tidy table.

A (spec, recipe, data, seed) that already has a finished row is skipped; a killed run resumes
from each variant's last epoch checkpoint; rows are written atomically under a lock, and a
second interactive run on the same folder is refused while the first holds it.
"""
from __future__ import annotations

import json
import subprocess
import sys
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import timm
import torch

from roadmap.arch.complexity import complexity
from roadmap.arch.network import build
from roadmap.arch.scale import scale_spec
from roadmap.arch.steps import Roadmap, Step, load
from roadmap.errors import RoadmapError
from roadmap.runs.lock import file_lock
from roadmap.runs.progress import Progress
from roadmap.runs import tensorboard
from roadmap.runs.table import Table, run_key, write_run
from roadmap.runs.weights import save_weights, weights_path
from roadmap.train import distributed
from roadmap.train.data import data_name, load_data
from roadmap.train.loop import TrainingFailed, pipeline, train
from roadmap.train.precision import precision
from roadmap.train.recipe import drop_path_rate, load_recipe, recipe_hash


@dataclass
class RunConfig:
    roadmap: str = "convnext-t"
    design: str = "path"             # see roadmap.arch.designs
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
    threads: int | None = None       # intra-op threads (None: torch's default, one per core)
    log: list[str] = field(default_factory=list)  # extra loggers: "tensorboard"


def default_out(rm: Roadmap, recipe: dict, dataset: str) -> Path:
    # every design of a roadmap shares one folder, so each network trains once
    return Path("results") / f"{rm.name.partition('[')[0]}-{dataset.replace(':', '-')}-{recipe['name']}"


def git_commit() -> str:
    try:
        here = Path(__file__).resolve().parent
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=10).stdout.strip()
        return sha or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _row(rm: Roadmap, step: Step, order: int, seed: int, spec, recipe: dict, data, res: int,
         overrides: str = "") -> dict:
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
        # how it trains, known before it trains: part of the cache key (see roadmap.runs.table)
        "precision": precision(bool(recipe["amp"]), distributed.context().device), "pipeline": pipeline(data, recipe),
        "recipe_overrides": overrides,  # what --set changed, canonical: the row says what trained it
        "drop_path": drop_path_rate(recipe, rm.regime),  # the regime picks it: part of the cache key
        # provenance, not the key: a thread count changes speed (and, on CPU, the last bits of a sum)
        "threads": torch.get_num_threads(),
    }


def _tags(row: dict, recipe: dict) -> dict[str, str]:
    """What TensorBoard shows beside a variant's curves: which network and recipe."""
    return {"variant": f"{row['roadmap']} {row['step']} ({row['label']}), seed {row['seed']}",
            "recipe": f"{recipe['name']} {row['recipe_overrides']}".strip(),
            "data": f"{row['data']} ({row['data_fingerprint']})"}


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
    if cfg.threads is not None and cfg.threads < 1:
        raise RoadmapError("--threads must be at least 1")
    before = torch.get_num_threads()
    try:  # a library call leaves the caller's thread count as it found it
        torch.set_num_threads(cfg.threads or before)
        return _run(cfg, hold_folder)
    finally:
        torch.set_num_threads(before)


def _run(cfg: RunConfig, hold_folder: bool) -> int:
    rm = load(cfg.roadmap, cfg.design)
    recipe = load_recipe(cfg.recipe, cfg.overrides)
    todo = variants(rm, cfg)
    keys = dict.fromkeys(item.partition("=")[0].strip() for item in cfg.overrides)
    overrides = " ".join(f"{k}={json.dumps(recipe[k])}" for k in keys)
    out = Path(cfg.out) if cfg.out else default_out(rm, recipe, data_name(cfg.data))
    ctx = distributed.context()
    table = Table(out)
    folder_lock = file_lock(out / ".run.lock", False,
                            f"results folder {out} is in use by another roadmap run ({{holder}}); wait for it "
                            "to finish or choose another --out") if (hold_folder and ctx.main) else nullcontext()
    if "tensorboard" in cfg.log:
        tensorboard.require()
    failed = 0
    with folder_lock:  # taken before the data loads: a busy folder is refused at once
        if ctx.main:
            table.read()  # refuse a folder that holds something else before training anything
        data = load_data(cfg.data)
        res = recipe["res"] or data.image_size
        if ctx.main:
            write_run(out, {
                "roadmap": rm.name, "roadmap_file": cfg.roadmap if cfg.design == "path" else f"{cfg.roadmap}[{cfg.design}]", "title": rm.title, "regime": rm.regime,
                "recipe": recipe, "data": cfg.data, "data_name": data.name, "num_classes": data.num_classes,
                "classes": data.classes, "threads": torch.get_num_threads(),
                "res": res, "seeds": cfg.seeds, "upto": cfg.upto, "command": "roadmap " + " ".join(sys.argv[1:]),
                "device": torch.cuda.get_device_name(ctx.device) if ctx.device.type == "cuda" else "cpu",
                "world_size": ctx.world,
            })
        progress = Progress(len(todo), quiet=cfg.quiet or not ctx.main)
        for vid, why in rm.skipped.items():
            progress.say(f"{vid}: not built: {why}")
        for order, step, seed in todo:
            spec = scale_spec(step.spec, recipe["scale_width"], recipe["scale_depth"], recipe["stem_stride"])
            row = _row(rm, step, order, seed, spec, recipe, data, res, overrides)
            name = f"{step.id} seed {seed}"
            progress.start(name)
            ckpt = out / "checkpoints" / f"{step.id}-seed{seed}-{run_key(row)}.pt"
            hit = distributed.broadcast_object(table.find(row) if ctx.main and not cfg.force else None)
            if hit is not None and "tensorboard" in cfg.log and ctx.main:
                tensorboard.backfill(out, step.id, seed, table.history(hit["roadmap"], hit["step"], seed),
                                     _tags(row, recipe))
            if hit is not None:
                if (hit["roadmap"], hit["step"]) == (row["roadmap"], row["step"]):
                    progress.finish(f"{name}: already in {table.path} (cached; --force retrains)", trained=False)
                else:
                    if ctx.main:
                        table.reuse(hit, row)
                    progress.finish(f"{name}: the same network as {hit['roadmap']} {hit['step']}, trained once: "
                                    f"taken from {table.path}", trained=False)
                continue
            if cfg.force and ctx.main and ckpt.exists():
                ckpt.unlink()
            distributed.barrier()
            lock = file_lock(out / "locks" / f"{step.id}-seed{seed}.lock", False,
                             f"{step.id} seed {seed} is being trained by {{holder}}") if ctx.main else nullcontext()
            with lock:
                log = tensorboard.EpochLogger(out, step.id, seed, _tags(row, recipe)) \
                    if "tensorboard" in cfg.log and ctx.main else None
                try:
                    r = train(lambda: build(spec, data.num_classes, drop_path_rate(recipe, rm.regime), img_size=res),
                              data, recipe, seed, ckpt, progress, on_epoch=log)
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
                finally:
                    if log is not None:
                        log.close()
                row["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
                if ctx.main:
                    if row["status"] == "ok":  # the weights first: a row never names missing weights
                        save_weights(weights_path(out, step.id, seed, run_key(row)), r.weights, spec, row,
                                     data.classes)
                    table.put(row, history)
                    ckpt.unlink(missing_ok=True)  # resume state is only needed until the row is written
            progress.finish(text)
    if failed:
        print(f"roadmap: {failed} variant(s) failed; see the status and error columns of {table.path}",
              file=sys.stderr)
        return 1
    if ctx.main and not cfg.quiet:
        print(f"results: {table.path}")
    elif ctx.main:  # --quiet: only the results
        mine = table.read()
        mine = mine[(mine["roadmap"] == rm.name) & mine["step"].isin({s.id for _, s, _ in todo})]
        print(mine[["step", "seed", "status", "top1"]].to_string(index=False))
    return 0

