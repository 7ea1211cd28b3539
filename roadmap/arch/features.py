"""A built network's feature taps, as timm's feature API has them: `feature_info`,
`forward_intermediates` and `prune_intermediate_layers` (what `features_only=True` wraps).

A hierarchical network (several stages: ResNet, ConvNeXt) is tapped at each stage's output; an
isotropic one (one stage: ViT, Mixer, ConvMixer, isotropic ConvNeXt) at each block's output, as
timm taps its ViTs. Taps come out as feature maps, NCHW unless asked otherwise; a token network's
class token is split off, as timm's ViT does by default.
"""
from __future__ import annotations

import torch
from timm.models import checkpoint
from timm.models._features import feature_take_indices  # public in timm.models._features only
from torch import nn

from roadmap.arch.spec import Spec

FORMATS = ("NCHW", "NHWC", "NLC")


def feature_info(spec: Spec) -> list[dict]:
    """Each tap's channels, total stride and module name."""
    reduction = spec.stem.stride * (2 if spec.stem.pool else 1)
    if len(spec.depths) == 1:
        return [dict(num_chs=spec.widths[0], reduction=reduction, module=f"stages.0.blocks.{i}")
                for i in range(spec.depths[0])]
    return [dict(num_chs=w, reduction=reduction * 2 ** i, module=f"stages.{i}") for i, w in enumerate(spec.widths)]


def output_fmt(spec: Spec) -> str:
    """The layout of forward_features' output: maps, a patch grid, or a sequence with a class token."""
    return ("NLC" if spec.cls_token else "NHWC") if spec.tokens else "NCHW"


class FeatureTaps:
    """Mixed into `Network`: needs its stem, embed, stages, head and grad_checkpointing."""

    def _taps(self) -> list[nn.Module]:
        return list(self.stages) if len(self.spec.depths) > 1 else list(self.stages[0].blocks)

    def forward_intermediates(self, x: torch.Tensor, indices: int | list[int] | None = None, norm: bool = False,
                              stop_early: bool = False, output_fmt: str = "NCHW", intermediates_only: bool = False):
        """The taps at `indices` (the last n if an int, all if None) and, unless `intermediates_only`,
        forward_features' output. `norm` applies the network's final per-position norm to the taps
        it fits (all of an isotropic network's, a hierarchical network's last)."""
        if output_fmt not in FORMATS:
            raise ValueError(f"output_fmt is one of {', '.join(FORMATS)}, not {output_fmt!r}")
        taps = self._taps()
        take, last = feature_take_indices(len(taps), indices)
        x = self.stem(x)
        grid = x.shape[-2:]
        if self.embed is not None:
            x = self.embed(x)
        out = []
        for i, tap in enumerate(taps[:last + 1] if stop_early else taps):
            x = checkpoint(tap, x) if self.grad_checkpointing and not torch.jit.is_scripting() else tap(x)
            if i in take:
                y = self.head.final_norm(x) if norm and self.feature_info[i]["num_chs"] == self.num_features else x
                out.append(self._as_map(y, grid, output_fmt))
        if intermediates_only:
            return out
        return (self.head.final_norm(x) if i == len(taps) - 1 else x), out

    def _as_map(self, y: torch.Tensor, grid, fmt: str) -> torch.Tensor:
        if self.spec.tokens:  # (B, [1 +] H*W, C) or (B, H, W, C) -> (B, H, W, C)
            y = (y[:, 1:] if self.spec.cls_token else y).reshape(y.shape[0], grid[0], grid[1], y.shape[-1])
            return y.flatten(1, 2) if fmt == "NLC" else y if fmt == "NHWC" else y.permute(0, 3, 1, 2).contiguous()
        if fmt == "NCHW":
            return y
        y = y.permute(0, 2, 3, 1)
        return y.flatten(1, 2) if fmt == "NLC" else y

    def prune_intermediate_layers(self, indices: int | list[int] = 1, prune_norm: bool = False,
                                  prune_head: bool = True) -> list[int]:
        """Drop the layers after the last tap in `indices`, and the head; returns the kept indices."""
        taps = self._taps()
        take, last = feature_take_indices(len(taps), indices)
        if len(self.spec.depths) > 1:
            self.stages = self.stages[:last + 1]
        else:
            self.stages[0].blocks = self.stages[0].blocks[:last + 1]
        cut = last < len(taps) - 1
        if prune_norm or cut:  # the final norm is sized for, and applied to, the last tap only
            self.head.final_norm = nn.Identity()
        if cut:
            self.num_features = self.head_hidden_size = self.feature_info[last]["num_chs"]
        if prune_head or cut:
            self.reset_classifier(0, "", reset_other=True)
        return take
