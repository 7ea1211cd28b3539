"""Mixed precision: bf16 autocast where the device computes bf16 natively, decided by op, not by timing.

On a GPU every op runs under autocast. On a CPU with native bf16 (avx512_bf16 or AMX), autocast
speeds dense convs and matmuls 1.5-2x, but oneDNN's depthwise conv is about 2x *slower* in bf16
than in fp32 (measured on this project's 2-core EPYC at smoke scale: step4 91 ms per step with
depthwise convs in fp32 against 260 ms all-bf16 and 141 ms all-fp32). So on a CPU depthwise convs
run in fp32 inside the autocast region. The rule depends only on the ops, so a seed gives the same
numbers on every machine with the same precision, which the results row records.

A CPU without native bf16 trains in fp32, or, asked (`run --emulate-bf16`), emulates bf16 with the same
rule and the same arithmetic (roadmap.train.bf16_emulation), to finish a study begun on a bf16 machine.
"""
from __future__ import annotations

from enum import StrEnum
from functools import lru_cache

import torch
from torch import nn

from roadmap.train.bf16_emulation import emulate_bf16_layers, is_depthwise


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's instruction-set flags from /proc/cpuinfo (Linux); none where the kernel gives none."""
    try:
        with open("/proc/cpuinfo") as f:
            return frozenset(next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), []))
    except OSError:
        return frozenset()


def cpu_has_bf16() -> bool:
    """Native bf16 math for oneDNN: the avx512_bf16 or amx_bf16 flag (torch has no public query; its
    private one also says yes where bf16 is only emulated on AVX-512, which is slower than fp32).
    Without /proc/cpuinfo (macOS, Windows) the answer is no, and the rows say fp32."""
    return torch.backends.mkldnn.is_available() and bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


class Precision(StrEnum):
    """A results column and part of the cache key: the values stay as first written."""
    FP32 = "fp32"
    BF16 = "bf16"                                    # every op under autocast (GPU)
    BF16_EXCEPT_DEPTHWISE = "bf16 except depthwise"  # a CPU (bf16 native, or emulated where asked)


def precision(amp: bool, device: torch.device, emulate_bf16: bool = False) -> Precision:
    """`emulate_bf16`: bf16 on a CPU without it too (see for_precision), so that a study begun in bf16
    can be finished there."""
    if not amp:
        return Precision.FP32
    if device.type == "cuda":
        return Precision.BF16
    native = device.type == "cpu" and (cpu_has_bf16() or emulate_bf16)
    return Precision.BF16_EXCEPT_DEPTHWISE if native else Precision.FP32


class Fp32Conv2d(nn.Conv2d):
    """A conv that runs in fp32 inside an autocast region (same parameters, same state-dict keys)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return super().forward(x.float())


def keep_depthwise_fp32(model: nn.Module) -> nn.Module:
    """Run every depthwise conv of `model` in fp32 under autocast. The class is swapped in place, so the
    model still pickles, deep-copies (EMA) and loads its checkpoints."""
    for m in model.modules():
        if type(m) is nn.Conv2d and is_depthwise(m):
            m.__class__ = Fp32Conv2d
    return model


def emulates_bf16(mode: Precision) -> bool:
    return mode is Precision.BF16_EXCEPT_DEPTHWISE and not cpu_has_bf16()


def for_precision(model: nn.Module, mode: Precision) -> nn.Module:
    """Ready `model` for `mode`'s autocast: on a CPU, depthwise convs in fp32; where bf16 is emulated, the
    other convs and the linear layers computing as native bf16 does (roadmap.train.bf16_emulation)."""
    if mode is Precision.BF16_EXCEPT_DEPTHWISE:
        keep_depthwise_fp32(model)
        if emulates_bf16(mode):
            emulate_bf16_layers(model)
    return model
