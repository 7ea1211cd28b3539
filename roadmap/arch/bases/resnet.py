"""ResNets (torchvision's v1.5 bottleneck networks): where both ConvNeXt roadmaps begin."""
from __future__ import annotations

from roadmap.arch.spec import BlockSpec, Op, Spec, StemSpec

# torchvision's Bottleneck (ResNet v1.5): 1x1 -> 3x3 (carries the stride) -> 1x1, BN after
# each conv, ReLU after the first two and after the residual addition.
BOTTLENECK = BlockSpec(
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
        stem=StemSpec(kernel=7, stride=2, width=64, norm=True, act=True, pool=True),
        depths=depths,
        widths=(256, 512, 1024, 2048),
        block=BOTTLENECK,
    )


RESNET_BASES = {
    "resnet50": lambda: resnet("resnet50", (3, 4, 6, 3)),
    "resnet101": lambda: resnet("resnet101", (3, 4, 23, 3)),
    "resnet152": lambda: resnet("resnet152", (3, 8, 36, 3)),
    "resnet200": lambda: resnet("resnet200", (3, 24, 36, 3)),
}
