"""A network as plain data: frozen dataclasses that round-trip through YAML and hash stably.

The builder (`roadmap.builder`) is the only place that turns a `Spec` into torch modules;
steps (`roadmap.transforms`) only ever return new specs.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import yaml

from roadmap.errors import RoadmapError

NORMS = ("bn", "ln")
ACTS = ("relu", "gelu")
OP_KINDS = ("conv", "dwconv", "norm", "act")
WIDTHS = ("mid", "out")


@dataclass(frozen=True)
class Op:
    """One layer of a block's residual branch, in order.

    conv: dense k x k conv to `width` channels ("mid" = block.mid_ratio * stage width, "out").
    dwconv: depthwise k x k conv (keeps its input's channels).
    norm / act: the network-wide norm (`Spec.norm`) / activation (`Spec.act`).
    stride: this op carries the stage's stride (in-block downsampling only).
    """

    kind: str
    kernel: int = 1
    width: str = ""
    stride: bool = False
    groups: int = 1

    @property
    def spatial(self) -> bool:
        return self.kind in ("conv", "dwconv") and self.kernel > 1

    @property
    def pointwise(self) -> bool:
        return self.kind == "conv" and self.kernel == 1


_OP_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Op)}


@dataclass(frozen=True)
class Block:
    ops: tuple[Op, ...]
    mid_ratio: float = 0.25        # ResNet bottleneck: mid = out / 4; inverted: mid = 4 * out
    act_after_add: bool = True      # ResNet's ReLU after the residual addition
    layer_scale: float | None = None  # per-channel residual scale, initial value (ConvNeXt: 1e-6)


@dataclass(frozen=True)
class Stem:
    kernel: int = 7
    stride: int = 2
    width: int = 64
    norm: bool = True
    act: bool = True
    pool: bool = True               # ResNet's 3x3 stride-2 max-pool


@dataclass(frozen=True)
class Spec:
    name: str = field(compare=False)  # a label only: equality and the hash ignore it
    stem: Stem
    depths: tuple[int, ...]
    widths: tuple[int, ...]         # block output channels per stage
    block: Block
    norm: str = "bn"
    act: str = "relu"
    # "block": each later stage's first block strides (its `stride` op) with a 1x1 projection
    # shortcut (ResNet); "separate": norm + 2x2 stride-2 conv between stages (ConvNeXt).
    downsample: str = "block"
    head_norm: bool = False         # norm after global pooling, before the classifier
    # "resnet": kaiming-normal convs, last BN of each branch zero-initialised (timm's ResNet);
    # "trunc_normal": std 0.02 weights, zero biases (official ConvNeXt).
    init: str = "resnet"
    notes: tuple[str, ...] = field(default=(), compare=False, hash=False)

    def __post_init__(self):
        validate(self)

    # --- serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("notes")
        # an op lists only what differs from Op's defaults: {kind: dwconv, kernel: 7, stride: true}
        d["block"]["ops"] = [{k: v for k, v in op.items() if k == "kind" or v != _OP_DEFAULTS[k]}
                             for op in d["block"]["ops"]]
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
            raise RoadmapError(f"{where}: malformed YAML ({_first_line(e)})") from None
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


def validate(spec: Spec) -> None:
    def bad(msg):
        raise RoadmapError(f"spec {spec.name!r}: {msg}")

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
    if spec.init not in ("resnet", "trunc_normal"):
        bad(f"init must be 'resnet' or 'trunc_normal', not {spec.init!r}")
    for op in spec.block.ops:
        if op.kind not in OP_KINDS:
            bad(f"block op kind must be one of {OP_KINDS}, not {op.kind!r}")
        if op.kind == "conv" and op.width not in WIDTHS:
            bad(f"a conv op needs width 'mid' or 'out', not {op.width!r}")
        if op.kernel < 1 or op.groups < 1:
            bad("kernel and groups must be positive")
    convs = [op for op in spec.block.ops if op.kind in ("conv", "dwconv")]
    if not convs:
        bad("a block needs at least one conv")
    if convs[-1].kind == "conv" and convs[-1].width != "out" and not any(
        op.kind == "conv" and op.width == "out" for op in convs
    ):
        bad("the block's last conv must produce 'out' channels")
    if spec.downsample == "block" and len(spec.depths) > 1 and sum(op.stride for op in spec.block.ops) != 1:
        bad("with in-block downsampling exactly one block op must carry the stride")


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


def _first_line(e: Exception) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def _build(cls, d, where):
    if not isinstance(d, dict):
        raise RoadmapError(f"{where}: expected a mapping for {cls.__name__}, got {type(d).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(d) - set(fields)
    if unknown:
        raise RoadmapError(f"{where}: unknown {cls.__name__} field(s) {sorted(unknown)}")
    kw = {}
    for name, value in d.items():
        kind = {"stem": Stem, "block": Block}.get(name)
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
        raise RoadmapError(f"{where}: {cls.__name__}: {e}") from None
