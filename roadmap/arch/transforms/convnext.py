"""The modernization steps (ResNet -> ConvNeXt): pure functions Spec -> Spec, named for the roadmap files.

Each returns a new spec (specs are frozen) and raises `NotApplicable` with the reason when the
spec has nothing it could change. The paper's words for each step are in its docstring's
first line (Liu et al. 2022, Sec. 2).
"""
from __future__ import annotations

from dataclasses import replace

from roadmap.arch.spec import Op, Spec
from roadmap.arch.transforms.registry import NotApplicable, transform, with_ops


def _spatial_index(spec: Spec) -> int:
    idx = [i for i, op in enumerate(spec.block.ops) if op.spatial]
    if len(idx) != 1:
        raise NotApplicable(f"needs exactly one spatial (k>1) conv in the block, found {len(idx)}")
    return idx[0]


def _groups(ops) -> list[list[Op]]:
    """Split a branch into conv groups: each conv with the norm/act ops that follow it."""
    groups: list[list[Op]] = []
    for op in ops:
        if op.kind in ("conv", "dwconv") or not groups:
            groups.append([op])
        else:
            groups[-1].append(op)
    return groups


# --- Macro design ------------------------------------------------------------------------------
@transform
def stage_ratio(spec: Spec, depths: list[int]) -> Spec:
    """"changing stage compute ratio": blocks per stage, e.g. (3,4,6,3) -> (3,3,9,3) as in Swin-T."""
    if len(depths) != len(spec.depths):
        raise NotApplicable(f"gives {len(depths)} stage depths for a {len(spec.depths)}-stage network")
    return replace(spec, depths=tuple(depths))


@transform
def patchify_stem(spec: Spec, patch: int = 4) -> Spec:
    """"changing stem to Patchify": a patch x patch, stride-patch conv replaces conv + max-pool.

    The paper leaves the stem's norm/activation open until the last step; we keep the ResNet
    stem's norm and activation (only the conv and pool change), so GFLOPs are the paper's. On a
    patch network (ViT, Mixer, ConvMixer) this changes the patch size.
    """
    if spec.stem.kernel == patch and spec.stem.stride == patch and not spec.stem.pool:
        raise NotApplicable(f"the stem is already a {patch}x{patch} patchify conv")
    return replace(spec, stem=replace(spec.stem, kernel=patch, stride=patch, pool=False))


# --- ResNeXt-ify -------------------------------------------------------------------------------
@transform
def depthwise(spec: Spec) -> Spec:
    """"depthwise convolution": the spatial conv becomes depthwise (groups = channels)."""
    i = _spatial_index(spec)
    ops = list(spec.block.ops)
    if ops[i].kind == "dwconv":
        raise NotApplicable("the spatial conv is already depthwise")
    ops[i] = Op("dwconv", ops[i].kernel, stride=ops[i].stride)
    return with_ops(spec, ops)


@transform
def width(spec: Spec, base: int) -> Spec:
    """"increase the network width": base width (stage-1 bottleneck or block width) -> `base`.

    Every stage width and the stem scale by the same factor (ResNet-50: 64 -> 96 gives
    bottleneck widths 96..768 and stem 96, the paper's 5.27 GFLOPs).
    """
    current = round(spec.widths[0] * min(spec.block.mid_ratio, 1.0))
    if current == base:
        raise NotApplicable(f"the base width is already {base}")
    f = base / current
    return replace(spec, widths=tuple(round(w * f) for w in spec.widths),
                   stem=replace(spec.stem, width=round(spec.stem.width * f)))


# --- Inverted bottleneck -----------------------------------------------------------------------
@transform
def invert_bottleneck(spec: Spec, ratio: float = 4) -> Spec:
    """"inverted bottleneck": 1x1 C->4C, spatial conv on 4C, 1x1 4C->C; C = the old mid width.

    The layers keep their order; only the widths invert: stage widths become the old
    bottleneck widths and the middle becomes `ratio` times wider.
    """
    if spec.block.mid_ratio >= 1:
        raise NotApplicable("the block is already an inverted bottleneck (mid width >= block width)")
    widths = tuple(round(w * spec.block.mid_ratio) for w in spec.widths)
    return replace(spec, widths=widths, block=replace(spec.block, mid_ratio=ratio))


# --- Large kernel ------------------------------------------------------------------------------
@transform
def move_up_spatial(spec: Spec) -> Spec:
    """"moving up depthwise conv layer": the spatial conv (with its norm/act) goes first."""
    i = _spatial_index(spec)
    groups = _groups(spec.block.ops)
    g = next(k for k, grp in enumerate(groups) if grp[0] is spec.block.ops[i])
    if g == 0:
        raise NotApplicable("the spatial conv is already the block's first layer")
    groups.insert(0, groups.pop(g))
    return with_ops(spec, [op for grp in groups for op in grp])


