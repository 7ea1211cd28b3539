"""`roadmap bench`: training/inference throughput per variant, with timm's eager loop as baseline."""
from __future__ import annotations

import argparse
import re
import textwrap
from pathlib import Path

from roadmap.cli import ROADMAP_HELP
from roadmap.errors import RoadmapError


def register(sub, name: str, help: str):
    s = sub.add_parser(
        name, help=help,
        description=textwrap.fill(
            "Per variant: training and inference images/s on synthetic on-device batches, TFLOP/s "
            "(a training step = 3 forward passes, a multiply-add = 2 FLOPs), model-FLOPs utilisation "
            "against the device's bf16 peak, peak memory; and in the same process the same "
            "architecture from timm (resnet50, convnext_tiny, ...) in a plain eager channels_last "
            "loop (bf16 on a GPU, fp32 on a CPU), with our/baseline ratios. Written to results/bench-<device>.csv.", 79),
        epilog="examples:\n"
               "  roadmap bench --steps step0 step7 --batch 256            # on a GPU\n"
               "  roadmap bench --steps step0 --batch 8 --res 64 --width 0.25 --depth 0.34 --iters 3   # CPU\n"
               "  roadmap bench --roadmap isotropic --steps step0 --batch 128 --res 32 --width 0.25 --depth 0.34 "
               "--stem-stride 1   # as cpu-proxy --set stem_stride=1 builds it\n"
               "  roadmap bench --pipeline --steps step0 step7             # end to end, against a plain timm loop",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--roadmap", default="convnext-t", help=ROADMAP_HELP + " (default: %(default)s)")
    s.add_argument("--steps", nargs="+", metavar="STEP", help="variants to measure (default: all)")
    s.add_argument("--batch", type=int, default=256, help="batch size (default: %(default)s)")
    s.add_argument("--res", type=int, default=224, help="input resolution (default: %(default)s)")
    s.add_argument("--iters", type=int, default=20, help="timed steps per measurement (default: %(default)s)")
    s.add_argument("--warmup", type=int, default=5, help="untimed steps first (default: %(default)s)")
    s.add_argument("--width", type=float, default=1.0, help="width multiplier, for small CPU runs (default: 1)")
    s.add_argument("--depth", type=float, default=1.0, help="depth multiplier (default: 1)")
    s.add_argument("--stem-stride", type=int, metavar="S",
                   help="the stem's total stride for small images, as a recipe's stem_stride (default: the spec's)")
    s.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                   help="torch.compile our models (default: on for GPU, off for CPU)")
    s.add_argument("--emulate-bf16", action="store_true",
                   help="measure ours in bf16 on a CPU without native bf16 too, as roadmap run --emulate-bf16 "
                        "trains, against the same baselines: what emulation costs")
    s.add_argument("--peak-tflops", type=float, help="the device's dense bf16 peak, for MFU (default: known GPUs)")
    s.add_argument("--out", metavar="CSV", help="output table (default: results/bench-<device>.csv, "
                                                "results/bench-pipeline-<device>.csv with --pipeline)")
    p = s.add_argument_group("end to end (--pipeline): data, augmentation, forward, backward, optimizer")
    p.add_argument("--pipeline", action="store_true",
                   help="train each step two epochs with our trainer and with a plain timm loop (timm's "
                        "create_transform, a DataLoader, timm's AdamW, label smoothing, channels_last; the best "
                        "of fp32 / bf16 and 0 / 1 workers); time the second epoch of each (CPU)")
    p.add_argument("--recipe", default="smoke", help="with --pipeline: the recipe (default: %(default)s)")
    p.add_argument("--data", default="embedded", help="with --pipeline: the data (default: %(default)s)")
    p.add_argument("--set", dest="overrides", metavar="KEY=VALUE", action="append", default=[],
                   help="with --pipeline: override a recipe value")
    s.set_defaults(fn=_bench)


def _bench(a) -> int:
    from roadmap.arch.catalog import load
    from roadmap.runs.bench import bench

    if a.batch < 1 or a.iters < 1 or a.warmup < 0:
        raise RoadmapError("--batch and --iters must be at least 1, --warmup at least 0")
    if a.stem_stride is not None and a.stem_stride < 1:
        raise RoadmapError("--stem-stride must be at least 1")
    rm = load(a.roadmap)
    if a.pipeline:
        from roadmap.runs.bench_pipeline import bench_pipeline
        df = bench_pipeline(rm, a.steps or ["step0", "step7"], a.recipe, a.data, a.overrides,
                            emulate_bf16=a.emulate_bf16)
        out = Path(a.out or "results/bench-pipeline-cpu.csv")
        out.parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(out, index=False)
        print(f"bench table: {out}")
        return 0
    df = bench(rm, a.steps, a.batch, a.res, a.iters, a.warmup, a.width, a.depth, a.compile, a.peak_tflops,
               stem_stride=a.stem_stride, emulate_bf16=a.emulate_bf16)
    device = re.sub(r"[^A-Za-z0-9.-]+", "-", str(df["device"].iloc[0])).strip("-").lower()
    out = Path(a.out or f"results/bench-{device}.csv")
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out, index=False)
    print(f"bench table: {out}")
    return 0
