"""The ConvNeXt paper's other seed architectures: isotropic patch networks.

Each is a patchify stem, then N identical blocks at one resolution and one width, then a head;
they differ in how a block mixes tokens (attention, an MLP over the patches, a depthwise conv)
and in the sub-layers around it. Configurations are the published ones; beside each, its
parameters, GFLOPs at 224x224 (multiply-adds, classifier included) and ImageNet-1k top-1 as
published (see the reference table of the other seed architectures), and the timm model with
exactly our parameter count, layer order and shapes where timm has one.

GFLOPs follow the roadmap's convention (multiply-adds of convs, linear layers and attention's two
matmuls; Table 10's), compared at the printed precision after rounding to two decimals first, as
Figure 2 prints Table 10: Mixer-L/16's 44.548 G is 44.55, printed 44.6 (44.5 if rounded once).
ConvMixer's are published only as ranges; 1536/20 counts 51.10 G, "~51" at the bound's precision.
"""
from __future__ import annotations

from roadmap.arch.spec import BlockSpec, Op, Spec, StemSpec

NORM, ACT, ADD = Op("norm"), Op("act"), Op("add")
# A transformer's channel MLP is ConvNeXt's inverted bottleneck: 1x1 C -> 4C, GELU, 1x1 4C -> C.
CHANNEL_MLP = (Op("conv", 1, "mid"), ACT, Op("conv", 1, "out"))


def isotropic(name: str, patch: int, width: int, depth: int, ops: tuple[Op, ...], **spec) -> Spec:
    """patch x patch patchify stem (a plain conv), `depth` blocks of `width` channels, LayerNorm, GELU."""
    return Spec(name=name, stem=StemSpec(kernel=patch, stride=patch, width=width, norm=False, act=False, pool=False),
                depths=(depth,), widths=(width,), block=BlockSpec(ops, mid_ratio=4, act_after_add=False),
                norm="ln", act="gelu", init="trunc_normal", **spec)


def vit(name: str, width: int, heads: int, depth: int = 12, patch: int = 16) -> Spec:
    """ViT / DeiT: x += Attn(LN(x)); x += MLP(LN(x)); class token and learned position embedding;
    head LN -> class token -> linear (timm's VisionTransformer)."""
    return isotropic(name, patch, width, depth, (NORM, Op("attn", heads=heads), ADD, NORM, *CHANNEL_MLP, ADD),
                     cls_token=True, pos_embed=True, head_pool="token", final_norm=True)


def ffvit(name: str, width: int, depth: int = 12, patch: int = 16) -> Spec:
    """Feed-forward-only ViT (Melas-Kyriazi 2021): x += MLP(LN(x)); then along the token axis, class
    token included, x += TokenMLP(LN(x)) with hidden 4 x tokens (788 at 197 tokens); the rest is
    ViT's. Layer order as in the published code."""
    return isotropic(name, patch, width, depth,
                     (NORM, *CHANNEL_MLP, ADD, Op("token_norm"), Op("token_mlp", ratio=4.0), ADD),
                     cls_token=True, pos_embed=True, head_pool="token", final_norm=True)


def mixer(name: str, width: int, depth: int, token_hidden: int, patch: int = 16) -> Spec:
    """MLP-Mixer: x += TokenMLP(LN(x)^T)^T; x += ChannelMLP(LN(x)); no class token, no position
    embedding; head LN -> global average -> linear (timm's MlpMixer)."""
    return isotropic(name, patch, width, depth,
                     (NORM, Op("token_mlp", hidden=token_hidden), ADD, NORM, *CHANNEL_MLP, ADD), final_norm=True)


def convmixer(name: str, width: int, depth: int, kernel: int, patch: int, act: str = "gelu") -> Spec:
    """ConvMixer: stem patch conv -> act -> BN; block residual(depthwise k x k -> act -> BN), then
    1x1 -> act -> BN without a residual; head global pool -> linear; PyTorch's default init
    (timm's ConvMixer, as the official code)."""
    ops = (Op("dwconv", kernel), ACT, NORM, ADD, Op("conv", 1, "out"), ACT, NORM)
    return Spec(name=name, stem=StemSpec(kernel=patch, stride=patch, width=width, norm=True, act=True, pool=False,
                                     act_first=True),
                depths=(depth,), widths=(width,), block=BlockSpec(ops, mid_ratio=4, act_after_add=False),
                norm="bn", act=act, init="torch")


def convnext_isotropic(name: str, width: int, depth: int) -> Spec:
    """Isotropic ConvNeXt (the paper's Sec. 3.3 / Appendix): 16x16 patchify stem without a norm,
    ConvNeXt blocks (dwconv 7x7 -> LN -> 1x1 4C -> GELU -> 1x1, one residual, no layer scale),
    head global pool -> LN -> linear (official convnext_isotropic.py)."""
    return isotropic(name, 16, width, depth, (Op("dwconv", 7), NORM, *CHANNEL_MLP), head_norm=True)


ISOTROPIC_BASES = {
    # params, GFLOPs at 224, top-1 as published; "= timm x": the same parameters in the same order
    "deit_s": lambda: vit("deit_s", 384, 6),            # 22.1M, 4.6, 79.8 (DeiT); = timm deit_small_patch16_224
    "deit_b": lambda: vit("deit_b", 768, 12),           # 86.6M, 17.6, 81.8 (DeiT); = timm deit_base_patch16_224
    "ffvit_tiny": lambda: ffvit("ffvit_tiny", 192),     # 7.7M, ~1.4, 61.4 (Melas-Kyriazi 2021)
    "ffvit_base": lambda: ffvit("ffvit_base", 768),     # 62M, ~14.1, 74.9
    "ffvit_large": lambda: ffvit("ffvit_large", 1024, depth=24, patch=32),  # 206M, ~10.7, 71.4
    "mixer_b16": lambda: mixer("mixer_b16", 768, 12, 384),    # 59.9M, 12.6, 76.44; = timm mixer_b16_224
    "mixer_l16": lambda: mixer("mixer_l16", 1024, 24, 512),   # 208M, 44.6 (44.548), 71.76; = timm mixer_l16_224
    "convmixer_1536_20": lambda: convmixer("convmixer_1536_20", 1536, 20, 9, 7),  # 51.6M, ~48.7-51 (51.10), 81.37
    "convmixer_768_32": lambda: convmixer("convmixer_768_32", 768, 32, 7, 7, act="relu"),  # 21.1M, ~19.6-20.7, 80.16
    "convmixer_1024_20": lambda: convmixer("convmixer_1024_20", 1024, 20, 9, 14),  # 24.4M, ~5.6-6.0, 76.94
    # the authors' CIFAR-10 ConvMixer (locuslab/convmixer-cifar10: --hdim 256 --depth 8 --conv-ks 5
    # --psize 2): 0.59M at 10 classes; "around 92.5%" top-1 in 25 epochs (its README)
    "convmixer_256_8": lambda: convmixer("convmixer_256_8", 256, 8, 5, 2),
    "convnext_iso_s": lambda: convnext_isotropic("convnext_iso_s", 384, 18),   # 22M, 4.3, 79.7
    "convnext_iso_b": lambda: convnext_isotropic("convnext_iso_b", 768, 18),   # 87M, 16.9, 82.0
    "convnext_iso_l": lambda: convnext_isotropic("convnext_iso_l", 1024, 36),  # 306M, 59.7, 82.6
}
