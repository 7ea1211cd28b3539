"""Cluster launch through submitit: one job per (step, seed), requeued and resumed on preemption.

Each job runs the same runner on one variant; its tasks (one per GPU) join one process group
through the environment submitit exports, so DDP needs no other code. Jobs share the results
folder: rows are written under a lock, and a variant's last checkpoint is what a requeued job
resumes from (saved at epoch ends when a job runs several processes).
"""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import submitit

from roadmap.arch.catalog import load
from roadmap.errors import RoadmapError
from roadmap.runs import machine
from roadmap.runs.folder import RunFolder
from roadmap.runs.runner import RunConfig, default_out, run, variants
from roadmap.train.data import data_name
from roadmap.train.recipe import check_emulation, load_recipe


def _local(executor, todo, job_cfgs: list[RunConfig], cfg: RunConfig) -> int:
    """Local processes, at most --jobs at a time, with the runner's defaults (one per core, 1 thread each;
    a lone job the idle cores): submitit's local executor itself starts every job at once."""
    cap = max(1, min(cfg.jobs or machine.cores(), len(todo)))
    threads = cfg.threads or (1 if cap > 1 else machine.idle_cores())
    waiting = [(f"{step.id} seed {seed}", replace(c, threads=threads)) for (_, step, seed), c in zip(todo, job_cfgs)]
    running, codes = [], []
    while waiting or running:
        while waiting and len(running) < cap:
            name, c = waiting.pop(0)
            job = executor.submit(VariantJob(c))
            print(f"{name}: job {job.job_id}", flush=True)
            running.append(job)
        time.sleep(0.2)
        for job in [j for j in running if j.done()]:
            running.remove(job)
            codes.append(job.result())
    return max(codes) if codes else 0


class VariantJob:
    """A picklable job: train one variant; on preemption submitit calls checkpoint() and requeues."""

    def __init__(self, cfg: RunConfig):
        self.cfg = cfg

    def __call__(self) -> int:
        env = submitit.JobEnvironment()
        if env.num_tasks > 1:
            submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
        return run(self.cfg, hold_folder=False)

    def checkpoint(self) -> submitit.helpers.DelayedSubmission:
        # the runner resumes from the variant's last checkpoint
        return submitit.helpers.DelayedSubmission(VariantJob(self.cfg))


def submit(cfg: RunConfig, launcher: str, partition: str | None = None, nodes: int = 1, gpus: int = 1,
           timeout_min: int = 4320) -> int:
    rm = load(cfg.roadmap, cfg.design)
    recipe = load_recipe(cfg.recipe, cfg.overrides)
    check_emulation(recipe.amp, cfg.emulate_bf16, recipe.name)  # before N jobs that would each fail
    out = Path(cfg.out) if cfg.out else default_out(rm, recipe, data_name(cfg.data))
    todo = variants(rm, cfg)
    executor = submitit.AutoExecutor(folder=RunFolder(out).jobs / "%j", cluster="local" if launcher == "local" else None)
    if launcher == "slurm" and executor.cluster != "slurm":
        raise RoadmapError("--launcher slurm: no Slurm here (sbatch not found); use --launcher local to test")
    params = dict(timeout_min=timeout_min, nodes=nodes, tasks_per_node=gpus, name=f"roadmap-{rm.name}")
    if launcher == "slurm":
        params.update(gpus_per_node=gpus, slurm_partition=partition, slurm_signal_delay_s=120)
    executor.update_parameters(**{k: v for k, v in params.items() if v is not None})
    job_cfgs = [replace(cfg, out=str(out), upto=None, only=[step.id], first_seed=seed, seeds=1, quiet=True,
                        jobs=1) for _, step, seed in todo]
    if launcher == "local":
        return _local(executor, todo, job_cfgs, cfg)
    with executor.batch():
        jobs = [executor.submit(VariantJob(c)) for c in job_cfgs]
    for (_, step, seed), job in zip(todo, jobs):
        print(f"{step.id} seed {seed}: job {job.job_id}")
    print(f"submitted {len(jobs)} job(s); results gather in {out}/results.csv (logs in {out}/jobs/)")
    return 0
