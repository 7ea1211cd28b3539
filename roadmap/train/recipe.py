"""Training recipes: YAML shipped with the package (imagenet, proxy, smoke) or a user's file,
with `--set key=value` overrides. A recipe is plain data; its hash keys the results cache."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import yaml

from roadmap import shipped
from roadmap.errors import RoadmapError


def _keys() -> set[str]:
    return set(shipped.read_yaml(shipped.find("recipe", "imagenet")))


def _read(path: Path) -> dict:
    data = shipped.read_yaml(path)
    if not isinstance(data, dict):
        raise RoadmapError(f"{path}: a recipe is a mapping of settings")
    return data


def load_recipe(name_or_path: str, overrides: list[str] | None = None) -> dict:
    """The recipe as a dict (name included), overrides applied and checked against known keys."""
    path = shipped.find("recipe", name_or_path)
    recipe = _read(path)
    known = _keys()
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise RoadmapError(f"--set {item!r}: expected key=value, e.g. --set epochs=30")
        try:
            recipe[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise RoadmapError(f"--set {item!r}: the value is not valid YAML") from None
    unknown = set(recipe) - known
    if unknown:
        raise RoadmapError(f"recipe {path.stem}: unknown setting(s) {sorted(unknown)}; known: {', '.join(sorted(known))}")
    missing = known - set(recipe)
    if missing:
        raise RoadmapError(f"recipe {path.stem}: missing setting(s) {sorted(missing)}")
    _check(recipe, path.stem)
    recipe["name"] = path.stem
    return recipe


def _check(r: dict, name: str) -> None:
    def need(cond, msg):
        if not cond:
            raise RoadmapError(f"recipe {name}: {msg}")

    need(isinstance(r["epochs"], int) and r["epochs"] >= 1, "epochs must be a positive integer")
    need(isinstance(r["batch_size"], int) and r["batch_size"] >= 1, "batch_size must be a positive integer")
    need(isinstance(r["batch_per_device"], int) and r["batch_per_device"] >= 1,
         "batch_per_device must be a positive integer")
    need(r["batch_size"] % r["batch_per_device"] == 0, "batch_size must be a multiple of batch_per_device")
    need(float(r["lr"]) > 0, "lr must be positive")
    need(0 <= r["warmup_epochs"] <= r["epochs"], "warmup_epochs must be between 0 and epochs")
    need(r["scale_width"] > 0 and r["scale_depth"] > 0, "scale_width and scale_depth must be positive")


def drop_path_rate(recipe: dict, regime: str) -> float:
    dp = recipe["drop_path"]
    if isinstance(dp, dict):
        return float(dp.get(regime, dp.get("default", 0.0)))
    return float(dp)


def recipe_hash(recipe: dict) -> str:
    """What changes training outcomes; `workers` only changes speed."""
    d = {k: v for k, v in recipe.items() if k not in ("name", "workers")}
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:12]
