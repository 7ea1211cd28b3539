"""The runner: train every variant of a roadmap up to a step, seeds included, into one tidy table.

A (spec, recipe, data, seed) that already has a finished row is skipped; a killed run resumes
from each variant's last checkpoint; rows are written atomically under a lock, and a
second interactive run on the same folder is refused while the first holds it. With --jobs N,
N variants train at once in worker processes (roadmap.runs.pool), the most work left first
(GFLOPs x the epochs not yet in a checkpoint), and this process stays the one writer of the
folder: the same rows, cache and resume as one at a time.
"""
from __future__ import annotations

import itertools
import json
import sys
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import timm
import torch

from roadmap.arch.catalog import load
from roadmap.arch.complexity import complexity
from roadmap.arch.names import design_of
from roadmap.arch.scale import scale_spec
from roadmap.arch.network import build
from roadmap.arch.steps import Roadmap, Step
from roadmap.errors import RoadmapError
from roadmap.runs import code_version, machine, pool
from roadmap.runs.folder import RunFolder
from roadmap.runs.lock import file_lock
from roadmap.runs.progress import Progress, VariantProgress
from roadmap.runs import tensorboard
from roadmap.runs.table import Table, run_key, sweep_of, write_run
from roadmap.runs.weights import save_weights, weights_path
from roadmap.train import distributed
from roadmap.train.data import DataSplits, data_name, load_data
from roadmap.train.loop import TrainingFailed, checkpoint_epochs, pipeline, train
from roadmap.train.precision import Precision, emulates_bf16, precision
from roadmap.train.recipe import Recipe, canonical_key, check_emulation, load_recipe


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
    threads: int | None = None       # intra-op threads per variant (None: 1 with several jobs, else the idle cores)
    log: list[str] = field(default_factory=list)  # extra loggers: "tensorboard"
    jobs: int | None = 1             # variants trained at once (None: one per core, on a CPU)
    sweep: list[str] = field(default_factory=list)  # "KEY=V1,V2,...": every variant under each value (a grid)
    emulate_bf16: bool = False       # amp in bf16 on a CPU without native bf16 too (roadmap.train.precision)
    checkpoint_minutes: float = 10.0  # also checkpoint inside an epoch this often (one process; see train())


def default_out(rm: Roadmap, recipe: Recipe, dataset: str) -> Path:
    # every design of a roadmap shares one folder, so each network trains once
    return Path("results") / f"{rm.name.partition('[')[0]}-{dataset.replace(':', '-')}-{recipe.name}"


@dataclass
class Study:
    """What every variant of one invocation shares, built alike here and in each pool worker."""
    cfg: RunConfig
    rm: Roadmap
    recipe: Recipe
    overrides: str                   # what --set changed, canonical
    out: Path
    sweep: str = ""                  # this study's swept values, canonical ("epochs=30"); "" without --sweep
    data: DataSplits | None = None
    res: int = 0

    def with_data(self, data: DataSplits) -> "Study":
        self.data, self.res = data, self.recipe.res or data.image_size
        return self


def study(cfg: RunConfig, sweep: str = "") -> Study:
    rm = load(cfg.roadmap, cfg.design)
    recipe = load_recipe(cfg.recipe, cfg.overrides)
    check_emulation(recipe.amp, cfg.emulate_bf16, recipe.name)
    keys = dict.fromkeys(canonical_key(item.partition("=")[0]) for item in cfg.overrides)  # today's names
    overrides = " ".join(f"{k}={json.dumps(recipe.get(k))}" for k in keys)
    out = Path(cfg.out) if cfg.out else default_out(rm, recipe, data_name(cfg.data))
    return Study(cfg, rm, recipe, overrides, out, sweep)


def _split_values(text: str) -> list[str]:
    """"10,30" -> ["10", "30"]; commas inside [] or {} belong to a value ("[0.9,0.99],[0.9,0.999]")."""
    values, depth, start = [], 0, 0
    for i, c in enumerate(text):
        depth += (c in "[{") - (c in "]}")
        if c == "," and depth == 0:
            values.append(text[start:i].strip())
            start = i + 1
    values.append(text[start:].strip())
    return values


