"""Training recipes: YAML shipped with the package (imagenet, proxy, cpu-proxy, smoke) or a user's
file, with `--set key=value` overrides, read into a frozen, typed `Recipe`. Its hash keys the
results cache, so the hash is computed from the recipe as it was first written down (see `hash`)."""
from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from roadmap import shipped
from roadmap.errors import RoadmapError

# old key -> its name today: the scale knobs carry the names of the results columns and of timm's
# model kwargs everywhere; recipe files and --set still take the old names
ALIASES = {"scale_width": "width_mult", "scale_depth": "depth_mult"}
HASHED_AS = {new: old for old, new in ALIASES.items()}  # the hash keeps the names it was first made with


class Sched(StrEnum):
    """Learning-rate schedules (timm's create_scheduler_v2)."""
    COSINE = "cosine"
    TANH = "tanh"
    STEP = "step"
    MULTISTEP = "multistep"
    PLATEAU = "plateau"
    POLY = "poly"
    CONSTANT = "constant"
    ONECYCLE = "onecycle"  # the ConvMixer CIFAR-10 script's piecewise-linear cycle (roadmap.train.schedule)


class AugmentImpl(StrEnum):
    """Whose RandAugment `aa` names: timm's (any timm auto-augment string) or torchvision's
    `RandAugment(num_ops=N, magnitude=M)` for "rand-nN-mM", a different op set and magnitude scale."""
    TIMM = "timm"
    TORCHVISION = "torchvision"


@dataclass(frozen=True)
class Scale:
    """The build-time knobs (roadmap.arch.scale.scale_spec takes them by these names), one name each in
    the recipe, the results columns and timm's model kwargs."""
    width_mult: float = 1.0
    depth_mult: float = 1.0
    stem_stride: int | None = None


@dataclass(frozen=True)
class Recipe:
    """One recipe, every value checked and canonical (`3e-3`, `0.003` and `3.0e-3` are one value)."""
    name: str
    epochs: int
    warmup_epochs: int
    batch_size: int
    batch_per_device: int
    opt: str
    lr: float
    betas: tuple[float, float]
    weight_decay: float
    sched: Sched
    min_lr: float
    warmup_lr: float
    res: int | None
    crop_pct: float
    scale: tuple[float, float]
    aa: str | None
    mixup: float
    cutmix: float
    reprob: float
    smoothing: float
    drop_path: float | dict
    clip_grad: float | None
    ema: bool
    ema_decay: float
    amp: bool
    workers: int
    scaling: Scale
    # settings added after the first results: optional, and left out of the hash at their defaults
    mean: tuple[float, float, float] | None = None   # None: timm's ImageNet mean and std
    std: tuple[float, float, float] | None = None
    decay_norm_bias: bool = False
    aa_impl: AugmentImpl = AugmentImpl.TIMM

    def get(self, key: str) -> Any:
        """A setting by its key (or old key) as plain data: what a recipe file or --set would say."""
        key = ALIASES.get(key, key)
        value = getattr(self.scaling, key) if key in SCALE_KEYS else getattr(self, key)
        if isinstance(value, StrEnum):
            return value.value
        return list(value) if isinstance(value, tuple) else value

    def as_dict(self) -> dict:
        """Every setting under today's keys, and the name: what run.json records."""
        return {**{k: self.get(k) for k in SCHEMA}, "name": self.name}

    @property
    def hash(self) -> str:
        """What changes training outcomes (`workers` only changes speed), under the keys and in the
        form the first recipes were hashed with, so renaming a key or typing a value keeps every
        committed row cached."""
        d = {HASHED_AS.get(k, k): self.get(k) for k in SCHEMA
             if k != "workers" and not (k in OPTIONAL and self.get(k) == OPTIONAL[k])}
        return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:12]

    def drop_path_rate(self, regime: str) -> float:
        dp = self.drop_path
        if isinstance(dp, dict):
            return float(dp.get(regime, dp.get("default", 0.0)))
        return float(dp)

    def replace(self, **changes) -> "Recipe":
        """A copy with these settings changed, checked and made canonical as a file's are."""
        return from_settings({**self.as_dict(), **changes})


def canonical_key(key: str) -> str:
    """Today's name of a setting (an old name maps to it)."""
    return ALIASES.get(key.strip(), key.strip())


