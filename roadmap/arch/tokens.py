"""The token path of the builder: networks that run on a patch grid or a token sequence.

ViT, DeiT and MLP-Mixer (any spec with a class token, a position embedding, attention or a token
MLP: `Spec.tokens`) run channels last: a (B, H, W, C) patch grid, or a (B, 1 + H*W, C) sequence
once a class token is prepended. These adapters let one layer factory serve both layouts.
"""
from __future__ import annotations

import torch
from timm.layers import register_notrace_module, trunc_normal_
from torch import nn

from roadmap.errors import RoadmapError


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


@register_notrace_module  # a leaf for torch.fx (timm's tracers): it checks and splits the input's shape
class TokenEmbed(nn.Module):
    """Stem output (B, C, H, W) -> the patch grid (B, H, W, C), or with a class token the sequence
    (B, 1 + H*W, C); plus the learned position embedding."""

    def __init__(self, width: int, img_size: int, patch: int, cls_token: bool, pos_embed: bool, fixed_size: bool,
                 name: str):
        super().__init__()
        grid = img_size // patch
        n_tokens = grid ** 2 + cls_token
        self.cls_token = nn.Parameter(torch.zeros(1, 1, width)) if cls_token else None
        self.pos_embed = nn.Parameter(torch.zeros(1, n_tokens, width)) if pos_embed else None
        self.img_size, self.grid, self.fixed_size, self.name = img_size, grid, fixed_size, name

    def init_weights(self) -> None:
        """timm's ViT: position embedding trunc-normal 0.02, class token normal 1e-6."""
        if self.pos_embed is not None:
            trunc_normal_(self.pos_embed, std=0.02)
        if self.cls_token is not None:
            nn.init.normal_(self.cls_token, std=1e-6)

    def forward(self, x):
        b, c, h, w = x.shape
        if self.fixed_size and (h, w) != (self.grid, self.grid):
            raise RoadmapError(f"spec '{self.name}' was built for {self.img_size}x{self.img_size} inputs "
                               f"({self.grid}x{self.grid} patches) and got {h}x{w} patches; build it with "
                               "img_size= the input size")
        x = x.permute(0, 2, 3, 1)
        if self.cls_token is not None:
            x = torch.cat([self.cls_token.expand(b, -1, -1), x.reshape(b, h * w, c)], dim=1)
        if self.pos_embed is not None:
            x = x + self.pos_embed.view(x.shape[1:]).unsqueeze(0)
        return x


class TokenPool(nn.Module):
    """The class token ("token"), the mean of the patch tokens ("avg"), or every token ("")."""

    def __init__(self, mode: str, cls_token: bool):
        super().__init__()
        self.mode, self.cls_token = mode, cls_token

    def forward(self, x):
        if self.mode == "token":
            return x[:, 0]
        if self.mode == "":
            return x
        return (x[:, 1:] if self.cls_token else x.flatten(1, -2)).mean(1)
