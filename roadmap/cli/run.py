"""`roadmap run`: train every variant up to a step (here, under torchrun, or on Slurm)."""
from __future__ import annotations

import argparse
import os
import textwrap

from roadmap.arch.names import DESIGNS
from roadmap.cli import EMULATE_BF16_HELP, RUN_DESIGN_HELP, ROADMAP_HELP


def register(sub, name: str, help: str):
    s = sub.add_parser(
        name, help=help,
        description=textwrap.fill("Train and evaluate every variant from step0 up to --upto (not-adopted sub-steps included), "
                    "N seeds each, into results/NAME/results.csv (one row per step and seed) and epochs.csv. "
                    "Finished variants are skipped; an interrupted run resumes from its last checkpoint; a failed "
                    "variant (NaN loss) is recorded and the exit status is 1. A finished variant's weights are "
                    "kept in DIR/weights/ (roadmap.load_model, roadmap export). Several processes: "
                    "torchrun --nproc_per_node=N -m roadmap run ...", 79),
        epilog="examples:\n"
               "  roadmap run --upto step5                         # embedded data, smoke recipe, CPU\n"
               "  roadmap run --data ../cifar10 --recipe proxy --set epochs=30 --seeds 3\n"
               "  roadmap run --data ../cifar10:500 --threads 1 --log tensorboard   # 500 images per class\n"
               "  roadmap run --data ../cifar10 --jobs 2 --threads 1   # two variants at once, beside other work\n"
               "  torchrun --nproc_per_node=8 -m roadmap run --recipe imagenet --data /data/imagenet\n"
               "  roadmap run --recipe imagenet --data /data/imagenet --launcher slurm --gpus 8",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--upto", metavar="STEP", help="last step to train (default: the whole roadmap); "
                                                  "a stage id such as step5 means its adopted sub-step")
    s.add_argument("--only", metavar="STEP", nargs="+", default=[], help="train only these steps")
    s.add_argument("--roadmap", default="convnext-t", help=ROADMAP_HELP + " (default: %(default)s)")
    s.add_argument("--design", default="path", choices=DESIGNS, help=RUN_DESIGN_HELP)
    s.add_argument("--recipe", default="smoke", help="smoke (default, 2-core CPU, minutes), cpu-proxy (CIFAR-10 on a "
                                                     "2-core CPU, hours), proxy (one GPU, 32-64 px), imagenet (the "
                                                     "paper's Table 5), convmixer-cifar10 (the ConvMixer authors' "
                                                     "CIFAR-10 script, for --roadmap convmixer), or a recipe YAML path")
    s.add_argument("--set", dest="overrides", metavar="KEY=VALUE", action="append", default=[],
                   help="override a recipe value, e.g. --set epochs=30 (repeatable)")
    s.add_argument("--sweep", metavar="KEY=V1,V2", action="append", default=[],
                   help="train every variant under each value into the same folder, the value recorded per row "
                        "(its sweep column), e.g. --sweep epochs=10,30; repeated: the grid of all values; "
                        "report, plot and agreement split by it with --by KEY")
    s.add_argument("--data", default="embedded", help="'embedded' (default, generated), an ImageFolder tree "
                                                      "(train/ val/), a CIFAR python folder or a folder of .npz files; "
                                                      "PATH:N takes N training images per class; embedded:N:V also V "
                                                      "validation images per class (default 100)")
    s.add_argument("--seeds", type=int, default=1, metavar="N", help="seeds per variant (default: 1)")
    s.add_argument("--out", metavar="DIR", help="results folder (default: results/ROADMAP-DATA-RECIPE)")
    s.add_argument("--jobs", type=_jobs, default=None, metavar="N",
                   help="variants trained at once, each in its own process (default: auto, one per core on a CPU, "
                        "1 on a GPU or under torchrun); the most work left first, into one results table")
    s.add_argument("--threads", type=int, metavar="N", help="intra-op CPU threads per variant (default: 1 when "
                   "several jobs run, else the idle cores); recorded in each row")
    s.add_argument("--log", choices=["tensorboard"], action="append", default=[],
                   help="also log each variant's epochs to DIR/tensorboard/STEP-seedN "
                        "(needs pip install 'roadmap[tensorboard]')")
    s.add_argument("--force", action="store_true", help="retrain variants that already have a finished row")
    s.add_argument("--checkpoint-minutes", type=float, default=10.0, metavar="M",
                   help="also save each variant's state every M minutes inside an epoch (default: 10; 0: after "
                        "every update), so a killed run resumes where it was, to the same numbers; at epoch ends "
                        "only under torchrun")
    s.add_argument("--quiet", action="store_true", help="no progress bars, only results (for logs)")
    s.add_argument("--emulate-bf16", action="store_true", help=EMULATE_BF16_HELP)
    s.add_argument("--launcher", choices=["here", "slurm", "local"], default="here",
                   help="here (default; also under torchrun), slurm (one submitit job per variant, requeued "
                        "and resumed on preemption), local (the same jobs as local processes)")
    g = s.add_argument_group("slurm (with --launcher slurm)")
    g.add_argument("--partition", help="Slurm partition")
    g.add_argument("--nodes", type=int, default=1, help="nodes per job (default: 1)")
    g.add_argument("--gpus", type=int, default=1, help="GPUs (= processes) per node (default: 1)")
    g.add_argument("--timeout-min", type=int, default=72 * 60, help="job time limit in minutes (default: 4320)")
    s.set_defaults(fn=_run)


