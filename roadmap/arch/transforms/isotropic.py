"""Steps between isotropic patch networks: DeiT -> feed-forward-only ViT -> MLP-Mixer -> isotropic
ConvNet (steps/isotropic.yaml); pure functions Spec -> Spec in the same registry as the ConvNeXt
steps, so either family's steps apply to the other's specs where they make sense.

A block of a patch network is residual sub-layers separated by `add` ops (see `roadmap.arch.spec.Op`): ViT's
is norm -> attention | norm -> channel MLP. These steps swap and merge those sub-layers.
"""
from __future__ import annotations

from dataclasses import replace

from roadmap.arch.spec import Op, Spec
from roadmap.arch.transforms.registry import NotApplicable, transform, with_ops


def _sublayers(spec: Spec, what: str) -> tuple[list[list[Op]], list[Op]]:
    if len(spec.depths) != 1:
        raise NotApplicable(f"{what} is for isotropic (single-stage) networks; this one has {len(spec.depths)} stages")
    return spec.block.segments()


def _join(segments: list[list[Op]], tail: list[Op] = ()) -> tuple[Op, ...]:
    """Sub-layers back to ops; a single residual branch is written without `add`."""
    if len(segments) == 1 and not tail:
        return tuple(segments[0])
    return tuple(op for seg in segments for op in (*seg, Op("add"))) + tuple(tail)


def _find(segments: list[list[Op]], kind: str) -> int | None:
    return next((k for k, seg in enumerate(segments) if any(op.kind == kind for op in seg)), None)


@transform
def feedforward_only(spec: Spec, ratio: float = 4) -> Spec:
    """"replace the attention layer ... with a feed-forward layer applied over the patch dimension" (Melas-Kyriazi).

    As in the published code, the token MLP (hidden = ratio x tokens, class token included) and
    its LayerNorm over the token axis become the block's second sub-layer, after the channel MLP.
    """
    segments, tail = _sublayers(spec, "feedforward_only")
    k = _find(segments, "attn")
    if k is None:
        raise NotApplicable("the block has no attention to replace")
    if [op.kind for op in segments[k]] != ["norm", "attn"]:
        raise NotApplicable("needs an attention sub-layer norm -> attention")
    rest = segments[:k] + segments[k + 1:]
    return with_ops(spec, _join(rest + [[Op("token_norm"), Op("token_mlp", ratio=ratio)]], tail))


@transform
def mixer_block(spec: Spec, hidden: int | None = None) -> Spec:
    """"token-mixing MLP" then "channel-mixing MLP", each after a LayerNorm over channels (MLP-Mixer).

    The token sub-layer goes first; `hidden` sets the token MLP's width (Mixer's D_S, C/2 at
    every published size), else it is kept.
    """
    segments, tail = _sublayers(spec, "mixer_block")
    k = _find(segments, "token_mlp")
    if k is None:
        raise NotApplicable("the block has no token MLP (feedforward_only makes one)")
    kinds = [op.kind for op in segments[k]]
    if kinds not in (["norm", "token_mlp"], ["token_norm", "token_mlp"]):
        raise NotApplicable("needs a token sub-layer norm -> token MLP")
    mlp = segments[k][1] if hidden is None else Op("token_mlp", hidden=hidden)
    if k == 0 and kinds[0] == "norm" and mlp == segments[k][1]:
        raise NotApplicable("the block is already a Mixer block")
    return with_ops(spec, _join([[Op("norm"), mlp]] + segments[:k] + segments[k + 1:], tail))


@transform
def global_pool(spec: Spec) -> Spec:
    """Class token -> global average pooling of the patch tokens (MLP-Mixer, ConvNeXt)."""
    if not spec.cls_token:
        raise NotApplicable("there is no class token; the head pools globally")
    return replace(spec, cls_token=False, head_pool="avg")


@transform
def no_pos_embed(spec: Spec) -> Spec:
    """No position embedding (MLP-Mixer): token MLPs and convolutions tell positions apart themselves."""
    if not spec.pos_embed:
        raise NotApplicable("there is no position embedding")
    return replace(spec, pos_embed=False)


