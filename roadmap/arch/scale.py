"""Scale knobs applied at build time to any step's spec; the steps stay defined at full size.

- width_mult: every stage width and the stem times `width_mult`, rounded to a multiple of 8 (min 8);
  the block's mid ratio is kept, so an inverted bottleneck stays 4x.
- depth_mult: blocks per stage times `depth_mult`, rounded half up, at least 1, so stage ratios stay
  visible: (3,4,6,3) -> (1,1,2,1) and (3,3,9,3) -> (1,1,3,1) at 0.34.
- stem_stride: the stem's total stride for low-resolution inputs (32 or 64 px, where
  ImageNet's stride 4 would leave 8 px for stage 1). A ResNet stem (conv + max-pool) becomes
  a 3x3 conv of that stride without pool (CIFAR-ResNet practice); a patchify stem becomes
  stride x stride patches. The step "patchify stem" thus still swaps an overlapping conv
  for non-overlapping patches. Isotropic nets' larger patches shrink by the same factor
  (stem_stride / 4: patch 16 -> 8 at stem_stride 2), so patch-size steps stay distinct.
"""
from __future__ import annotations

import math
from dataclasses import replace

from roadmap.arch.spec import Spec
from roadmap.errors import RoadmapError


def _width(w: int, f: float) -> int:
    return max(8, int(round(w * f / 8)) * 8)


def _depth(d: int, f: float) -> int:
    return max(1, math.floor(d * f + 0.5))


def scale_spec(spec: Spec, width_mult: float = 1.0, depth_mult: float = 1.0, stem_stride: int | None = None) -> Spec:
    if width_mult <= 0 or depth_mult <= 0:
        raise RoadmapError("scale: width and depth multipliers must be positive")
    out = spec
    if width_mult != 1.0:
        out = replace(out, widths=tuple(_width(w, width_mult) for w in out.widths),
                      stem=replace(out.stem, width=_width(out.stem.width, width_mult)))
    if depth_mult != 1.0:
        out = replace(out, depths=tuple(_depth(d, depth_mult) for d in out.depths))
    if stem_stride is not None:
        out = low_res_stem(out, stem_stride)
    return out


def low_res_stem(spec: Spec, stride: int) -> Spec:
    if stride not in (1, 2, 4):
        raise RoadmapError(f"scale: stem_stride must be 1, 2 or 4, not {stride}")
    st = spec.stem
    if st.stride * (2 if st.pool else 1) == stride:
        return spec
    if st.pool:  # ResNet stem: overlapping conv, no pool
        stem = replace(st, kernel=3, stride=stride, pool=False)
    elif st.stride <= 4:  # a hierarchical net's patchify stem: smaller patches
        stem = replace(st, kernel=stride, stride=stride)
    else:  # an isotropic net's patch embedding shrinks by the same factor as ImageNet's stride 4
        patch = max(1, st.stride * stride // 4)
        stem = replace(st, kernel=patch, stride=patch)
    return replace(spec, stem=stem)