def _jobs(text: str) -> int | None:
    if text == "auto":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of jobs (a whole number, or auto)") from None


def _run(a) -> int:
    _check_early(a)
    if a.launcher == "here" and _may_pool(a.jobs):
        from roadmap.runs import pool
        pool.start_early()
    from roadmap.runs.runner import RunConfig, run

    cfg = RunConfig(roadmap=a.roadmap, design=a.design, upto=a.upto, only=a.only, recipe=a.recipe, overrides=a.overrides,
                    data=a.data, seeds=a.seeds, out=a.out, force=a.force, quiet=a.quiet,
                    threads=a.threads, log=a.log, jobs=a.jobs, sweep=a.sweep,
                    emulate_bf16=a.emulate_bf16, checkpoint_minutes=a.checkpoint_minutes)
    if a.launcher == "here":
        return run(cfg)
    from roadmap.runs.launch import submit
    return submit(cfg, a.launcher, partition=a.partition, nodes=a.nodes, gpus=a.gpus, timeout_min=a.timeout_min)


def _check_early(a) -> None:
    """The mistakes seen without torch (the roadmap file, its steps, the recipe and its --set values),
    raised before the seconds of importing it; the runner checks them again, with everything else.
    With --sweep the recipe is checked by the runner only, under each swept value: a --set value may
    hold only beside them (warmup_epochs=8 with --sweep epochs=10,30 against smoke's 6 epochs)."""
    from roadmap.arch.catalog import load
    from roadmap.train.recipe import check_emulation, load_recipe
    rm = load(a.roadmap, a.design)
    for step in ([a.upto] if a.upto else []) + list(a.only):
        rm.step(step)
    if not a.sweep:
        recipe = load_recipe(a.recipe, a.overrides)
        check_emulation(recipe.amp, a.emulate_bf16, recipe.name)


def _may_pool(jobs: int | None) -> bool:
    """Whether to start the pool's fork server before the imports (roadmap.runs.runner._share decides
    for sure, after them): only for --jobs N > 1 outside torchrun. By default the pool runs only if
    more than one variant is left to train, which the folder tells only after the imports, and a
    server left unused would have spent seconds of a core importing."""
    return jobs is not None and jobs > 1 and int(os.environ.get("WORLD_SIZE", "1")) == 1
