"""Mixed precision: bf16 autocast where the device computes bf16 natively, decided by op, not by timing.

On a GPU every op runs under autocast. On a CPU with native bf16 (avx512_bf16 or AMX), autocast
speeds dense convs and matmuls 1.5-2x, but oneDNN's depthwise conv is about 2x *slower* in bf16
than in fp32 (measured on this project's 2-core EPYC at smoke scale: step4 91 ms per step with
depthwise convs in fp32 against 260 ms all-bf16 and 141 ms all-fp32). So on a CPU depthwise convs
run in fp32 inside the autocast region. The rule depends only on the ops, so a seed gives the same
numbers on every machine with the same precision, which the results row records.

A CPU without native bf16 trains in fp32, or, asked (`run --emulate-bf16`), emulates bf16 with the same
rule and the same arithmetic (for_precision), to finish a study begun on a bf16 machine.
"""
from __future__ import annotations

from enum import StrEnum
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable
from torch import nn

from roadmap.errors import RoadmapError


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
        if type(m) is nn.Conv2d and m.groups > 1 and m.groups == m.in_channels:
            m.__class__ = Fp32Conv2d
    return model


def check_emulation(amp: bool, emulate_bf16: bool, recipe_name: str) -> None:
    if emulate_bf16 and not amp:
        raise RoadmapError(f"--emulate-bf16 asks for bf16, but recipe {recipe_name} trains in fp32 (amp: false): "
                           f"drop one of them")


def emulates_bf16(mode: Precision) -> bool:
    return mode is Precision.BF16_EXCEPT_DEPTHWISE and not cpu_has_bf16()


def for_precision(model: nn.Module, mode: Precision) -> nn.Module:
    """Ready `model` for `mode`'s autocast: on a CPU, depthwise convs in fp32; where bf16 is emulated, the
    other convs and the linear layers as Bf16Conv2d and Bf16Linear (emulate_bf16_layers)."""
    if mode is Precision.BF16_EXCEPT_DEPTHWISE:
        (emulate_bf16_layers if emulates_bf16(mode) else keep_depthwise_fp32)(model)
    return model


def _bf16(t: torch.Tensor | None) -> torch.Tensor | None:
    """Rounded to bf16, held in fp32 for fp32 kernels."""
    return None if t is None else t.to(torch.bfloat16).float()


def _once(g: torch.Tensor | None, dtype: torch.dtype | None) -> torch.Tensor | None:
    """A gradient rounded once to bf16, as a native bf16 op hands it back, in its input's dtype."""
    return None if g is None else g.to(torch.bfloat16).to(dtype)


def _fp32_kernels(backward):
    """A backward run with autocast off: a training loop that calls backward() inside its autocast region
    (as ours does) would otherwise send these fp32 GEMMs to the slow bf16 ones."""
    def run(ctx, grad):
        with torch.autocast(grad.device.type, enabled=False):
            return backward(ctx, grad)
    return run


