"""Spec -> torch.nn.Module: the only place that turns specs into networks. Read top-down:
the network (stem, stages, head), a stage, a block, the head.

Parameters are registered in the order of the reference implementations (torchvision/timm
ResNet, timm/official ConvNeXt, timm's ViT/DeiT, MLP-Mixer and ConvMixer, the official
isotropic ConvNeXt), so their checkpoints load by position. The layers of a block come from one
factory (`roadmap.arch.layers`); token networks' adapters live in `roadmap.arch.tokens`.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from timm.layers import DropPath, trunc_normal_
from torch import nn

from roadmap.arch.layers import LN_EPS, act, branch, conv, norm
from roadmap.arch.spec import Spec
from roadmap.arch.tokens import TokenEmbed, TokenPool


def build(spec: Spec, num_classes: int = 1000, drop_path_rate: float = 0.0, in_chans: int = 3,
          img_size: int = 224) -> nn.Module:
    """Build `spec` for `num_classes`; stochastic depth rises linearly to `drop_path_rate`.

    `img_size` matters only to token networks whose position embedding or token MLPs are sized
    by the number of patches (ViT, Mixer): they take img_size x img_size inputs. ConvNets and
    attention-only token mixing take any input divisible by the total stride.
    """
    return Network(spec, num_classes, drop_path_rate, in_chans, img_size)


class Network(nn.Module):
    def __init__(self, spec: Spec, num_classes: int = 1000, drop_path_rate: float = 0.0, in_chans: int = 3,
                 img_size: int = 224):
        super().__init__()
        self.spec, self.num_classes = spec, num_classes
        st = spec.stem
        grid = img_size // st.stride
        n_tokens = grid ** 2 + spec.cls_token
        # A token network's class token and position embedding are registered first (timm's ViT
        # order) and applied after the stem. The number of tokens is built into the position
        # embedding and token MLPs, so the input size is too.
        fixed_size = spec.pos_embed or any(op.kind in ("token_mlp", "token_norm") for op in spec.block.ops)
        self.embed = TokenEmbed(st.width, img_size, st.stride, spec.cls_token, spec.pos_embed, fixed_size, spec.name) \
            if spec.tokens else None
        self.stem = _stem(spec, in_chans)
        n = sum(spec.depths)
        rates = [drop_path_rate * i / max(n - 1, 1) for i in range(n)]  # timm: linspace(0, rate, n)
        stages, cin, k = [], st.width, 0
        for i, (depth, width) in enumerate(zip(spec.depths, spec.widths)):
            stages.append(Stage(spec, cin, width, depth, i == 0, rates[k:k + depth], n_tokens))
            cin, k = width, k + depth
        self.stages = nn.Sequential(*stages)
        self.head = Head(spec, cin, num_classes)
        self.num_features = cin
        if spec.init == "trunc_normal":
            self.apply(_trunc_normal)
        elif spec.init == "resnet":
            self._init_resnet()
        if self.embed is not None:
            self.embed.init_weights()

    def _init_resnet(self):
        for name, m in self.named_modules():
            if isinstance(m, nn.Conv2d) or (isinstance(m, nn.Linear) and not name.startswith("head")):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        for m in self.modules():
            # timm's zero_init_last: each residual branch starts as the identity
            if isinstance(m, Block) and isinstance(m.branch[-1], nn.BatchNorm2d):
                nn.init.zeros_(m.branch[-1].weight)

    def forward_features(self, x):
        x = self.stem(x)
        if self.embed is not None:
            x = self.embed(x)
        return self.stages(x)

    def forward(self, x):
        return self.head(self.forward_features(x))


def _stem(spec: Spec, in_chans: int) -> nn.Sequential:
    """conv -> norm -> act (-> max-pool): ResNet's, the patchify stem, a patch embedding."""
    st = spec.stem
    norm_next = st.norm and not (st.act and st.act_first)  # a conv followed by BN needs no bias
    layers = [("conv", conv(in_chans, st.width, st.kernel, st.stride, bias=not (norm_next and spec.norm == "bn")))]
    norms = [("norm", norm(spec, st.width))] if st.norm else []
    acts = [("act", act(spec))] if st.act else []
    layers += acts + norms if st.act_first else norms + acts
    if st.pool:
        layers.append(("pool", nn.MaxPool2d(3, 2, 1)))
    return nn.Sequential(OrderedDict(layers))


def _trunc_normal(m: nn.Module) -> None:
    """Official ConvNeXt / ViT / Mixer init: weights trunc-normal std 0.02, biases zero."""
    if isinstance(m, (nn.Conv2d, nn.Linear)):
        trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)