def sweep_studies(cfg: RunConfig) -> list[Study]:
    """One study per combination of the --sweep values (one study without a sweep), each recipe
    checked before any data loads; the label is canonical, as a row's recipe_overrides are."""
    if not cfg.sweep:
        return [study(cfg)]
    set_keys = {canonical_key(item.partition("=")[0]) for item in cfg.overrides}
    axes: list[tuple[str, list[str]]] = []
    for item in cfg.sweep:
        key, sep, text = item.partition("=")
        key = canonical_key(key)
        values = _split_values(text) if sep else []
        if not key or not values or "" in values:
            raise RoadmapError(f"--sweep {item!r}: expected KEY=V1,V2,... (e.g. --sweep epochs=10,30)")
        if key in set_keys or key in dict(axes):
            raise RoadmapError(f"--sweep {item!r}: {key} is already {'set with --set' if key in set_keys else 'swept'}")
        axes.append((key, values))
    studies, seen = [], set()
    for combo in itertools.product(*[[(k, v) for v in values] for k, values in axes]):
        sub = replace(cfg, overrides=[*cfg.overrides, *(f"{k}={v}" for k, v in combo)], sweep=[])
        s = study(sub)
        s.sweep = " ".join(f"{k}={json.dumps(s.recipe.get(k), separators=(',', ':'))}" for k, _ in combo)
        if s.sweep in seen:
            raise RoadmapError(f"--sweep gives {s.sweep} twice; list each value once")
        seen.add(s.sweep)
        studies.append(s)
    return studies


def _row(s: Study, step: Step, order: int, seed: int, spec) -> dict:
    rm, recipe, data = s.rm, s.recipe, s.data
    c = complexity(spec, num_classes=data.num_classes, res=s.res)
    device = distributed.context().device
    return {
        "roadmap": rm.name, "regime": rm.regime, "step": step.id, "label": step.label, "group": step.group or "",
        "adopted": step.adopted, "order": order, "seed": seed, "params": c["params"], "gflops": c["gflops"],
        "res": s.res, "spec_hash": spec.hash, "recipe_hash": recipe.hash,
        "data_fingerprint": data.fingerprint, "recipe": recipe.name, "data": data.name,
        "width_mult": recipe.scaling.width_mult, "depth_mult": recipe.scaling.depth_mult,
        "paper_top1": step.paper.get("top1"), "paper_std": step.paper.get("std"),
        "paper_gflops": step.paper.get("gflops"), "torch": torch.__version__, "timm": timm.__version__,
        "git_commit": code_version.AT_IMPORT,  # the code this process imported, not today's HEAD
        # how it trains, known before it trains: part of the cache key (see roadmap.runs.table)
        "precision": precision(recipe.amp, device, s.cfg.emulate_bf16), "pipeline": pipeline(data, recipe),
        "recipe_overrides": s.overrides,  # what --set changed, canonical: the row says what trained it
        "drop_path": recipe.drop_path_rate(rm.regime),  # the regime picks it: part of the cache key
        # provenance, not the key: a thread count or another processor changes speed and, on a CPU,
        # the last bits of a sum (so results repeat exactly only on the same processor and count)
        "threads": torch.get_num_threads(),
        "cpu": machine.cpu_name() if device.type == "cpu" else "",
        "cpu_capability": machine.cpu_capability() if device.type == "cpu" else "",
        "sweep": s.sweep,  # part of the row's identity: (roadmap, step, seed, sweep)
        "parent": step.parent or "", "design": design_of(rm.name), "stem_stride": recipe.scaling.stem_stride,
    }


def _tags(row: dict, recipe: Recipe) -> dict[str, str]:
    """What TensorBoard shows beside a variant's curves: which network and recipe."""
    return {"variant": f"{row['roadmap']} {row['step']} ({row['label']}), seed {row['seed']}",
            "recipe": f"{recipe.name} {row['recipe_overrides']}".strip(),
            "data": f"{row['data']} ({row['data_fingerprint']})"}


def variants(rm: Roadmap, cfg: RunConfig) -> list[tuple[int, Step, int]]:
    steps = rm.upto(cfg.upto) if cfg.upto else rm.steps
    if cfg.only:
        wanted = {rm.step(s).id for s in cfg.only}
        steps = [s for s in steps if s.id in wanted]
    order = {s.id: i for i, s in enumerate(rm.steps)}
    return [(order[s.id], s, seed) for s in steps
            for seed in range(cfg.first_seed, cfg.first_seed + cfg.seeds)]


@dataclass(frozen=True)
class Variant:
    """One (step, seed) to train, and its cost (GFLOPs x the epochs its checkpoint does not hold yet) to
    order and estimate the queue by."""
    order: int
    step: str
    seed: int
    cost: float
    sweep: str = ""

    @property
    def name(self) -> str:
        return f"{self.step} seed {self.seed}" + (f" [{self.sweep}]" if self.sweep else "")


