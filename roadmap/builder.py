"""Spec -> torch.nn.Module: the only place that turns specs into layers.

Parameters are registered in the order of the reference implementations (torchvision/timm
ResNet, timm/official ConvNeXt), so their checkpoints load by position.
"""
from __future__ import annotations

import torch
from timm.layers import DropPath, LayerNorm2d, create_conv2d, get_act_layer, get_padding, trunc_normal_
from torch import nn
from torchvision.ops import Permute

from roadmap.errors import RoadmapError
from roadmap.spec import Spec

LN_EPS = 1e-6  # official ConvNeXt's LayerNorm epsilon


def build(spec: Spec, num_classes: int = 1000, drop_path_rate: float = 0.0, in_chans: int = 3) -> nn.Module:
    """Build `spec` for `num_classes`; stochastic depth rises linearly to `drop_path_rate`."""
    return Network(spec, num_classes, drop_path_rate, in_chans)


def _conv(cin, cout, kernel, stride=1, groups=1, bias=True):
    # patchify / downsampling convs (kernel == stride) take no padding; others keep "same" size
    padding = 0 if kernel == stride else get_padding(kernel, stride)
    return create_conv2d(cin, cout, kernel, stride=stride, padding=padding, groups=groups, bias=bias)


def _norm(spec: Spec, c: int, channels_last: bool = False) -> nn.Module:
    if spec.norm == "bn":
        return nn.BatchNorm2d(c)
    return nn.LayerNorm(c, eps=LN_EPS) if channels_last else LayerNorm2d(c, eps=LN_EPS)


def _act(spec: Spec) -> nn.Module:
    return get_act_layer(spec.act)()


class Block(nn.Module):
    def __init__(self, spec: Spec, cin: int, cout: int, stride: int, drop_path: float):
        super().__init__()
        b = spec.block
        # ConvNeXt keeps gamma as the block's own first parameter; we do too (checkpoint order)
        self.gamma = nn.Parameter(torch.full((cout,), float(b.layer_scale))) if b.layer_scale is not None else None
        self.branch = self._branch(spec, cin, cout, stride)
        needs_projection = stride > 1 or cin != cout
        self.shortcut = nn.Sequential(
            _conv(cin, cout, 1, stride, bias=spec.norm != "bn"), _norm(spec, cout)
        ) if needs_projection else nn.Identity()
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.act = _act(spec) if b.act_after_add else nn.Identity()

    @staticmethod
    def _branch(spec: Spec, cin: int, cout: int, stride: int) -> nn.Sequential:
        ops = spec.block.ops
        mid = round(spec.block.mid_ratio * cout)
        # With LayerNorm, the pointwise tail after the last spatial conv runs channels-last with
        # nn.Linear, as the official ConvNeXt block does: same maths, the checkpoint's shapes.
        spatial = [i for i, op in enumerate(ops) if op.spatial]
        tail = (spatial[-1] + 1 if spatial else 0) if spec.norm == "ln" else len(ops)
        if tail < len(ops) and not any(op.kind == "conv" for op in ops[tail:]):
            tail = len(ops)
        layers, c = [], cin
        for i, op in enumerate(ops):
            if i == tail:
                layers.append(Permute([0, 2, 3, 1]))
            cl = i >= tail
            followed_by_bn = i + 1 < len(ops) and ops[i + 1].kind == "norm" and spec.norm == "bn"
            s = stride if op.stride else 1
            if op.kind == "conv":
                out = mid if op.width == "mid" else cout
                layers.append(nn.Linear(c, out, bias=not followed_by_bn) if cl
                              else _conv(c, out, op.kernel, s, groups=op.groups, bias=not followed_by_bn))
                c = out
            elif op.kind == "dwconv":
                layers.append(_conv(c, c, op.kernel, s, groups=c, bias=not followed_by_bn))
            elif op.kind == "norm":
                layers.append(_norm(spec, c, channels_last=cl))
            elif op.kind == "act":
                layers.append(_act(spec))
        if tail < len(ops):
            layers.append(Permute([0, 3, 1, 2]))
        if c != cout:
            raise RoadmapError(f"spec {spec.name!r}: the block's branch ends with {c} channels, not the stage's {cout}")
        if stride > 1 and not any(op.stride for op in ops):
            raise RoadmapError(f"spec {spec.name!r}: in-block downsampling needs an op marked stride")
        return nn.Sequential(*layers)

    def forward(self, x):
        out = self.branch(x)
        if self.gamma is not None:
            out = out * self.gamma.view(1, -1, 1, 1)
        return self.act(self.drop_path(out) + self.shortcut(x))