@transform
def token_mixer(spec: Spec, kind: str, kernel: int = 7, heads: int | None = None, hidden: int | None = None,
                ratio: float | None = None) -> Spec:
    """Token mixing by `kind`: self-attention ("attn"), an MLP over the patches ("token_mlp") or a
    depthwise conv ("dwconv", `kernel`).

    The block's one token-mixing op (attention, token MLP or k > 1 conv) is replaced; defaults:
    64-channel heads, 4 x tokens for the token MLP. A LayerNorm over the token axis before a
    token MLP becomes one over channels when the MLP goes.
    """
    ops = list(spec.block.ops)
    mixing = [i for i, op in enumerate(ops) if op.mixes_tokens]
    if len(mixing) != 1:
        raise NotApplicable(f"needs exactly one token-mixing op (attention, token MLP or k > 1 conv), "
                            f"found {len(mixing)}")
    i = mixing[0]
    if kind == "dwconv":
        new = Op("dwconv", kernel, stride=ops[i].stride)
        if spec.cls_token:
            raise NotApplicable("a depthwise conv works on the patch grid, where the class token has no place; "
                                "apply global_pool first")
    elif kind in ("attn", "token_mlp"):
        if len(spec.depths) != 1:
            raise NotApplicable(f"{kind} token mixing is for isotropic (single-stage) networks; "
                                f"this one has {len(spec.depths)} stages")
        new = Op("attn", heads=heads or max(1, spec.widths[0] // 64)) if kind == "attn" else \
            Op("token_mlp", hidden=hidden or 0, ratio=ratio or (0.0 if hidden else 4.0))
    else:
        raise TypeError(f"kind must be 'attn', 'token_mlp' or 'dwconv', not {kind!r}")
    if new == ops[i]:
        raise NotApplicable(f"the block already mixes tokens by {kind}")
    ops[i] = new
    if i > 0 and ops[i - 1].kind == "token_norm" and kind != "token_mlp":
        ops[i - 1] = Op("norm")
    return with_ops(spec, ops)


@transform
def convnext_block(spec: Spec) -> Spec:
    """Isotropic ConvNeXt block: one residual branch, depthwise conv -> LN -> 1x1 -> GELU -> 1x1.

    The depthwise-conv sub-layer loses its norm and its residual addition and goes in front of
    the channel MLP's norm: two sub-layers become ConvNeXt's single branch.
    """
    segments, tail = _sublayers(spec, "convnext_block")
    if len(segments) == 1 and not tail:
        raise NotApplicable("the block is already one residual branch")
    if len(segments) != 2 or tail:
        raise NotApplicable("needs two residual sub-layers (token mixing, then channel MLP)")
    mixing = [op for op in segments[0] if op.kind != "norm"]
    if len(mixing) != 1 or mixing[0].kind != "dwconv" or segments[1][0].kind != "norm":
        raise NotApplicable("needs a sub-layer norm -> depthwise conv, then one that starts with its norm")
    return with_ops(spec, mixing + segments[1])


@transform
def norm_after_pool(spec: Spec) -> Spec:
    """ConvNeXt's head: global average pooling, then LayerNorm (not LayerNorm at every position first)."""
    if not spec.final_norm:
        raise NotApplicable("there is no norm before pooling")
    return replace(spec, final_norm=False, head_norm=True)


@transform
def convmixer_block(spec: Spec) -> Spec:
    """ConvMixer: residual(depthwise conv -> act -> BN), then 1x1 conv -> act -> BN (Trockman & Kolter 2022).

    The depthwise kernel is kept; the 1x1 conv stays outside the residual; norms become BN after
    each activation, in the stem too (patch conv -> act -> BN); the head pools without a norm;
    PyTorch's default initialisation, as the official code.
    """
    segments, tail = _sublayers(spec, "convmixer_block")
    dw = [op for op in spec.block.ops if op.kind == "dwconv" and op.kernel > 1]
    if spec.tokens or len(dw) != 1:
        raise NotApplicable("needs a network on the patch grid (no attention, token MLP, class token or position "
                            "embedding) with exactly one depthwise conv")
    ops = (Op("dwconv", dw[0].kernel), Op("act"), Op("norm"), Op("add"), Op("conv", 1, "out"), Op("act"), Op("norm"))
    if spec.block.ops == ops and spec.norm == "bn":
        raise NotApplicable("the block is already a ConvMixer block")
    return replace(spec, block=replace(spec.block, ops=ops), norm="bn", final_norm=False, head_norm=False,
                   stem=replace(spec.stem, norm=True, act=True, act_first=True), init="torch")