def scale_of(settings: dict) -> Scale:
    """The scale of a recipe mapping as run.json records it, under today's keys or the old ones."""
    def get(key):
        value = settings.get(key, settings.get(HASHED_AS.get(key, key)))
        if value is None and key != "stem_stride":
            raise RoadmapError(f"a recorded recipe has no {key} (nor its old name {HASHED_AS[key]})")
        return value
    return Scale(float(get("width_mult")), float(get("depth_mult")), get("stem_stride"))


def _read(path: Path) -> dict:
    data = shipped.read_yaml(path)
    if not isinstance(data, dict):
        raise RoadmapError(f"{path}: a recipe is a mapping of settings")
    return data


def check_emulation(amp: bool, emulate_bf16: bool, recipe_name: str) -> None:
    """--emulate-bf16 beside a recipe that trains in fp32 (here, not in precision.py: the CLI checks it
    before importing torch)."""
    if emulate_bf16 and not amp:
        raise RoadmapError(f"--emulate-bf16 asks for bf16, but recipe {recipe_name} trains in fp32 (amp: false): "
                           f"drop one of them")


def load_recipe(name_or_path: str, overrides: list[str] | None = None) -> Recipe:
    """The recipe, overrides applied, every value checked and made canonical by the schema below."""
    path = shipped.find("recipe", name_or_path)
    raw = _read(path)
    both = [old for old, new in ALIASES.items() if old in raw and new in raw]
    if both:
        raise RoadmapError(f"recipe {path.stem}: {both[0]} and {ALIASES[both[0]]} are one setting (the old name "
                           f"and today's); keep {ALIASES[both[0]]}")
    recipe = {ALIASES.get(k, k): v for k, v in raw.items()}
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise RoadmapError(f"--set {item!r}: expected key=value, e.g. --set epochs=30")
        key = canonical_key(key)
        if key not in SCHEMA:
            raise RoadmapError(f"--set {item!r}: unknown setting {key!r}; known: {', '.join(SCHEMA)}")
        try:
            recipe[key] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise RoadmapError(f"--set {item!r}: the value is not valid YAML") from None
    return from_settings({**recipe, "name": path.stem})


def from_settings(settings: dict) -> Recipe:
    """A Recipe from a mapping of settings under today's keys and a name, every value checked."""
    recipe = dict(settings)
    name = recipe.pop("name")
    unknown = sorted(set(recipe) - set(SCHEMA))
    if unknown:
        raise RoadmapError(f"recipe {name}: unknown setting(s) {unknown}; known: {', '.join(SCHEMA)}")
    for key, default in OPTIONAL.items():
        recipe.setdefault(key, default)
    missing = sorted(set(SCHEMA) - set(recipe))
    if missing:
        raise RoadmapError(f"recipe {name}: missing setting(s) {missing}")
    for key, (check, _) in SCHEMA.items():
        try:
            recipe[key] = check(recipe[key])
        except (TypeError, ValueError) as e:
            raise RoadmapError(f"recipe {name}: {key} {e}, not {recipe[key]!r}") from None
    _check(recipe, name)
    scaling = Scale(**{k: recipe.pop(k) for k in SCALE_KEYS})
    return Recipe(name=name, scaling=scaling, **recipe)


# --- the schema: key -> (check returning the canonical value, meaning) -------------------------
def _int(lo: int, hi: float = math.inf):
    def check(v):
        if isinstance(v, bool) or not isinstance(v, int) and not (isinstance(v, float) and v.is_integer()):
            raise TypeError(f"must be a whole number from {lo}")
        if not lo <= v <= hi:
            raise ValueError(f"must be a whole number from {lo}" + (f" to {hi}" if hi < math.inf else ""))
        return int(v)
    return check


def _float(lo: float, hi: float = math.inf, open_lo: bool = False):
    def check(v):
        try:
            x = float(v)  # YAML 1.1 reads 3e-3 as text: a number all the same
        except (TypeError, ValueError):
            raise TypeError("must be a number") from None
        if isinstance(v, bool) or not math.isfinite(x) or x < lo or (open_lo and x == lo) or x > hi:
            raise ValueError(f"must be a number {'above' if open_lo else 'from'} {lo}"
                             + (f" to {hi}" if hi < math.inf else ""))
        return x
    return check


def _optional(check):
    return lambda v: None if v is None else check(v)


