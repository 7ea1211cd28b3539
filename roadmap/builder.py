"""Spec -> torch.nn.Module: the only place that turns specs into layers.

Parameters are registered in the order of the reference implementations (torchvision/timm
ResNet, timm/official ConvNeXt, timm's ViT/DeiT, MLP-Mixer and ConvMixer, the official
isotropic ConvNeXt), so their checkpoints load by position.

ConvNets run on feature maps (B, C, H, W). Networks with a class token, a position embedding,
attention or a token MLP (`Spec.tokens`) run on tokens, channels last: a (B, H, W, C) patch grid,
or a (B, 1 + H*W, C) sequence once a class token is prepended.
"""
from __future__ import annotations

import torch
from timm.layers import (Attention, DropPath, LayerNorm2d, Mlp, create_conv2d, get_act_layer, get_padding,
                         trunc_normal_)
from torch import nn
from torchvision.ops import Permute

from roadmap.errors import RoadmapError
from roadmap.spec import Op, Spec

LN_EPS = 1e-6  # official ConvNeXt's (and timm's ViT / Mixer) LayerNorm epsilon


def build(spec: Spec, num_classes: int = 1000, drop_path_rate: float = 0.0, in_chans: int = 3,
          img_size: int = 224) -> nn.Module:
    """Build `spec` for `num_classes`; stochastic depth rises linearly to `drop_path_rate`.

    `img_size` matters only to token networks whose position embedding or token MLPs are sized
    by the number of patches (ViT, Mixer): they take img_size x img_size inputs. ConvNets and
    attention-only token mixing take any input divisible by the total stride.
    """
    return Network(spec, num_classes, drop_path_rate, in_chans, img_size)


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
        self.branch = self._branch(spec, spec.block.ops, cin, cout, stride)
        needs_projection = stride > 1 or cin != cout
        self.shortcut = nn.Sequential(
            _conv(cin, cout, 1, stride, bias=spec.norm != "bn"), _norm(spec, cout)
        ) if needs_projection else nn.Identity()
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.act = _act(spec) if b.act_after_add else nn.Identity()

    @staticmethod
    def _branch(spec: Spec, ops: tuple[Op, ...], cin: int, cout: int, stride: int) -> nn.Sequential:
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


class OnGrid(nn.Module):
    """A conv on the (B, H, W, C) patch grid of a token network."""

    def __init__(self, conv: nn.Module):
        super().__init__()
        self.conv = conv

    def forward(self, x):
        return self.conv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


class AsSequence(nn.Module):
    """`fn` on the tokens as one (B, T, C) sequence: attention."""

    def __init__(self, fn: nn.Module):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x.flatten(1, -2)).reshape(x.shape)


class AlongTokens(nn.Module):
    """`fn` along the token axis, (B, C, T), shared by the channels: the token MLP and token norm."""

    def __init__(self, fn: nn.Module):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x.flatten(1, -2).transpose(1, 2)).transpose(1, 2).reshape(x.shape)


def _token_branch(spec: Spec, ops: list[Op], c: int, n_tokens: int) -> nn.Sequential:
    """The layers of a token network's residual segment; 1x1 convs are nn.Linear on the tokens."""
    mid = round(spec.block.mid_ratio * c)
    layers, cin = [], c
    for op in ops:
        if op.kind == "conv" and op.kernel == 1:
            out = mid if op.width == "mid" else c
            layers.append(nn.Linear(cin, out))
            cin = out
        elif op.kind == "conv":
            out = mid if op.width == "mid" else c
            layers.append(OnGrid(_conv(cin, out, op.kernel, groups=op.groups)))
            cin = out
        elif op.kind == "dwconv":
            layers.append(OnGrid(_conv(cin, cin, op.kernel, groups=cin)))
        elif op.kind == "norm":
            layers.append(nn.LayerNorm(cin, eps=LN_EPS))
        elif op.kind == "act":
            layers.append(_act(spec))
        elif op.kind == "attn":
            if cin % op.heads:
                raise RoadmapError(f"spec {spec.name!r}: {cin} channels do not split into {op.heads} attention heads")
            layers.append(AsSequence(Attention(cin, op.heads, qkv_bias=True)))
        elif op.kind == "token_norm":
            layers.append(AlongTokens(nn.LayerNorm(n_tokens, eps=LN_EPS)))
        elif op.kind == "token_mlp":
            hidden = op.hidden or int(n_tokens * op.ratio)  # int(): the feed-forward-only ViT's rounding
            layers.append(AlongTokens(Mlp(n_tokens, hidden, act_layer=get_act_layer(spec.act))))
    if cin != c:
        raise RoadmapError(f"spec {spec.name!r}: a residual segment ends with {cin} channels, not the stage's {c}")
    return nn.Sequential(*layers)


class Residual(nn.Module):
    """x + drop_path(gamma * f(x)): one residual segment of a `SegmentedBlock`."""

    def __init__(self, branch: nn.Sequential, c: int, layer_scale: float | None, drop_path: float,
                 channels_last: bool):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((c,), float(layer_scale))) if layer_scale is not None else None
        self.branch = branch
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.channels_last = channels_last

    def forward(self, x):
        out = self.branch(x)
        if self.gamma is not None:
            out = out * (self.gamma if self.channels_last else self.gamma.view(1, -1, 1, 1))
        return x + self.drop_path(out)


