"""Parameters and GFLOPs counted on a built model (the paper's convention): the live count behind
roadmap.arch.complexity, which keeps the shipped steps' counts so that listing them needs no torch.

GFLOPs are multiply-adds of conv and linear layers and of attention's two matmuls (q k^T and
attn v) at the given input size, classifier included, counted by torch's FlopCounterMode on the
meta device, without autograd: no weights are allocated and nothing is computed, and norms and
activations (which count nothing) are left out of the pass, so even ConvNeXt-B counts in a
fraction of a second. Token networks are built for that input size (their position embedding and
token MLPs are sized by the number of patches).
"""
from __future__ import annotations

from functools import lru_cache

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from roadmap.arch.network import build
from roadmap.arch.spec import Spec


@lru_cache(maxsize=512)  # specs are frozen and hash without their name: one count per architecture
def _count(spec: Spec, num_classes: int, res: int) -> tuple[int, float]:
    with torch.device("meta"):
        model = build(spec, num_classes=num_classes, img_size=res).eval()  # eval: BN takes a batch of 1
        x = torch.empty(1, 3, res, res)
    params = sum(p.numel() for p in model.parameters())
    _drop_uncounted(model)
    # no autograd: FlopCounterMode's module tracker then hooks no tensors (1.5x faster, the same counts)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    # FlopCounterMode counts a multiply-add as 2 FLOPs; the paper counts it as one
    return params, counter.get_total_flops() / 2 / 1e9


# Norms and activations keep the shape and count nothing under the paper's convention (nor does
# FlopCounterMode count them), yet on the meta device their decompositions cost most of the pass.
UNCOUNTED = (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm, nn.ReLU, nn.GELU)


def _drop_uncounted(model: nn.Module) -> None:
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if isinstance(child, UNCOUNTED):  # timm's LayerNorm2d is an nn.LayerNorm too
                setattr(parent, name, nn.Identity())


def count(spec: Spec, num_classes: int = 1000, res: int = 224) -> tuple[int, float]:
    """(params, GFLOPs) of `spec` built for `num_classes` at `res` x `res`, counted now."""
    return _count(spec, num_classes, res)