def _pair(check, ordered: bool = False):
    def pair(v):
        if not isinstance(v, (list, tuple)) or len(v) != 2:
            raise TypeError("must be a pair [a, b]")
        a, b = check(v[0]), check(v[1])
        if ordered and a > b:
            raise ValueError("must be a pair [low, high]")
        return (a, b)
    return pair


def _choice(options_fn):
    def check(v):
        options = options_fn()
        if v not in options:
            raise ValueError(f"must be one of {', '.join(map(str, options))}")
        return v
    return check


def _enum(kind):
    def check(v):
        try:
            return kind(v)
        except ValueError:
            raise ValueError(f"must be one of {', '.join(kind)}") from None
    return check


def _triple(v):
    if not isinstance(v, (list, tuple)) or len(v) != 3:
        raise TypeError("must be three numbers [r, g, b], or null")
    return tuple(_float(0, open_lo=True)(x) for x in v)


def _bool(v):
    if not isinstance(v, bool):
        raise TypeError("must be true or false")
    return v


# Optimizers every timm 1.0 release registers (tests/test_recipes checks them against the installed
# timm): these names need no timm import, which takes seconds, so `roadmap recipe` lists fast.
TIMM_OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "nadam", "radam", "adamp", "lamb", "lars", "rmsprop",
                   "adagrad", "adafactor", "lion")


def _optimizer(v):
    if v in TIMM_OPTIMIZERS:
        return v
    from timm.optim import list_optimizers
    names = list_optimizers()
    if v not in names:
        close = difflib.get_close_matches(str(v), names, n=3)
        raise ValueError("must be an optimizer in timm's registry (timm.optim.list_optimizers()"
                         + (f"; did you mean {' or '.join(close)}?)" if close else ")"))
    return v


def _drop_path(v):
    if isinstance(v, dict):
        return {str(k): _float(0, 1)(x) for k, x in v.items()}
    return _float(0, 1)(v)


TORCHVISION_RA = re.compile(r"rand-n(\d+)-m(\d+)")


def torchvision_randaugment(aa: str) -> tuple[int, int]:
    """(num_ops, magnitude) of "rand-nN-mM" for torchvision's RandAugment (magnitude 0..30)."""
    m = TORCHVISION_RA.fullmatch(aa)
    if m is None or int(m[2]) > 30:
        raise ValueError(f"aa {aa!r}: torchvision's RandAugment takes rand-nN-mM with M from 0 to 30 "
                         f"(aa_impl: torchvision)")
    return int(m[1]), int(m[2])


def _aa(v):
    """A timm auto-augment string ("rand-m9-mstd0.5-inc1", "augmix-m5", "original", ...), checked by timm;
    with aa_impl torchvision, "rand-nN-mM" (checked in _check, which sees both keys)."""
    if v is None:
        return None
    if not isinstance(v, str):
        raise TypeError("must be a timm auto-augment string such as rand-m9-mstd0.5-inc1, or null")
    if TORCHVISION_RA.fullmatch(v):
        return v  # a form both libraries read; _check holds it to the chosen one
    from timm.data import create_transform
    try:
        create_transform(32, is_training=True, auto_augment=v)
    except Exception:  # timm raises assorted errors for a string it cannot parse
        raise ValueError("must be a timm auto-augment string such as rand-m9-mstd0.5-inc1, or null") from None
    return v


