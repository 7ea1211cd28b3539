"""Named starting points: the seed architectures every roadmap begins from.

ResNets here; the isotropic patch networks (ViT/DeiT, feed-forward-only ViT, MLP-Mixer,
ConvMixer, isotropic ConvNeXt) in `roadmap.bases_isotropic`.
"""
from __future__ import annotations

from roadmap.bases_isotropic import ISOTROPIC_BASES
from roadmap.errors import RoadmapError
from roadmap.spec import Block, Op, Spec, Stem

# torchvision's Bottleneck (ResNet v1.5): 1x1 -> 3x3 (carries the stride) -> 1x1, BN after
# each conv, ReLU after the first two and after the residual addition.
BOTTLENECK = Block(
    ops=(
        Op("conv", 1, "mid"), Op("norm"), Op("act"),
        Op("conv", 3, "mid", stride=True), Op("norm"), Op("act"),
        Op("conv", 1, "out"), Op("norm"),
    ),
    mid_ratio=0.25,
    act_after_add=True,
)


def resnet(name: str, depths: tuple[int, ...]) -> Spec:
    return Spec(
        name=name,
        stem=Stem(kernel=7, stride=2, width=64, norm=True, act=True, pool=True),
        depths=depths,
        widths=(256, 512, 1024, 2048),
        block=BOTTLENECK,
    )


BASES = {
    "resnet50": lambda: resnet("resnet50", (3, 4, 6, 3)),
    "resnet101": lambda: resnet("resnet101", (3, 4, 23, 3)),
    "resnet152": lambda: resnet("resnet152", (3, 8, 36, 3)),
    "resnet200": lambda: resnet("resnet200", (3, 24, 36, 3)),
    **ISOTROPIC_BASES,
}


def base(name: str) -> Spec:
    try:
        return BASES[name]()
    except KeyError:
        raise RoadmapError(f"unknown base spec {name!r}; known: {', '.join(BASES)}") from None