class _Bf16Conv(torch.autograd.Function):
    """conv2d as native bf16 computes it: bf16 operands, fp32 sums, each result rounded once to bf16."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups):
        xb, wb = x.to(torch.bfloat16), weight.to(torch.bfloat16)
        ctx.save_for_backward(xb, wb)
        ctx.conf = (stride, padding, dilation, groups, x.dtype, weight.dtype, None if bias is None else bias.dtype)
        return F.conv2d(xb.float(), wb.float(), _bf16(bias), stride, padding, dilation, groups).to(torch.bfloat16)

    @staticmethod
    @once_differentiable
    @_fp32_kernels
    def backward(ctx, grad):
        xb, wb = ctx.saved_tensors
        stride, padding, dilation, groups, x_dtype, w_dtype, b_dtype = ctx.conf
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        gx, gw, gb = torch.ops.aten.convolution_backward(
            _bf16(grad), xb.float(), wb.float(), None if b_dtype is None else [wb.shape[0]],
            stride, padding, dilation, False, [0, 0], groups, [need_x, need_w, need_b and b_dtype is not None])
        return _once(gx, x_dtype), _once(gw, w_dtype), _once(gb, b_dtype), None, None, None, None


class _Bf16Linear(torch.autograd.Function):
    """linear as native bf16 computes it (see _Bf16Conv), on fp32 GEMMs: torch's bf16 GEMM on a CPU
    without bf16 sums in fp32 too, but trained step7.ls 5x slower."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        xb, wb = x.to(torch.bfloat16), weight.to(torch.bfloat16)
        ctx.save_for_backward(xb, wb)
        ctx.dtypes = (x.dtype, weight.dtype, None if bias is None else bias.dtype)
        if bias is not None and x.dim() != 2 and not x.is_contiguous():
            # torch's linear takes matmul, then adds the bias in bf16 here: rounded twice, on every device
            y = F.linear(xb.float(), wb.float()).to(torch.bfloat16)
            return (y.float() + _bf16(bias)).to(torch.bfloat16)
        return F.linear(xb.float(), wb.float(), _bf16(bias)).to(torch.bfloat16)

    @staticmethod
    @once_differentiable
    @_fp32_kernels
    def backward(ctx, grad):
        xb, wb = ctx.saved_tensors
        x_dtype, w_dtype, b_dtype = ctx.dtypes
        g = _bf16(grad).reshape(-1, grad.shape[-1])
        gx = (g @ wb.float()).reshape(xb.shape) if ctx.needs_input_grad[0] else None
        gw = g.t() @ xb.float().reshape(-1, xb.shape[-1]) if ctx.needs_input_grad[1] else None
        gb = g.sum(0) if b_dtype is not None and ctx.needs_input_grad[2] else None
        return _once(gx, x_dtype), _once(gw, w_dtype), _once(gb, b_dtype)


def _in_bf16_autocast(x: torch.Tensor) -> bool:
    return torch.is_autocast_enabled(x.device.type) and torch.get_autocast_dtype(x.device.type) == torch.bfloat16


class Bf16Conv2d(nn.Conv2d):
    """A conv computed as native bf16 would under CPU autocast, on a CPU that emulates bf16 (same
    parameters and state-dict keys; outside bf16 autocast an ordinary conv)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not _in_bf16_autocast(x):
            return super().forward(x)
        with torch.autocast(x.device.type, enabled=False):
            return _Bf16Conv.apply(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class Bf16Linear(nn.Linear):
    """A linear layer computed as native bf16 would under CPU autocast (see Bf16Conv2d)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not _in_bf16_autocast(x):
            return super().forward(x)
        with torch.autocast(x.device.type, enabled=False):
            return _Bf16Linear.apply(x, self.weight, self.bias)


_EMULATED = (Fp32Conv2d, Bf16Conv2d, Bf16Linear)


def emulate_bf16_layers(model: nn.Module) -> nn.Module:
    """"bf16 except depthwise" on a CPU that emulates bf16, in place: depthwise convs in fp32 as always,
    every other conv and every linear layer computing as native bf16 on fp32 kernels. torch's own bf16
    conv there falls back to a kernel that sums the weight gradient in bf16 sample by sample (8x the
    error of one rounding at batch 128; oneDNN's native conv sums in fp32), and its bf16 GEMM is slow.
    The other ops autocast lowers (matmul, attention) take torch's bf16 kernels, which sum in fp32;
    a conv or linear layer of another kind is refused rather than left to the fallback."""
    keep_depthwise_fp32(model)
    for name, m in model.named_modules():
        if type(m) is nn.Conv2d and m.padding_mode == "zeros" and not isinstance(m.padding, str):
            m.__class__ = Bf16Conv2d
        elif type(m) is nn.Linear:
            m.__class__ = Bf16Linear
        elif isinstance(m, (nn.modules.conv._ConvNd, nn.Linear, nn.MultiheadAttention)) and \
                not isinstance(m, _EMULATED):
            raise RoadmapError(f"--emulate-bf16 cannot compute {name or 'the model'} ({type(m).__name__}) as native "
                               f"bf16 does: train it in fp32 (--set amp=false) or on a CPU with native bf16")
    return model