class Stage(nn.Module):
    def __init__(self, spec: Spec, cin: int, cout: int, depth: int, first: bool, drop_paths: list[float],
                 n_tokens: int = 0):
        super().__init__()
        separate = spec.downsample == "separate"
        if separate and not first:
            # ConvNeXt: norm, then a 2x2 stride-2 conv between stages
            self.downsample = nn.Sequential(OrderedDict(norm=norm(spec, cin), conv=conv(cin, cout, 2, 2)))
            cin = cout
        else:
            self.downsample = nn.Identity()
        stride = 1 if (first or separate) else 2
        if spec.tokens or any(op.kind == "add" for op in spec.block.ops):
            self.blocks = nn.Sequential(*[SegmentedBlock(spec, cout, drop_paths[i], n_tokens) for i in range(depth)])
        else:
            self.blocks = nn.Sequential(*[
                Block(spec, cin if i == 0 else cout, cout, stride if i == 0 else 1, drop_paths[i])
                for i in range(depth)
            ])

    def forward(self, x):
        return self.blocks(self.downsample(x))


class Block(nn.Module):
    """One residual branch: act(drop_path(gamma * branch(x)) + shortcut(x)) (ResNet, ConvNeXt)."""

    def __init__(self, spec: Spec, cin: int, cout: int, stride: int, drop_path: float):
        super().__init__()
        b = spec.block
        # ConvNeXt keeps gamma as the block's own first parameter; we do too (checkpoint order)
        self.gamma = nn.Parameter(torch.full((cout,), float(b.layer_scale))) if b.layer_scale is not None else None
        self.branch = branch(spec, b.ops, cin, cout, stride)
        needs_projection = stride > 1 or cin != cout
        self.shortcut = nn.Sequential(OrderedDict(
            conv=conv(cin, cout, 1, stride, bias=spec.norm != "bn"), norm=norm(spec, cout),
        )) if needs_projection else nn.Identity()
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.act = act(spec) if b.act_after_add else nn.Identity()

    def forward(self, x):
        out = self.branch(x)
        if self.gamma is not None:
            out = out * self.gamma.view(1, -1, 1, 1)
        return self.act(self.drop_path(out) + self.shortcut(x))


class SegmentedBlock(nn.Module):
    """An isotropic block: residual segments (ops up to each `add`, as a transformer's two sub-layers),
    then the ops after the last `add` without a residual (ConvMixer's pointwise conv)."""

    def __init__(self, spec: Spec, c: int, drop_path: float, n_tokens: int):
        super().__init__()
        segments, tail = spec.block.segments()
        branches = [branch(spec, seg, c, c, 1, n_tokens) for seg in segments + [tail]]
        self.residuals = nn.Sequential(*[Residual(b, c, spec.block.layer_scale, drop_path, spec.tokens)
                                         for b in branches[:-1]])
        self.tail = branches[-1]

    def forward(self, x):
        return self.tail(self.residuals(x))


class Residual(nn.Module):
    """x + drop_path(gamma * f(x)): one residual segment of a `SegmentedBlock`."""

    def __init__(self, fn: nn.Sequential, c: int, layer_scale: float | None, drop_path: float,
                 channels_last: bool):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((c,), float(layer_scale))) if layer_scale is not None else None
        self.branch = fn
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.channels_last = channels_last

    def forward(self, x):
        out = self.branch(x)
        if self.gamma is not None:
            out = out * (self.gamma if self.channels_last else self.gamma.view(1, -1, 1, 1))
        return x + self.drop_path(out)


class Head(nn.Module):
    """(norm at every position ->) global pool or class token (-> norm) -> classifier."""

    def __init__(self, spec: Spec, c: int, num_classes: int):
        super().__init__()
        if spec.final_norm:  # every position, before pooling (ViT, Mixer)
            self.final_norm = nn.LayerNorm(c, eps=LN_EPS) if spec.tokens else norm(spec, c)
        else:
            self.final_norm = nn.Identity()
        self.pool = TokenPool(spec.head_pool, spec.cls_token) if spec.tokens else \
            nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
        if spec.head_norm:
            self.norm = nn.LayerNorm(c, eps=LN_EPS) if spec.norm == "ln" else nn.BatchNorm1d(c)
        else:
            self.norm = nn.Identity()
        self.fc = nn.Linear(c, num_classes) if num_classes > 0 else nn.Identity()

    def forward(self, x):
        return self.fc(self.norm(self.pool(self.final_norm(x))))