def _spec(s: Study, step: Step):
    return scale_spec(step.spec, **vars(s.recipe.scaling))


def _checkpoint(s: Study, row: dict) -> Path:
    return RunFolder(s.out).checkpoint(row["step"], row["seed"], run_key(row))


def train_variant(s: Study, v: Variant, progress: VariantProgress | None) -> tuple[dict, list[dict], str]:
    """Train one variant (its weights file written once it is done); returns its row, epoch history and
    a line for the log. A NaN loss is a row with status "failed", not an exception."""
    ctx = distributed.context()
    step = s.rm.step(v.step)
    spec = _spec(s, step)
    row = _row(s, step, v.order, v.seed, spec)
    lock_name = f"{step.id}-seed{v.seed}" + (f"-{run_key(row)}" if s.sweep else "")  # sweeps: one per value
    lock = file_lock(RunFolder(s.out).lock(lock_name), False,
                     f"{v.name} is being trained by {{holder}}") if ctx.main else nullcontext()
    with lock:
        log = tensorboard.EpochLogger(s.out, step.id, v.seed, _tags(row, s.recipe)) \
            if "tensorboard" in s.cfg.log and ctx.main else None
        try:
            r = train(lambda: build(spec, s.data.num_classes, s.recipe.drop_path_rate(s.rm.regime), img_size=s.res),
                      s.data, s.recipe, v.seed, _checkpoint(s, row), progress, on_epoch=log,
                      emulate_bf16=s.cfg.emulate_bf16, checkpoint_every_s=s.cfg.checkpoint_minutes * 60)
            row.update(status="ok", error="", top1=r.top1, top5=r.top5, epochs=r.epochs,
                       images_seen=r.images_seen, train_time_s=round(r.train_time_s, 2),
                       train_img_s=round(r.train_img_s, 1), eval_img_s=round(r.eval_img_s, 1),
                       peak_mem_mb=round(r.peak_mem_mb, 1), device=r.device)
            history = r.history
            text = f"{v.name}: top-1 {r.top1:.2f}%  ({r.train_time_s:.0f} s, {r.train_img_s:.0f} img/s)"
        except TrainingFailed as e:
            row.update(status="failed", error=str(e), epochs=s.recipe.epochs)
            history, r = [], None
            text = f"{v.name}: FAILED, {e}"
        finally:
            if log is not None:
                log.close()
        row["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        if ctx.main and r is not None:  # the weights first: a row never names missing weights
            save_weights(weights_path(s.out, step.id, v.seed, run_key(row)), r.weights, spec, row, s.data.classes)
    return row, history, text


_WORKER_STUDY: dict[str, Study] = {}  # per worker process: each sweep value's study, built once


def _train_in_worker(cfg: RunConfig, v: Variant) -> tuple[dict, list[dict], str]:
    """A pool worker's task, on the data the run loaded (handed to each worker once)."""
    key = repr(cfg)
    if key not in _WORKER_STUDY:
        _WORKER_STUDY[key] = study(cfg, v.sweep).with_data(pool.shared())
    sink = pool.sink()
    sink.start(v.name, v.cost)
    return train_variant(_WORKER_STUDY[key], v, VariantProgress(sink, v.name))


def run(cfg: RunConfig, hold_folder: bool = True) -> int:
    """Train what is not yet in the table; 0 if every variant finished, 1 if any failed."""
    if cfg.seeds < 1:
        raise RoadmapError("--seeds must be at least 1")
    if cfg.threads is not None and cfg.threads < 1:
        raise RoadmapError("--threads must be at least 1")
    if cfg.jobs is not None and cfg.jobs < 1:
        raise RoadmapError("--jobs must be at least 1")
    if not cfg.checkpoint_minutes >= 0:
        raise RoadmapError("--checkpoint-minutes must be 0 (after every update) or more")
    if cfg.upto and cfg.only:
        raise RoadmapError("--upto and --only both choose the steps to train; give one of them")
    before = torch.get_num_threads()
    try:  # a library call leaves the caller's thread count as it found it
        return _run(cfg, hold_folder)
    finally:
        torch.set_num_threads(before)


def _share(cfg: RunConfig, n: int, progress: Progress) -> tuple[int, int]:
    """(jobs, threads per job) for n variants to train. By default one job per core with one thread
    each: a 1-thread job beside another busy process only shares a core, while a multi-threaded one
    waits at every parallel op for a thread that was descheduled (4-20x slower). A single variant
    gets the cores idle now."""
    ctx = distributed.context()
    if ctx.world > 1 and (cfg.jobs or 1) > 1:
        raise RoadmapError("--jobs runs several variants in one machine's processes; under torchrun every "
                           "process trains the same variant: leave --jobs out")
    if n == 0 or ctx.world > 1 or ctx.device.type == "cuda" and cfg.jobs is None:
        return 1, cfg.threads or torch.get_num_threads()  # torchrun sets its own threads per process
    cores = machine.cores()
    jobs = max(1, min(cfg.jobs or cores, n))
    if cfg.threads is not None:
        threads = cfg.threads
    else:
        threads = 1 if jobs > 1 else machine.idle_cores()
    if threads > 1 and jobs * threads > cores:
        progress.say(f"warning: {jobs} jobs x {threads} threads on {cores} cores: a multi-threaded job waits at "
                     "every parallel op for threads that were descheduled and can run 4-20x slower; use "
                     f"--threads {max(1, cores // jobs)}")
    return jobs, threads


def _run(cfg: RunConfig, hold_folder: bool) -> int:
    studies = sweep_studies(cfg)  # one without --sweep; every recipe checked before any data loads
    out = studies[0].out
    new = not out.exists()
    try:
        return _run_studies(cfg, studies, hold_folder)
    except BaseException:
        if new and out.is_dir() and {p.name for p in out.iterdir()} <= {RunFolder(out).run_lock.name}:
            RunFolder(out).run_lock.unlink(missing_ok=True)  # a run that stopped before writing anything
            out.rmdir()                                 # leaves no folder that holds only its lock
        raise


def _run_studies(cfg: RunConfig, studies: list[Study], hold_folder: bool) -> int:
    first = studies[0]
    rm, out = first.rm, first.out
    by_sweep = {s.sweep: s for s in studies}
    todo = variants(rm, cfg)
    ctx = distributed.context()
    table = Table(out)
    folder_lock = file_lock(RunFolder(out).run_lock, False,
                            f"results folder {out} is in use by another roadmap run ({{holder}}); wait for it "
                            "to finish or choose another --out") if (hold_folder and ctx.main) else nullcontext()
    if "tensorboard" in cfg.log:
        tensorboard.require()
    failed = 0
    with folder_lock:  # taken before the data loads: a busy folder is refused at once
        if ctx.main:
            table.read()  # refuse a folder that holds something else before training anything
        data = load_data(cfg.data)
        for s in studies:
            s.with_data(data)
        progress = Progress(len(todo) * len(studies), quiet=cfg.quiet or not ctx.main)
        for vid, why in rm.skipped.items():
            progress.say(f"{vid}: not built: {why}")
        pending: list[Variant] = []
        other_precision: dict[tuple, dict] = {}  # finished rows of a study this machine trains otherwise
        for s in studies:
            for order, step, seed in todo:
                row = _row(s, step, order, seed, _spec(s, step))
                held = 0 if cfg.force else min(checkpoint_epochs(_checkpoint(s, row)), s.recipe.epochs)
                left = s.recipe.epochs - held
                v = Variant(order, step.id, seed, row["gflops"] * left, s.sweep)
                hit = distributed.broadcast_object(table.find(row) if ctx.main and not cfg.force else None)
                if hit is not None and "tensorboard" in cfg.log and ctx.main:
                    tensorboard.backfill(out, step.id, seed, table.history(hit["roadmap"], hit["step"], seed,
                                                                           sweep_of(hit.get("sweep"))),
                                         _tags(row, s.recipe))
                if hit is None and ctx.main and not cfg.force:
                    for old in table.in_other_precision(row):
                        other_precision[old["step"], old["seed"]] = {**old, "here": row["precision"]}
                if hit is None:
                    if cfg.force and ctx.main:
                        _checkpoint(s, row).unlink(missing_ok=True)
                    pending.append(v)
                    progress.plan(v.cost)
                elif (hit["roadmap"], hit["step"], sweep_of(hit.get("sweep"))) == (row["roadmap"], row["step"], s.sweep):
                    progress.finish(v.name, f"{v.name}: already in {table.path} (cached; --force retrains)",
                                    trained=False)
                else:
                    if ctx.main:
                        table.reuse(hit, row)
                    progress.finish(v.name, f"{v.name}: the same network and recipe as {hit['roadmap']} "
                                            f"{hit['step']}, trained once: taken from {table.path}", trained=False)
        refusal = _precision_refusal(list(other_precision.values()), table, cfg.emulate_bf16) if ctx.main else None
        refusal = distributed.broadcast_object(refusal)  # every rank stops, not rank 0 alone
        if refusal:
            raise RoadmapError(refusal)
        jobs, threads = _share(cfg, len(pending), progress)
        torch.set_num_threads(threads)
        if ctx.main:
            for s in studies:
                write_run(out, {
                    "roadmap": rm.name, "roadmap_file": cfg.roadmap if cfg.design == "path" else f"{cfg.roadmap}[{cfg.design}]", "title": rm.title, "regime": rm.regime,
                    "recipe": s.recipe.as_dict(), "sweep": s.sweep, "data": cfg.data, "data_name": data.name,
                    "num_classes": data.num_classes, "classes": data.classes, "threads": threads, "jobs": jobs,
                    "res": s.res, "seeds": cfg.seeds, "upto": cfg.upto, "command": "roadmap " + " ".join(sys.argv[1:]),
                    "device": torch.cuda.get_device_name(ctx.device) if ctx.device.type == "cuda" else "cpu",
                    "cpu": machine.cpu_name(), "world_size": ctx.world, "emulate_bf16": cfg.emulate_bf16,
                })

        def record(v: Variant, result: tuple[dict, list[dict], str]) -> None:
            nonlocal failed
            row, history, text = result
            failed += row["status"] != "ok"
            if ctx.main:
                table.put(row, history)
                # resume state is only needed until the row is written
                _checkpoint(by_sweep[v.sweep], row).unlink(missing_ok=True)
            progress.finish(v.name, text)

        if jobs == 1:
            for v in pending:
                distributed.barrier()
                progress.start(v.name, v.cost)
                record(v, train_variant(by_sweep[v.sweep], v, progress.variant(v.name)))
        else:  # the most work left first, so the last minutes are not one lone variant
            queue = sorted(pending, key=lambda v: -v.cost)
            progress.say(f"training {len(queue)} variants, {jobs} at a time, {threads} thread(s) each")
            fn = _train_with({s.sweep: s.cfg for s in studies})
            pool.run_all(fn, queue, jobs, threads, progress, record, shared=data)
    if failed:
        print(f"roadmap: {failed} variant(s) failed; see the status and error columns of {table.path}",
              file=sys.stderr)
        return 1
    if ctx.main and not cfg.quiet:
        print(f"results: {table.path}")
    elif ctx.main:  # --quiet: only the results
        mine = table.read()
        mine = mine[(mine["roadmap"] == rm.name) & mine["step"].isin({st.id for _, st, _ in todo})
                    & mine.get("sweep", pd.Series("", index=mine.index)).map(sweep_of).isin(by_sweep)]
        cols = ["step", "seed"] + (["sweep"] if cfg.sweep else []) + ["status", "top1"]
        print(mine[cols].to_string(index=False))
        print(f"results: {table.path}", file=sys.stderr)
    return 0


def _precision_refusal(rows: list[dict], table: Table, emulate_bf16: bool) -> str | None:
    """A study trained in one precision, continued on a machine that trains in another (a CPU without
    native bf16, a GPU), would have its rows replaced or paired with unlike ones: the cache misses on
    precision alone. Refused unless --force says so; where --emulate-bf16 would match them, or is what
    differs, the sentence says so."""
    if not rows:
        return None
    there = {str(r["precision"]) for r in rows}
    named = ", ".join(f"{r['step']} seed {r['seed']}" for r in rows[:3]) + (", ..." if len(rows) > 3 else "")
    here = Precision(str(rows[0]["here"]))
    emulating = emulate_bf16 and emulates_bf16(here)
    trains = f"--emulate-bf16 trains in {str(here)!r} here" if emulating else f"this machine trains in {str(here)!r}"
    if emulating and there == {Precision.FP32}:
        way = "drop --emulate-bf16, "
    elif here is Precision.FP32 and there == {Precision.BF16_EXCEPT_DEPTHWISE}:
        way = "pass --emulate-bf16 to train them in bf16 here, "
    else:
        way = ""
    return (f"{table.path} holds {len(rows)} finished row(s) of this study trained in "
            f"{' and '.join(sorted(map(repr, there)))} ({named}), and {trains}, so this run would replace them "
            f"or pair them with unlike rows: run it where they were trained, {way}pass --force to train here "
            f"anyway, or choose another --out")


class _train_with:
    """A picklable fn(variant) for the pool: each sweep value's config bound."""

    def __init__(self, cfgs: dict[str, RunConfig]):
        self.cfgs = cfgs

    def __call__(self, v: Variant):
        return _train_in_worker(self.cfgs[v.sweep], v)
