"""Training and inference throughput per variant, against timm in the same process.

A training step is counted as three forward passes and a multiply-add as two FLOPs, so
TFLOP/s = 3 x 2 x MACs x images/s; model-FLOPs utilisation divides that by the device's
dense bf16 peak (PEAK_TFLOPS, overridable). Inputs are synthetic tensors already on the
device, so the numbers are the model step alone, not the data pipeline (`--pipeline`,
`roadmap.runs.bench_pipeline`, measures that end to end).

Ours: the trainer's settings (channels_last; bf16 autocast on GPU, and on a CPU with native bf16,
or emulated with --emulate-bf16, except for depthwise convs (roadmap.train.precision); fused AdamW,
optional torch.compile, no host sync inside the timed loop). Baseline: the same architecture from
timm where it has one (else our module), in a plain eager channels_last loop with bf16 autocast on
GPU (as timm's train.py runs with --amp --channels-last) and fp32 on CPU. On a CPU both sides run
with the trainer's process-wide `keep_freed_memory()` (roadmap.train.allocator), whichever is
measured first.
"""
from __future__ import annotations

import resource
import time
from dataclasses import dataclass

import pandas as pd
import timm
import torch
from torch import nn

from roadmap.arch.complexity import complexity
from roadmap.arch.network import build
from roadmap.arch.scale import scale_spec
from roadmap.arch.steps import Roadmap
from roadmap.train.allocator import keep_freed_memory
from roadmap.train.precision import Precision, for_precision, precision

# dense bf16 tensor-core peaks (TFLOP/s) from the vendors' data sheets, by name fragment
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10G": 70.0, "L4": 121.0,
               "RTX 4090": 165.0, "V100": 125.0}


def device_peak(device: torch.device, override: float | None) -> float | None:
    if override:
        return override
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_TFLOPS.items() if k in name), None)


@dataclass
class Speed:
    train_img_s: float
    eval_img_s: float
    peak_mem_mb: float


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(model: nn.Module, device: torch.device, batch: int, res: int, iters: int, warmup: int,
            fast: bool, compile_model: bool, num_classes: int, emulate_bf16: bool = False) -> Speed:
    """Images/s of `iters` training steps and `iters` inference batches after `warmup` of each."""
    cuda = device.type == "cuda"
    # ours: the trainer's precision rule (bf16 except depthwise convs on a CPU with native bf16, or
    # emulated where asked);
    # the baseline: bf16 autocast on GPU, fp32 on CPU
    mode = precision(True, device, emulate_bf16) if fast else (Precision.BF16 if cuda else Precision.FP32)
    for_precision(model, mode)
    amp = mode is not Precision.FP32
    model = model.to(device).to(memory_format=torch.channels_last)
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=cuda and fast)
    run = torch.compile(model) if compile_model else model
    x = torch.randn(batch, 3, res, res, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, num_classes, (batch,), device=device)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss = loss_fn(run(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    model.train()
    for _ in range(warmup):
        step()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(iters):
        step()
    _sync(device)
    train = batch * iters / (time.perf_counter() - t0)

    model.eval()
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
        for _ in range(warmup):
            run(x)
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(iters):
            run(x)
        _sync(device)
    evaluate = batch * iters / (time.perf_counter() - t0)
    mem = torch.cuda.max_memory_allocated(device) / 2**20 if cuda else \
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return Speed(train, evaluate, mem)


def bench(rm: Roadmap, step_ids: list[str] | None, batch: int, res: int, iters: int, warmup: int,
          width: float = 1.0, depth: float = 1.0, compile_model: bool | None = None,
          peak_tflops: float | None = None, num_classes: int = 1000, device: torch.device | None = None,
          report=print, stem_stride: int | None = None, emulate_bf16: bool = False) -> pd.DataFrame:
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    compile_model = device.type == "cuda" if compile_model is None else compile_model
    peak = device_peak(device, peak_tflops)
    if device.type == "cpu":
        keep_freed_memory()  # as the trainer runs; both sides
    steps = [rm.step(s) for s in step_ids] if step_ids else rm.steps
    rows = []
    for st in steps:
        spec = scale_spec(st.spec, width, depth, stem_stride)
        macs = complexity(spec, num_classes=num_classes, res=res)["gflops"] * 1e9
        torch.manual_seed(0)
        ours = measure(build(spec, num_classes, img_size=res), device, batch, res, iters, warmup,
                       fast=True, compile_model=compile_model, num_classes=num_classes, emulate_bf16=emulate_bf16)
        full_size = width == 1.0 and depth == 1.0 and stem_stride is None
        if st.timm and full_size:
            baseline_name, baseline = st.timm, timm.create_model(st.timm, pretrained=False, num_classes=num_classes)
        else:
            baseline_name, baseline = "our model, plain eager loop", build(spec, num_classes, img_size=res)
        base = measure(baseline, device, batch, res, iters, warmup, fast=False, compile_model=False,
                       num_classes=num_classes)
        tflops = 6 * macs * ours.train_img_s / 1e12
        row = {
            "step": st.id, "label": st.label, "device": torch.cuda.get_device_name(device)
            if device.type == "cuda" else "cpu", "torch": torch.__version__, "batch": batch, "res": res,
            "width_mult": width, "depth_mult": depth, "stem_stride": stem_stride, "gmacs": macs / 1e9, "compile": compile_model,
            "precision": precision(True, device, emulate_bf16),
            "train_img_s": ours.train_img_s, "eval_img_s": ours.eval_img_s, "train_tflops": tflops,
            "mfu": tflops / peak if peak else float("nan"), "peak_mem_mb": ours.peak_mem_mb,
            "baseline": baseline_name, "baseline_train_img_s": base.train_img_s,
            "baseline_eval_img_s": base.eval_img_s, "train_ratio": ours.train_img_s / base.train_img_s,
            "eval_ratio": ours.eval_img_s / base.eval_img_s,
        }
        rows.append(row)
        report(f"{st.id:>16}  train {ours.train_img_s:8.1f} img/s in {row['precision']} "
               f"({row['train_ratio']:.2f}x the baseline: "
               f"{baseline_name})  "
               f"eval {ours.eval_img_s:8.1f} img/s  {flop_rate(tflops)}"
               + (f"  MFU {100 * row['mfu']:.1f}%" if peak else ""))
    return pd.DataFrame(rows)


def flop_rate(tflops: float) -> str:
    """A GPU's TFLOP/s, or a scaled-down CPU variant's GFLOP/s, which two decimals of TFLOP/s hide."""
    return f"{tflops:6.2f} TFLOP/s" if tflops >= 1 else f"{1e3 * tflops:6.2f} GFLOP/s"