class Stage(nn.Module):
    def __init__(self, spec: Spec, cin: int, cout: int, depth: int, first: bool, drop_paths: list[float]):
        super().__init__()
        separate = spec.downsample == "separate"
        if separate and not first:
            # ConvNeXt: norm, then a 2x2 stride-2 conv between stages
            self.downsample = nn.Sequential(_norm(spec, cin), _conv(cin, cout, 2, 2))
            cin = cout
        else:
            self.downsample = nn.Identity()
        stride = 1 if (first or separate) else 2
        self.blocks = nn.Sequential(*[
            Block(spec, cin if i == 0 else cout, cout, stride if i == 0 else 1, drop_paths[i])
            for i in range(depth)
        ])

    def forward(self, x):
        return self.blocks(self.downsample(x))


class Head(nn.Module):
    def __init__(self, spec: Spec, c: int, num_classes: int):
        super().__init__()
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
        if spec.head_norm:
            self.norm = nn.LayerNorm(c, eps=LN_EPS) if spec.norm == "ln" else nn.BatchNorm1d(c)
        else:
            self.norm = nn.Identity()
        self.fc = nn.Linear(c, num_classes) if num_classes > 0 else nn.Identity()

    def forward(self, x):
        return self.fc(self.norm(self.pool(x)))


class Network(nn.Module):
    def __init__(self, spec: Spec, num_classes: int = 1000, drop_path_rate: float = 0.0, in_chans: int = 3):
        super().__init__()
        self.spec, self.num_classes = spec, num_classes
        st = spec.stem
        stem = [_conv(in_chans, st.width, st.kernel, st.stride, bias=not (st.norm and spec.norm == "bn"))]
        if st.norm:
            stem.append(_norm(spec, st.width))
        if st.act:
            stem.append(_act(spec))
        if st.pool:
            stem.append(nn.MaxPool2d(3, 2, 1))
        self.stem = nn.Sequential(*stem)
        n = sum(spec.depths)
        rates = [drop_path_rate * i / max(n - 1, 1) for i in range(n)]  # timm: linspace(0, rate, n)
        stages, cin, k = [], st.width, 0
        for i, (depth, width) in enumerate(zip(spec.depths, spec.widths)):
            stages.append(Stage(spec, cin, width, depth, i == 0, rates[k:k + depth]))
            cin, k = width, k + depth
        self.stages = nn.Sequential(*stages)
        self.head = Head(spec, cin, num_classes)
        self.num_features = cin
        self.apply(self._init_weights) if spec.init == "trunc_normal" else self._init_resnet()

    def _init_weights(self, m):
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)

    def _init_resnet(self):
        for name, m in self.named_modules():
            if isinstance(m, nn.Conv2d) or (isinstance(m, nn.Linear) and not name.startswith("head")):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        for m in self.modules():
            # timm's zero_init_last: each residual branch starts as the identity
            if isinstance(m, Block) and isinstance(m.branch[-1], nn.BatchNorm2d):
                nn.init.zeros_(m.branch[-1].weight)

    def forward_features(self, x):
        return self.stages(self.stem(x))

    def forward(self, x):
        return self.head(self.forward_features(x))
