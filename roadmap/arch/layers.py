"""One factory from a spec's op to a torch layer, for feature maps and for tokens alike.

A block is a list of ops (`roadmap.arch.spec.Op`); `branch` turns such a list into a named
`nn.Sequential` (`dwconv0`, `norm1`, `conv2`, ...: the op's kind and its index in the block), so
state-dict keys say what each weight is.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from timm.layers import Attention, LayerNorm2d, Mlp, create_conv2d, get_act_layer, get_padding
from torch import nn
from torchvision.ops import Permute

from roadmap.arch.spec import Op, Spec
from roadmap.arch.tokens import AlongTokens, AsSequence, OnGrid
from roadmap.errors import RoadmapError

LN_EPS = 1e-6  # official ConvNeXt's (and timm's ViT / Mixer) LayerNorm epsilon


def conv(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, bias: bool = True) -> nn.Module:
    # patchify / downsampling convs (kernel == stride) take no padding; others keep "same" size
    padding = 0 if kernel == stride else get_padding(kernel, stride)
    return create_conv2d(cin, cout, kernel, stride=stride, padding=padding, groups=groups, bias=bias)


def norm(spec: Spec, c: int, channels_last: bool = False) -> nn.Module:
    if spec.norm == "bn":
        return nn.BatchNorm2d(c)
    return nn.LayerNorm(c, eps=LN_EPS) if channels_last else LayerNorm2d(c, eps=LN_EPS)


def act(spec: Spec) -> nn.Module:
    return get_act_layer(spec.act)()


@dataclass(frozen=True)
class Place:
    """What a layer needs to know beyond its op: the block's widths and the tensor layout."""
    mid: int                     # channels of a conv with width "mid"
    out: int                     # channels of a conv with width "out"
    stride: int = 1              # the stride of an op marked `stride`
    channels_last: bool = False  # (B, H, W, C) or (B, T, C): 1x1 convs are nn.Linear, norms nn.LayerNorm
    n_tokens: int = 0            # token MLPs and token norms are sized by the number of tokens


def layer(op: Op, spec: Spec, c: int, at: Place, bias: bool = True) -> tuple[nn.Module, int]:
    """The layer for `op` on `c` input channels, and its output channels."""
    stride = at.stride if op.stride else 1
    if op.kind in ("conv", "dwconv"):
        out = c if op.kind == "dwconv" else at.mid if op.width == "mid" else at.out
        if op.kind == "conv" and op.kernel == 1 and at.channels_last:
            return nn.Linear(c, out, bias=bias), out
        m = conv(c, out, op.kernel, stride, groups=c if op.kind == "dwconv" else op.groups, bias=bias)
        return (OnGrid(m) if at.channels_last else m), out
    if op.kind == "norm":
        return norm(spec, c, at.channels_last), c
    if op.kind == "act":
        return act(spec), c
    if op.kind == "attn":
        if c % op.heads:
            raise RoadmapError(f"spec {spec.name!r}: {c} channels do not split into {op.heads} attention heads")
        return AsSequence(Attention(c, op.heads, qkv_bias=True)), c
    if op.kind == "token_norm":
        return AlongTokens(nn.LayerNorm(at.n_tokens, eps=LN_EPS)), c
    if op.kind == "token_mlp":
        hidden = op.hidden or int(at.n_tokens * op.ratio)  # int(): the feed-forward-only ViT's rounding
        return AlongTokens(Mlp(at.n_tokens, hidden, act_layer=get_act_layer(spec.act))), c
    raise RoadmapError(f"spec {spec.name!r}: no layer for a {op.kind!r} op here")


def branch(spec: Spec, ops: tuple[Op, ...] | list[Op], cin: int, cout: int, stride: int = 1,
           n_tokens: int = 0) -> nn.Sequential:
    """The layers of one residual branch (or an isotropic block's segment), in op order."""
    ops = tuple(ops)
    mid = round(spec.block.mid_ratio * cout)
    if spec.tokens:
        tail = 0  # a token network is channels last throughout
    else:
        # With LayerNorm, the pointwise tail after the last spatial conv runs channels-last with
        # nn.Linear, as the official ConvNeXt block does: same maths, the checkpoint's shapes.
        spatial = [i for i, op in enumerate(ops) if op.spatial]
        tail = (spatial[-1] + 1 if spatial else 0) if spec.norm == "ln" else len(ops)
        if tail < len(ops) and not any(op.kind == "conv" for op in ops[tail:]):
            tail = len(ops)
    permute = not spec.tokens and tail < len(ops)
    layers, c = OrderedDict(), cin
    for i, op in enumerate(ops):
        if permute and i == tail:
            layers["to_channels_last"] = Permute([0, 2, 3, 1])
        followed_by_bn = i + 1 < len(ops) and ops[i + 1].kind == "norm" and spec.norm == "bn"
        at = Place(mid, cout, stride, channels_last=i >= tail, n_tokens=n_tokens)
        layers[f"{op.kind}{i}"], c = layer(op, spec, c, at, bias=not followed_by_bn)
    if permute:
        layers["to_channels_first"] = Permute([0, 3, 1, 2])
    if c != cout:
        raise RoadmapError(f"spec {spec.name!r}: the block's branch ends with {c} channels, not the stage's {cout}")
    if stride > 1 and not any(op.stride for op in ops):
        raise RoadmapError(f"spec {spec.name!r}: in-block downsampling needs an op marked stride")
    return nn.Sequential(layers)
