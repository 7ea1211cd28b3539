"""The classifier head: (norm at every position ->) global pool or class token (-> norm) -> classifier.

timm's head contract: `global_pool` chooses the pooling ('' keeps the spatial map or the token
sequence), `forward(x, pre_logits=True)` stops before the classifier, and `reset` swaps the
classifier (and the pooling) for fine-tuning or feature extraction.
"""
from __future__ import annotations

import torch
from timm.layers import SelectAdaptivePool2d
from torch import nn

from roadmap.arch.layers import LN_EPS, norm
from roadmap.arch.spec import Spec
from roadmap.arch.tokens import TokenPool

MAP_POOLS = ("avg", "max", "avgmax", "")  # feature maps: timm's SelectAdaptivePool2d, '' for none
TOKEN_POOLS = ("token", "avg", "")        # token networks: the class token, the patch tokens' mean, none


class Head(nn.Module):
    def __init__(self, spec: Spec, c: int, num_classes: int, global_pool: str | None = None):
        super().__init__()
        self.name, self.width, self.tokens, self.cls_token = spec.name, c, spec.tokens, spec.cls_token
        # `final_norm` normalises every position before pooling (ViT, Mixer). It is registered here,
        # where the reference checkpoints keep it, and applied at the end of the network's
        # forward_features, as timm's unpooled features include it.
        if spec.final_norm:
            self.final_norm = nn.LayerNorm(c, eps=LN_EPS) if spec.tokens else norm(spec, c)
        else:
            self.final_norm = nn.Identity()
        self.pool_type = self._check_pool(spec.head_pool if global_pool is None else global_pool)
        self.pool = self._pool(self.pool_type)
        if spec.head_norm:
            self.norm = nn.LayerNorm(c, eps=LN_EPS) if spec.norm == "ln" else nn.BatchNorm1d(c)
        else:
            self.norm = nn.Identity()
        self.fc = nn.Linear(c, num_classes) if num_classes > 0 else nn.Identity()
        self._place_norm()

    def forward(self, x, pre_logits: bool = False):
        x = self._norm(self.pool(x))
        return x if pre_logits else self.fc(x)

    def reset(self, num_classes: int, global_pool: str | None = None, reset_norm: bool = False,
              like: torch.Tensor | None = None) -> None:
        """A new classifier (timm's default init) on `like`'s device and dtype, optionally new
        pooling; `reset_norm` drops the head's norm too (pruning for features: no head is left)."""
        if global_pool is not None:
            self.pool_type = self._check_pool(global_pool)
            self.pool = self._pool(self.pool_type)
        if reset_norm:
            self.norm = nn.Identity()
        self._place_norm()
        dd = {} if like is None else dict(device=like.device, dtype=like.dtype)
        self.fc = nn.Linear(self.width, num_classes, **dd) if num_classes > 0 else nn.Identity()
        self.fc.train(self.training)

    def _check_pool(self, pool: str) -> str:
        allowed = (TOKEN_POOLS if self.cls_token else TOKEN_POOLS[1:]) if self.tokens else MAP_POOLS
        if pool not in allowed:
            raise ValueError(f"{self.name} pools with one of {', '.join(repr(p) for p in allowed)}, "
                             f"not global_pool={pool!r}")
        return pool

    def _pool(self, pool: str) -> nn.Module:
        if self.tokens:
            return TokenPool(pool, self.cls_token)
        return SelectAdaptivePool2d(pool_type=pool, flatten=bool(pool))

    def _place_norm(self) -> None:
        # Unpooled feature maps (global_pool=''): the head's norm applies at every position, as in
        # timm's ConvNeXt head. Static flags, so that TorchScript compiles and torch.fx traces this.
        self.norm_per_position = self.pool_type == "" and not self.tokens and not isinstance(self.norm, nn.Identity)
        self.norm_is_bn = isinstance(self.norm, nn.BatchNorm1d)

    def _norm(self, x):
        if not self.norm_per_position:
            return self.norm(x)
        if self.norm_is_bn:
            return self.norm(x.flatten(2)).view_as(x)
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
