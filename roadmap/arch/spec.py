"""A network as plain data: frozen dataclasses that round-trip through YAML and hash stably.

The builder (`roadmap.arch.network`) is the only place that turns a `Spec` into torch modules;
steps (`roadmap.arch.transforms`) only ever return new specs.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import yaml

from roadmap.errors import RoadmapError, malformed_yaml

NORMS = ("bn", "ln")
ACTS = ("relu", "gelu")
OP_KINDS = ("conv", "dwconv", "norm", "act", "attn", "token_mlp", "token_norm", "add")
TOKEN_OPS = ("attn", "token_mlp", "token_norm")  # ops that only exist on a token sequence
WIDTHS = ("mid", "out")
HEAD_POOLS = ("avg", "token")
INITS = ("resnet", "trunc_normal", "torch")


@dataclass(frozen=True)
class Op:
    """One layer of a block, in order.

    conv: dense k x k conv to `width` channels ("mid" = block.mid_ratio * stage width, "out");
      a 1x1 conv is a per-position linear layer, so conv mid -> act -> conv out is both
      ConvNeXt's inverted bottleneck and a transformer's channel MLP.
    dwconv: depthwise k x k conv (keeps its input's channels).
    norm / act: the network-wide norm (`Spec.norm`) / activation (`Spec.act`).
    attn: multi-head self-attention over all tokens, `heads` heads (ViT, DeiT).
    token_mlp: an MLP along the token axis, shared by the channels (MLP-Mixer, feed-forward-only
      ViT); hidden size `hidden` (absolute, Mixer's D_S) or `ratio` x the number of tokens.
    token_norm: LayerNorm over the token axis (the feed-forward-only ViT's norm before its token MLP).
    add: closes a residual segment: the ops since the previous `add` form x = x + f(x). Ops after
      the last `add` apply without a residual (ConvMixer's pointwise half); a block without any
      `add` is one residual branch over all its ops (ResNet, ConvNeXt).
    stride: this op carries the stage's stride (in-block downsampling only).
    """

    kind: str
    kernel: int = 1
    width: str = ""
    stride: bool = False
    groups: int = 1
    heads: int = 0
    hidden: int = 0
    ratio: float = 0.0

    def __post_init__(self):
        # 4 and 4.0 are one network: keep one spelling so the hash is stable
        if isinstance(self.ratio, int) and not isinstance(self.ratio, bool):
            object.__setattr__(self, "ratio", float(self.ratio))

    @property
    def spatial(self) -> bool:
        return self.kind in ("conv", "dwconv") and self.kernel > 1

    @property
    def mixes_tokens(self) -> bool:
        """Mixes information across positions: attention, a token MLP or a k > 1 conv."""
        return self.kind in ("attn", "token_mlp") or self.spatial

    @property
    def pointwise(self) -> bool:
        return self.kind == "conv" and self.kernel == 1


_OP_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Op)}


@dataclass(frozen=True)
class BlockSpec:
    ops: tuple[Op, ...]
    mid_ratio: float = 0.25        # ResNet bottleneck: mid = out / 4; inverted: mid = 4 * out
    act_after_add: bool = True      # ResNet's ReLU after the residual addition
    layer_scale: float | None = None  # per-channel residual scale, initial value (ConvNeXt: 1e-6)

    def segments(self) -> tuple[list[list[Op]], list[Op]]:
        """(residual segments, plain tail): the ops split at each `add` (see `Op`)."""
        segs, cur = [], []
        for op in self.ops:
            if op.kind == "add":
                segs.append(cur)
                cur = []
            else:
                cur.append(op)
        return (segs, cur) if segs else ([cur], [])


@dataclass(frozen=True)
class StemSpec:
    kernel: int = 7
    stride: int = 2
    width: int = 64
    norm: bool = True
    act: bool = True
    pool: bool = True               # ResNet's 3x3 stride-2 max-pool
    act_first: bool = False         # conv -> act -> norm (ConvMixer) instead of conv -> norm -> act


@dataclass(frozen=True)
class Spec:
    name: str = field(compare=False)  # a label only: equality and the hash ignore it
    stem: StemSpec
    depths: tuple[int, ...]
    widths: tuple[int, ...]         # block output channels per stage
    block: BlockSpec
    norm: str = "bn"
    act: str = "relu"
    # "block": each later stage's first block strides (its `stride` op) with a 1x1 projection
    # shortcut (ResNet); "separate": norm + 2x2 stride-2 conv between stages (ConvNeXt).
    downsample: str = "block"
    head_norm: bool = False         # norm after global pooling, before the classifier
    # "resnet": kaiming-normal convs, last BN of each branch zero-initialised (timm's ResNet);
    # "trunc_normal": std 0.02 weights, zero biases (official ConvNeXt, ViT, Mixer);
    # "torch": PyTorch's default initialisation (official ConvMixer).
    init: str = "resnet"
    # Isotropic patch networks (one stage at the stem's resolution). A network with any of these,
    # or with attention / token-MLP ops, runs on a token sequence instead of feature maps.
    cls_token: bool = False         # a learned class token prepended to the patch tokens (ViT)
    pos_embed: bool = False         # a learned position embedding added after the stem (ViT)
    head_pool: str = "avg"          # "avg": global average pooling; "token": the class token
    final_norm: bool = False        # norm of every position before pooling (ViT, Mixer)

    def __post_init__(self):
        validate(self)

    # --- serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        # an op lists only what differs from Op's defaults: {kind: dwconv, kernel: 7, stride: true}
        d["block"]["ops"] = [{k: v for k, v in op.items() if k == "kind" or v != _OP_DEFAULTS[k]}
                             for op in d["block"]["ops"]]
        # fields added for isotropic networks appear only when set, so earlier specs keep their
        # YAML and their hash
        for key in _SPEC_OPTIONAL:
            if d[key] == _SPEC_DEFAULTS[key]:
                d.pop(key)
        for key in _STEM_OPTIONAL:
            if d["stem"][key] == _STEM_DEFAULTS[key]:
                d["stem"].pop(key)
        return _lists(d)

    def to_yaml(self) -> str:
        return dump_yaml(self.to_dict())

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "spec") -> "Spec":
        return _build(cls, d, where)

    @classmethod
    def from_yaml(cls, text: str, where: str = "spec") -> "Spec":
        try:
            d = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise malformed_yaml(where, e) from None
        return cls.from_dict(d, where)

    @property
    def hash(self) -> str:
        """The architecture's identity (the name left out), stable across sessions and machines."""
        d = self.to_dict()
        d.pop("name")
        blob = json.dumps(d, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def replace(self, **changes) -> "Spec":
        return dataclasses.replace(self, **changes)

    @property
    def total_stride(self) -> int:
        s = self.stem.stride * (2 if self.stem.pool else 1)
        return s * 2 ** (len(self.depths) - 1)

    @property
    def tokens(self) -> bool:
        """Runs on a token sequence (ViT, Mixer) rather than on feature maps (ConvNets)."""
        return self.cls_token or self.pos_embed or any(op.kind in TOKEN_OPS for op in self.block.ops)


_SPEC_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Spec)}
_STEM_DEFAULTS = {f.name: f.default for f in dataclasses.fields(StemSpec)}
_SPEC_OPTIONAL = ("cls_token", "pos_embed", "head_pool", "final_norm")
_STEM_OPTIONAL = ("act_first",)


def validate(spec: Spec) -> None:
    def bad(msg):
        raise RoadmapError(f"spec {spec.name!r}: {msg}")

    _validate_types(spec, bad)
    if len(spec.depths) != len(spec.widths) or not spec.depths:
        bad(f"depths {list(spec.depths)} and widths {list(spec.widths)} must be non-empty and of equal length")
    if any(d < 1 for d in spec.depths) or any(w < 1 for w in spec.widths):
        bad("depths and widths must be positive")
    if spec.norm not in NORMS:
        bad(f"norm must be one of {NORMS}, not {spec.norm!r}")
    if spec.act not in ACTS:
        bad(f"act must be one of {ACTS}, not {spec.act!r}")
    if spec.downsample not in ("block", "separate"):
        bad(f"downsample must be 'block' or 'separate', not {spec.downsample!r}")
    if spec.init not in INITS:
        bad(f"init must be one of {INITS}, not {spec.init!r}")
    if spec.head_pool not in HEAD_POOLS:
        bad(f"head_pool must be one of {HEAD_POOLS}, not {spec.head_pool!r}")
    for op in spec.block.ops:
        if op.kind not in OP_KINDS:
            bad(f"block op kind must be one of {OP_KINDS}, not {op.kind!r}")
        if op.kind == "conv" and op.width not in WIDTHS:
            bad(f"a conv op needs width 'mid' or 'out', not {op.width!r}")
        if op.kernel < 1 or op.groups < 1:
            bad("kernel and groups must be positive")
        if op.kind in ("conv", "dwconv") and op.kernel % 2 == 0:
            bad(f"a block conv's kernel must be odd (it keeps the feature map's size), not {op.kernel}")
        if op.kind == "attn" and op.heads < 1:
            bad("an attn op needs heads >= 1")
        if op.kind == "token_mlp" and (op.hidden > 0) == (op.ratio > 0):
            bad("a token_mlp op needs either hidden (its width) or ratio (times the tokens), not both")
    _validate_segments(spec, bad)
    if spec.tokens:
        _validate_tokens(spec, bad)
    if spec.head_pool == "token" and not spec.cls_token:
        bad("head_pool 'token' needs a class token")
    if not any(op.kind in ("conv", "dwconv", "attn", "token_mlp") for op in spec.block.ops):
        bad("a block needs at least one conv, attention or token MLP")
    convs = [op for op in spec.block.ops if op.kind in ("conv", "dwconv")]
    if convs and convs[-1].kind == "conv" and convs[-1].width != "out" and not any(
        op.kind == "conv" and op.width == "out" for op in convs
    ):
        bad("the block's last conv must produce 'out' channels")
    if spec.downsample == "block" and len(spec.depths) > 1 and sum(op.stride for op in spec.block.ops) != 1:
        bad("with in-block downsampling exactly one block op must carry the stride")


def _validate_types(spec: Spec, bad) -> None:
    """Every field of the right type: a spec comes from YAML a person wrote."""
    def whole(x):
        return isinstance(x, int) and not isinstance(x, bool)

    def number(x):
        return isinstance(x, (int, float)) and not isinstance(x, bool)

    st, b = spec.stem, spec.block
    if not all(whole(v) and v >= 1 for v in (st.kernel, st.stride, st.width)):
        bad(f"the stem's kernel, stride and width must be whole numbers from 1, not {st.kernel}, {st.stride}, "
            f"{st.width}")
    if not all(isinstance(v, bool) for v in (st.norm, st.act, st.pool, st.act_first, b.act_after_add,
                                                 spec.head_norm, spec.cls_token, spec.pos_embed, spec.final_norm)):
        bad("the stem's norm / act / pool / act_first, act_after_add, head_norm, cls_token, pos_embed and "
            "final_norm must be true or false")
    if not all(whole(v) for v in (*spec.depths, *spec.widths)):
        bad(f"depths {list(spec.depths)} and widths {list(spec.widths)} must be whole numbers")
    if not (number(b.mid_ratio) and b.mid_ratio > 0):
        bad(f"the block's mid_ratio must be a positive number, not {b.mid_ratio!r}")
    if b.layer_scale is not None and not (number(b.layer_scale) and b.layer_scale > 0):
        bad(f"layer_scale must be a positive number or null, not {b.layer_scale!r}")
    for op in b.ops:
        for key in ("kernel", "groups", "heads", "hidden"):
            if not whole(getattr(op, key)) or getattr(op, key) < 0:
                bad(f"op {op.kind}: {key} must be a whole number, not {getattr(op, key)!r}")
        if not number(op.ratio) or op.ratio < 0:
            bad(f"op {op.kind}: ratio must be a number from 0, not {op.ratio!r}")
        if not isinstance(op.stride, bool):
            bad(f"op {op.kind}: stride must be true or false, not {op.stride!r}")


def _validate_segments(spec: Spec, bad) -> None:
    ops = spec.block.ops
    adds = [i for i, op in enumerate(ops) if op.kind == "add"]
    if not adds:
        return
    if adds == [len(ops) - 1]:
        bad("a block whose only `add` is its last op is written without it (no `add`: one residual branch)")
    segs, _ = spec.block.segments()
    if any(not seg for seg in segs):
        bad("every `add` needs at least one op since the previous one")
    if spec.block.act_after_add:
        bad("act_after_add is for blocks of one residual branch (no `add` op)")
    if len(spec.depths) > 1 or any(op.stride for op in ops):
        bad("blocks with `add` ops are for isotropic (single-stage, stride-free) networks")


def _validate_tokens(spec: Spec, bad) -> None:
    """A token network is isotropic: patch stem, one stage at the stem's width, LayerNorm."""
    if len(spec.depths) != 1 or spec.stem.pool or spec.stem.width != spec.widths[0]:
        bad("a network with a class token, position embedding, attention or token MLP is isotropic: "
            "one stage as wide as its patch stem and no stem pooling")
    if spec.norm != "ln":
        bad("a network on tokens (attention, token MLP, class token or position embedding) needs norm 'ln'")
    if spec.block.act_after_add or any(op.stride for op in spec.block.ops):
        bad("a network on tokens has no in-block stride and no activation after its residual additions")
    if spec.cls_token and any(op.spatial for op in spec.block.ops):
        bad("a class token has no place on the patch grid a k > 1 conv works on; pool globally instead")


# --- YAML helpers ------------------------------------------------------------------------------
def _lists(x):
    if isinstance(x, dict):
        return {k: _lists(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_lists(v) for v in x]
    return x


class _FlowDumper(yaml.SafeDumper):
    pass


def _represent_list(dumper, data):
    # lists of scalars (depths, widths) read best on one line
    flow = all(not isinstance(v, (list, dict)) for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


def _represent_dict(dumper, data):
    # an op ({kind: conv, ...}) is one line; everything else block style
    flow = "kind" in data and all(not isinstance(v, (list, dict)) for v in data.values())
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=flow)


_FlowDumper.add_representer(list, _represent_list)
_FlowDumper.add_representer(dict, _represent_dict)


def dump_yaml(d: dict) -> str:
    return yaml.dump(d, Dumper=_FlowDumper, sort_keys=False, width=120)


_WHAT = {Spec: "spec", StemSpec: "stem", BlockSpec: "block", Op: "op"}


def _build(cls, d, where):
    what = _WHAT[cls]
    if not isinstance(d, dict):
        raise RoadmapError(f"{where}: expected a mapping for the {what}, got {type(d).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(d) - set(fields)
    if unknown:
        raise RoadmapError(f"{where}: unknown {what} field(s) {sorted(unknown)}; known: {', '.join(fields)}")
    kw = {}
    for name, value in d.items():
        kind = {"stem": StemSpec, "block": BlockSpec}.get(name)
        if kind is not None:
            value = _build(kind, value, where)
        elif name == "ops":
            value = tuple(_build(Op, v, where) for v in value)
        elif isinstance(value, list):
            value = tuple(value)
        kw[name] = value
    try:
        return cls(**kw)
    except TypeError as e:
        raise RoadmapError(f"{where}: {what}: {e}") from None