@transform
def kernel(spec: Spec, size: int) -> Spec:
    """"increasing the kernel size": the spatial conv's kernel -> size x size."""
    i = _spatial_index(spec)
    ops = list(spec.block.ops)
    if ops[i].kernel == size:
        raise NotApplicable(f"the spatial conv already has kernel {size}")
    ops[i] = replace(ops[i], kernel=size)
    return with_ops(spec, ops)


# --- Micro design ------------------------------------------------------------------------------
@transform
def activation(spec: Spec, act: str = "gelu") -> Spec:
    """"Replacing ReLU with GELU": every activation in the network."""
    if spec.act == act:
        raise NotApplicable(f"the activation is already {act}")
    return replace(spec, act=act)


@transform
def fewer_activations(spec: Spec) -> Spec:
    """"Fewer activation functions": only the one between the two 1x1 layers remains.

    The post-addition activation goes too (the paper's Fig. 4 block has none); the stem's
    stays until separate downsampling (the paper says "residual block").
    """
    ops = spec.block.ops
    pw = [i for i, op in enumerate(ops) if op.pointwise]
    if len(pw) < 2:
        raise NotApplicable("needs two 1x1 convs in the block")
    keep = next((i for i in range(pw[-2] + 1, pw[-1]) if ops[i].kind == "act"), None)
    if keep is None:
        raise NotApplicable("there is no activation between the last two 1x1 convs")
    if sum(op.kind == "act" for op in ops) == 1 and not spec.block.act_after_add:
        raise NotApplicable("the block already has a single activation")
    ops = [op for i, op in enumerate(ops) if op.kind != "act" or i == keep]
    return replace(spec, block=replace(spec.block, ops=tuple(ops), act_after_add=False))


@transform
def fewer_norms(spec: Spec) -> Spec:
    """"Fewer normalization layers": one norm remains, after the spatial conv (before the 1x1s)."""
    i = _spatial_index(spec)
    ops = spec.block.ops
    norms = [k for k, op in enumerate(ops) if op.kind == "norm"]
    if i + 1 >= len(ops) or ops[i + 1].kind != "norm":
        raise NotApplicable("needs a norm right after the spatial conv")
    if len(norms) == 1:
        raise NotApplicable("the block already has a single norm")
    return with_ops(spec, [op for k, op in enumerate(ops) if op.kind != "norm" or k == i + 1])


@transform
def norm(spec: Spec, kind: str = "ln") -> Spec:
    """"Substituting BN with LN": every norm in the network (block, stem, shortcut)."""
    if spec.norm == kind:
        raise NotApplicable(f"the norm is already {kind}")
    return replace(spec, norm=kind)


@transform
def separate_downsampling(spec: Spec, init: str = "trunc_normal") -> Spec:
    """"Separate downsampling layers": LN + 2x2 stride-2 conv between stages.

    Blocks lose their stride and projection shortcut; a norm follows the stem (which drops its
    activation, as in the official ConvNeXt stem) and the global pool, as the paper adds
    "normalization layers wherever spatial resolution is changed"; weights are initialised
    as in the official code (trunc-normal, std 0.02), unless `init` keeps the ResNet's (to take
    the final step's changes one at a time: steps/convnext-t-step7-split.yaml).
    """
    if spec.downsample == "separate":
        raise NotApplicable("downsampling is already separate")
    if len(spec.depths) == 1:
        raise NotApplicable("a single-stage (isotropic) network has no stages to downsample between")
    ops = tuple(replace(op, stride=False) for op in spec.block.ops)
    return replace(spec, downsample="separate", block=replace(spec.block, ops=ops),
                   stem=replace(spec.stem, norm=True, act=False, width=spec.widths[0]),
                   head_norm=True, init=init)


@transform
def init(spec: Spec, kind: str = "trunc_normal") -> Spec:
    """The weight initialisation: "trunc_normal" (official ConvNeXt, std 0.02), "resnet" (timm's
    ResNet: kaiming-normal, each branch's last BN zeroed) or "torch" (PyTorch's defaults)."""
    if spec.init == kind:
        raise NotApplicable(f"the init is already {kind}")
    return replace(spec, init=kind)


@transform
def layer_scale(spec: Spec, init: float = 1e-6) -> Spec:
    """Layer scale (Touvron et al., CaiT): a learned per-channel scale on each residual branch.

    Table 5 lists it for ConvNeXt; the official code has it only in the final block, so the
    roadmap adds it with the last step.
    """
    if spec.block.layer_scale == init:
        raise NotApplicable(f"layer scale is already {init}")
    return replace(spec, block=replace(spec.block, layer_scale=init))