SCHEMA = {
    "epochs": (_int(1), "training epochs"),
    "warmup_epochs": (_int(0), "linear warmup epochs (at most epochs)"),
    "batch_size": (_int(1), "global batch: processes x batch_per_device x accumulation"),
    "batch_per_device": (_int(1), "micro-batch per process"),
    "opt": (_optimizer, "optimizer, a name from timm's registry"),
    "lr": (_float(0, open_lo=True), "peak learning rate at batch_size"),
    "betas": (_pair(_float(0, 1)), "Adam betas [b1, b2]"),
    "weight_decay": (_float(0), "decoupled weight decay (none on norms and biases unless decay_norm_bias)"),
    "sched": (_enum(Sched), "learning-rate schedule: timm's create_scheduler_v2, or onecycle (ConvMixer's)"),
    "min_lr": (_float(0), "final learning rate"),
    "warmup_lr": (_float(0), "learning rate warmup starts from"),
    "res": (_optional(_int(8)), "training and eval resolution; null: the data's own"),
    "crop_pct": (_float(0, 1, open_lo=True), "eval: resize to res / crop_pct, centre crop res"),
    "scale": (_pair(_float(0, 1, open_lo=True), ordered=True), "random-resized-crop area range"),
    "aa": (_aa, "RandAugment / AutoAugment string (timm's; rand-nN-mM with aa_impl torchvision), or null"),
    "mixup": (_float(0), "mixup alpha (0: off)"),
    "cutmix": (_float(0), "cutmix alpha (0: off)"),
    "reprob": (_float(0, 1), "random erasing probability"),
    "smoothing": (_float(0, 1), "label smoothing"),
    "drop_path": (_drop_path, "stochastic depth rate, or a map regime -> rate with a default"),
    "clip_grad": (_optional(_float(0, open_lo=True)), "gradient norm clip, or null"),
    "ema": (_bool, "keep an EMA of the weights and evaluate it"),
    "ema_decay": (_float(0, 1), "EMA decay"),
    "amp": (_bool, "bf16 autocast where the device computes bf16 natively (or run --emulate-bf16)"),
    "workers": (_int(0), "DataLoader workers per process (per-sample pipeline only)"),
    "width_mult": (_float(0, open_lo=True), "width multiplier applied at build time"),
    "depth_mult": (_float(0, open_lo=True), "depth multiplier applied at build time"),
    "stem_stride": (_optional(_choice(lambda: (1, 2, 4))), "the stem's total stride for small images, or null"),
    "mean": (_optional(_triple), "normalisation mean [r, g, b] in 0..1; null: ImageNet's"),
    "std": (_optional(_triple), "normalisation std [r, g, b]; null: ImageNet's"),
    "decay_norm_bias": (_bool, "weight decay on norms and biases too (torch's AdamW on all parameters)"),
    "aa_impl": (_enum(AugmentImpl), "whose RandAugment aa names: timm, or torchvision (rand-nN-mM)"),
}
OPTIONAL = {"mean": None, "std": None, "decay_norm_bias": False, "aa_impl": AugmentImpl.TIMM.value}
# Every setting is one the first results were hashed with, or an optional one whose default leaves
# those hashes alone: a new setting must join OPTIONAL, or every cached row would retrain.
FIRST = ("epochs", "warmup_epochs", "batch_size", "batch_per_device", "opt", "lr", "betas", "weight_decay", "sched",
         "min_lr", "warmup_lr", "res", "crop_pct", "scale", "aa", "mixup", "cutmix", "reprob", "smoothing",
         "drop_path", "clip_grad", "ema", "ema_decay", "amp", "workers", "width_mult", "depth_mult", "stem_stride")
assert set(SCHEMA) == set(FIRST) | set(OPTIONAL) and not set(FIRST) & set(OPTIONAL), "a new setting must be OPTIONAL"
SCALE_KEYS = tuple(f.name for f in dataclasses.fields(Scale))


def _check(r: dict, name: str) -> None:
    """What no single key can say."""
    if r["batch_size"] % r["batch_per_device"]:
        raise RoadmapError(f"recipe {name}: batch_size {r['batch_size']} must be a multiple of batch_per_device "
                           f"{r['batch_per_device']}")
    if r["warmup_epochs"] > r["epochs"]:
        raise RoadmapError(f"recipe {name}: warmup_epochs {r['warmup_epochs']} must be at most epochs {r['epochs']}")
    if r["sched"] is Sched.ONECYCLE and (r["warmup_epochs"] or r["min_lr"] or r["warmup_lr"]):
        raise RoadmapError(f"recipe {name}: the onecycle schedule warms up and ends at 0 by itself; set "
                           f"warmup_epochs, min_lr and warmup_lr to 0")
    if (r["mean"] is None) != (r["std"] is None):
        raise RoadmapError(f"recipe {name}: set mean and std together (or neither, for ImageNet's)")
    if r["aa_impl"] is AugmentImpl.TORCHVISION:
        if r["aa"] is None:
            raise RoadmapError(f"recipe {name}: aa_impl torchvision needs aa rand-nN-mM")
        try:
            torchvision_randaugment(r["aa"])
        except ValueError as e:
            raise RoadmapError(f"recipe {name}: {e}") from None
