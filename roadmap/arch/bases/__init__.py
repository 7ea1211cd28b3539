"""Named starting points: the seed architectures every roadmap begins from.

ResNets in `resnet`; the isotropic patch networks (ViT/DeiT, feed-forward-only ViT, MLP-Mixer,
ConvMixer, isotropic ConvNeXt) in `isotropic`. A roadmap file names one as its `base`.
"""
from __future__ import annotations

from roadmap.arch.bases.isotropic import ISOTROPIC_BASES
from roadmap.arch.bases.resnet import RESNET_BASES
from roadmap.arch.spec import Spec
from roadmap.errors import RoadmapError

BASES = {**RESNET_BASES, **ISOTROPIC_BASES}


def base(name: str) -> Spec:
    try:
        return BASES[name]()
    except KeyError:
        raise RoadmapError(f"unknown base spec {name!r}; known: {', '.join(BASES)}") from None