class SegmentedBlock(nn.Module):
    """An isotropic block: residual segments (ops up to each `add`, as a transformer's two sub-layers),
    then the ops after the last `add` without a residual (ConvMixer's pointwise conv)."""

    def __init__(self, spec: Spec, c: int, drop_path: float, n_tokens: int):
        super().__init__()
        segments, tail = spec.block.segments()
        if spec.tokens:
            branches = [_token_branch(spec, seg, c, n_tokens) for seg in segments + [tail]]
        else:
            branches = [Block._branch(spec, tuple(seg), c, c, 1) for seg in segments + [tail]]
        self.residuals = nn.Sequential(*[Residual(b, c, spec.block.layer_scale, drop_path, spec.tokens)
                                         for b in branches[:-1]])
        self.tail = branches[-1]

    def forward(self, x):
        return self.tail(self.residuals(x))


class Stage(nn.Module):
    def __init__(self, spec: Spec, cin: int, cout: int, depth: int, first: bool, drop_paths: list[float],
                 n_tokens: int = 0):
        super().__init__()
        separate = spec.downsample == "separate"
        if separate and not first:
            # ConvNeXt: norm, then a 2x2 stride-2 conv between stages
            self.downsample = nn.Sequential(_norm(spec, cin), _conv(cin, cout, 2, 2))
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


class TokenPool(nn.Module):
    """The class token ("token"), or the mean of the patch tokens ("avg")."""

    def __init__(self, mode: str, cls_token: bool):
        super().__init__()
        self.mode, self.cls_token = mode, cls_token

    def forward(self, x):
        if self.mode == "token":
            return x[:, 0]
        return (x[:, 1:] if self.cls_token else x.flatten(1, -2)).mean(1)


class Head(nn.Module):
    def __init__(self, spec: Spec, c: int, num_classes: int):
        super().__init__()
        if spec.final_norm:  # every position, before pooling (ViT, Mixer)
            self.final_norm = nn.LayerNorm(c, eps=LN_EPS) if spec.tokens else _norm(spec, c)
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


class Network(nn.Module):
    def __init__(self, spec: Spec, num_classes: int = 1000, drop_path_rate: float = 0.0, in_chans: int = 3,
                 img_size: int = 224):
        super().__init__()
        self.spec, self.num_classes = spec, num_classes
        st = spec.stem
        # a token network's class token and position embedding come first (timm's ViT order)
        self.img_size, self.grid = img_size, img_size // st.stride
        n_tokens = self.grid ** 2 + spec.cls_token
        self.cls_token = nn.Parameter(torch.zeros(1, 1, st.width)) if spec.cls_token else None
        self.pos_embed = nn.Parameter(torch.zeros(1, n_tokens, st.width)) if spec.pos_embed else None
        # the number of tokens is built into these, so the input size is too
        self.fixed_size = spec.pos_embed or any(op.kind in ("token_mlp", "token_norm") for op in spec.block.ops)
        norm_next = st.norm and not (st.act and st.act_first)  # a conv followed by BN needs no bias
        stem = [_conv(in_chans, st.width, st.kernel, st.stride, bias=not (norm_next and spec.norm == "bn"))]
        norms, acts = [_norm(spec, st.width)] if st.norm else [], [_act(spec)] if st.act else []
        stem += acts + norms if st.act_first else norms + acts
        if st.pool:
            stem.append(nn.MaxPool2d(3, 2, 1))
        self.stem = nn.Sequential(*stem)
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
            self.apply(self._init_weights)
        elif spec.init == "resnet":
            self._init_resnet()
        if self.pos_embed is not None:  # timm's ViT
            trunc_normal_(self.pos_embed, std=0.02)
        if self.cls_token is not None:
            nn.init.normal_(self.cls_token, std=1e-6)

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
        x = self.stem(x)
        if self.spec.tokens:
            x = self._tokens(x)
        return self.stages(x)

    def _tokens(self, x):
        """Stem output (B, C, H, W) -> the patch grid (B, H, W, C), or with a class token the
        sequence (B, 1 + H*W, C); plus the position embedding."""
        b, c, h, w = x.shape
        if self.fixed_size and (h, w) != (self.grid, self.grid):
            raise RoadmapError(f"spec {self.spec.name!r} was built for {self.img_size}x{self.img_size} inputs "
                               f"({self.grid}x{self.grid} patches) and got {h}x{w} patches; build it with "
                               "img_size= the input size")
        x = x.permute(0, 2, 3, 1)
        if self.cls_token is not None:
            x = torch.cat([self.cls_token.expand(b, -1, -1), x.reshape(b, h * w, c)], dim=1)
        if self.pos_embed is not None:
            x = x + self.pos_embed.view(x.shape[1:]).unsqueeze(0)
        return x

    def forward(self, x):
        return self.head(self.forward_features(x))
