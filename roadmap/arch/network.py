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
from timm.models import checkpoint_seq
from torch import nn

from roadmap.arch.features import FeatureTaps, feature_info, output_fmt
from roadmap.arch.head import Head
from roadmap.arch.layers import act, branch, conv, norm
from roadmap.arch.spec import Spec
from roadmap.arch.tokens import TokenEmbed


def build(spec: Spec, num_classes: int = 1000, drop_path_rate: float = 0.0, in_chans: int = 3,
          img_size: int = 224, global_pool: str | None = None) -> nn.Module:
    """Build `spec` for `num_classes`; stochastic depth rises linearly to `drop_path_rate`.

    `img_size` matters only to token networks whose position embedding or token MLPs are sized
    by the number of patches (ViT, Mixer): they take img_size x img_size inputs. ConvNets and
    attention-only token mixing take any input divisible by the total stride. `global_pool`
    overrides the spec's pooling as timm's models take it ('' keeps the spatial map).
    """
    return Network(spec, num_classes, drop_path_rate, in_chans, img_size, global_pool)


class Network(FeatureTaps, nn.Module):
    """A spec's network, with timm's model API: forward_features / forward_head, the classifier's
    getter and reset, feature taps (roadmap.arch.features) and the training hooks."""

    def __init__(self, spec: Spec, num_classes: int = 1000, drop_path_rate: float = 0.0, in_chans: int = 3,
                 img_size: int = 224, global_pool: str | None = None):
        super().__init__()
        self.spec, self.num_classes, self.in_chans = spec, num_classes, in_chans
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
        self.head = Head(spec, cin, num_classes, global_pool)
        self.num_features = self.head_hidden_size = cin
        self.feature_info = feature_info(spec)
        self.output_fmt = output_fmt(spec)
        self.grad_checkpointing = False
        if next(self.parameters()).is_meta:  # no values to set (counting, timm's device="meta"); on meta the
            return                       # init ops run as Python decompositions, a third of a count's time
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
        return self.head.final_norm(self.stages(x))

    def forward_head(self, x, pre_logits: bool = False):
        return self.head(x, pre_logits)

    def forward(self, x):
        return self.forward_head(self.forward_features(x))

    # --- timm's classifier API and training hooks ------------------------------------------
    @torch.jit.ignore
    def get_classifier(self) -> nn.Module:
        return self.head.fc

    def reset_classifier(self, num_classes: int, global_pool: str | None = None, reset_other: bool = False) -> None:
        """A fresh `num_classes` classifier (0: none), and `global_pool` if given; `reset_other`
        drops the head's norm too."""
        self.num_classes = num_classes
        self.head.reset(num_classes, global_pool, reset_norm=reset_other, like=next(self.parameters(), None))

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.grad_checkpointing = enable
        for stage in self.stages:
            stage.grad_checkpointing = enable

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict:
        """Parameter groups, stem first and the final norm last, for timm's layer-wise lr decay."""
        if len(self.spec.depths) == 1:
            blocks = [(r"^stages\.0\.blocks\.(\d+)", None), (r"^head\.final_norm", (99999,))]
        elif coarse:
            blocks = r"^stages\.(\d+)"
        else:
            blocks = [(r"^stages\.(\d+)\.downsample", (0,)), (r"^stages\.(\d+)\.blocks\.(\d+)", None),
                      (r"^head\.final_norm", (99999,))]
        return dict(stem=r"^embed|^stem", blocks=blocks)

    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        """The class token and position embedding, as timm's ViT (1-d weights timm leaves out itself)."""
        return {f"embed.{n}" for n, _ in self.embed.named_parameters()} if self.embed is not None else set()


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

        self.grad_checkpointing = False

    def forward(self, x):
        x = self.downsample(x)
        if self.grad_checkpointing and not torch.jit.is_scripting():
            return checkpoint_seq(self.blocks, x)
        return self.blocks(x)


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
