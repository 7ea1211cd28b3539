"""bf16 on a CPU without it, computed as native bf16 computes it: bf16 operands, fp32 sums, each result
rounded once to bf16. torch's own bf16 kernels on such a CPU do not: its fallback conv sums the weight
gradient in bf16 sample by sample (8x the error of one rounding at batch 128, where oneDNN's native
conv sums in fp32), and its bf16 GEMM, which does sum in fp32, trained step7.ls 5x slower. So dense
convs and linear layers run on fp32 kernels with bf16-rounded operands (Bf16Conv2d, Bf16Linear). The
other ops autocast lowers (matmul, attention) keep torch's bf16 kernels, which sum in fp32.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from roadmap.errors import RoadmapError


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
    """linear as native bf16 computes it (see _Bf16Conv)."""

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


def is_depthwise(m: nn.Module) -> bool:
    """A depthwise conv: the one kind the precision rule keeps in fp32 on a CPU."""
    return isinstance(m, nn.Conv2d) and m.groups > 1 and m.groups == m.in_channels


def emulate_bf16_layers(model: nn.Module) -> nn.Module:
    """Swap, in place, every conv that autocast runs in bf16 and every linear layer for one computing as
    native bf16 does. Depthwise convs are left to the precision rule (fp32: keep_depthwise_fp32); a conv
    or linear layer of another kind is refused rather than left to torch's fallback."""
    for name, m in model.named_modules():
        if is_depthwise(m):
            continue
        if type(m) is nn.Conv2d and m.padding_mode == "zeros" and not isinstance(m.padding, str):
            m.__class__ = Bf16Conv2d
        elif type(m) is nn.Linear:
            m.__class__ = Bf16Linear
        elif isinstance(m, (nn.modules.conv._ConvNd, nn.Linear, nn.MultiheadAttention)) and \
                not isinstance(m, (Bf16Conv2d, Bf16Linear)):
            raise RoadmapError(f"--emulate-bf16 cannot compute {name or 'the model'} ({type(m).__name__}) as native "
                               f"bf16 does: train it in fp32 (--set amp=false) or on a CPU with native bf16")
    return model
