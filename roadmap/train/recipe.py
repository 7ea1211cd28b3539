"""Training recipes: YAML shipped with the package (imagenet, proxy, smoke) or a user's file,
with `--set key=value` overrides. A recipe is plain data; its hash keys the results cache."""
from __future__ import annotations

import difflib
import hashlib
import json
import math
from pathlib import Path

import yaml

from roadmap import shipped
from roadmap.errors import RoadmapError


def _read(path: Path) -> dict:
    data = shipped.read_yaml(path)
    if not isinstance(data, dict):
        raise RoadmapError(f"{path}: a recipe is a mapping of settings")
    return data


def load_recipe(name_or_path: str, overrides: list[str] | None = None) -> dict:
    """The recipe as a dict (name included), overrides applied, every value checked and made canonical
    by the schema below (so `3e-3`, `0.003` and `3.0e-3` are one value with one hash)."""
    path = shipped.find("recipe", name_or_path)
    recipe = _read(path)
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise RoadmapError(f"--set {item!r}: expected key=value, e.g. --set epochs=30")
        key = key.strip()
        if key not in SCHEMA:
            raise RoadmapError(f"--set {item!r}: unknown setting {key!r}; known: {', '.join(SCHEMA)}")
        try:
            recipe[key] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise RoadmapError(f"--set {item!r}: the value is not valid YAML") from None
    unknown = sorted(set(recipe) - set(SCHEMA))
    if unknown:
        raise RoadmapError(f"recipe {path.stem}: unknown setting(s) {unknown}; known: {', '.join(SCHEMA)}")
    missing = sorted(set(SCHEMA) - set(recipe))
    if missing:
        raise RoadmapError(f"recipe {path.stem}: missing setting(s) {missing}")
    for key, (check, _) in SCHEMA.items():
        try:
            recipe[key] = check(recipe[key])
        except (TypeError, ValueError) as e:
            raise RoadmapError(f"recipe {path.stem}: {key} {e}, not {recipe[key]!r}") from None
    _check(recipe, path.stem)
    recipe["name"] = path.stem
    return recipe


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
        return [a, b]
    return pair


def _choice(options_fn):
    def check(v):
        options = options_fn()
        if v not in options:
            raise ValueError(f"must be one of {', '.join(map(str, options))}")
        return v
    return check


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


SCHEDULERS = ("cosine", "tanh", "step", "multistep", "plateau", "poly", "constant")


def _drop_path(v):
    if isinstance(v, dict):
        return {str(k): _float(0, 1)(x) for k, x in v.items()}
    return _float(0, 1)(v)


def _aa(v):
    """A timm auto-augment string ("rand-m9-mstd0.5-inc1", "augmix-m5", "original", ...), checked by timm."""
    if v is None:
        return None
    if not isinstance(v, str):
        raise TypeError("must be a timm auto-augment string such as rand-m9-mstd0.5-inc1, or null")
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
    "weight_decay": (_float(0), "decoupled weight decay (none on norms and biases)"),
    "sched": (_choice(lambda: SCHEDULERS), "learning-rate schedule (timm's create_scheduler_v2)"),
    "min_lr": (_float(0), "final learning rate"),
    "warmup_lr": (_float(0), "learning rate warmup starts from"),
    "res": (_optional(_int(8)), "training and eval resolution; null: the data's own"),
    "crop_pct": (_float(0, 1, open_lo=True), "eval: resize to res / crop_pct, centre crop res"),
    "scale": (_pair(_float(0, 1, open_lo=True), ordered=True), "random-resized-crop area range"),
    "aa": (_aa, "RandAugment / AutoAugment string for timm, or null"),
    "mixup": (_float(0), "mixup alpha (0: off)"),
    "cutmix": (_float(0), "cutmix alpha (0: off)"),
    "reprob": (_float(0, 1), "random erasing probability"),
    "smoothing": (_float(0, 1), "label smoothing"),
    "drop_path": (_drop_path, "stochastic depth rate, or a map regime -> rate with a default"),
    "clip_grad": (_optional(_float(0, open_lo=True)), "gradient norm clip, or null"),
    "ema": (_bool, "keep an EMA of the weights and evaluate it"),
    "ema_decay": (_float(0, 1), "EMA decay"),
    "amp": (_bool, "bf16 autocast where the device computes bf16 natively"),
    "workers": (_int(0), "DataLoader workers per process (per-sample pipeline only)"),
    "scale_width": (_float(0, open_lo=True), "width multiplier applied at build time"),
    "scale_depth": (_float(0, open_lo=True), "depth multiplier applied at build time"),
    "stem_stride": (_optional(_choice(lambda: (1, 2, 4))), "the stem's total stride for small images, or null"),
}


def _check(r: dict, name: str) -> None:
    """What no single key can say."""
    if r["batch_size"] % r["batch_per_device"]:
        raise RoadmapError(f"recipe {name}: batch_size {r['batch_size']} must be a multiple of batch_per_device "
                           f"{r['batch_per_device']}")
    if r["warmup_epochs"] > r["epochs"]:
        raise RoadmapError(f"recipe {name}: warmup_epochs {r['warmup_epochs']} must be at most epochs {r['epochs']}")


def drop_path_rate(recipe: dict, regime: str) -> float:
    dp = recipe["drop_path"]
    if isinstance(dp, dict):
        return float(dp.get(regime, dp.get("default", 0.0)))
    return float(dp)


def recipe_hash(recipe: dict) -> str:
    """What changes training outcomes; `workers` only changes speed."""
    d = {k: v for k, v in recipe.items() if k not in ("name", "workers")}
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:12]
