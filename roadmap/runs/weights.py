"""A finished variant's weights: where the runner keeps them, and how they come back as a model.

results/NAME/weights/STEP-seedN-KEY.safetensors holds the weights that were evaluated for the
row (the EMA weights when the recipe keeps an EMA), fp32, with everything needed to rebuild the
network in the file's metadata: the scaled spec as YAML, the class count and names, the input
size, and the row's provenance (KEY is the row's cache key, see roadmap.runs.table.run_key).
`roadmap export` writes the same format anywhere; `load_model` reads either.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from roadmap.arch.catalog import load
from roadmap.arch.names import resolve_stage
from roadmap.arch.network import build
from roadmap.arch.scale import scale_spec
from roadmap.arch.spec import Spec
from roadmap.errors import RoadmapError
from roadmap.runs.folder import RunFolder
from roadmap.runs.table import honour_umask, read_results, read_runs, run_key
from roadmap.train.recipe import scale_of

FORMAT = "roadmap-weights/1"
# row columns copied into the metadata: what the weights are, and what made them
PROVENANCE = ("roadmap", "step", "label", "seed", "top1", "top5", "recipe", "recipe_hash", "recipe_overrides",
              "data", "data_fingerprint", "precision", "res", "spec_hash", "git_commit", "torch", "timm")


def weights_path(out: Path, step: str, seed: int, key: str) -> Path:
    return RunFolder(out).weights(step, seed, key)


def metadata(spec: Spec, row: dict, classes: list[str]) -> dict[str, str]:
    """What a weights file says about itself (safetensors metadata holds strings only)."""
    meta = {"format": FORMAT, "spec": spec.to_yaml(), "num_classes": str(len(classes)),
            "classes": json.dumps(list(classes)), "img_size": str(int(row["res"]))}
    return {**meta, **{k: str(row[k]) for k in PROVENANCE if k in row}}


def save_weights(path: Path, weights: dict, spec: Spec, row: dict, classes: list[str]) -> None:
    meta = metadata(spec, row, classes)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(weights, str(tmp), metadata=meta)
    honour_umask(tmp)
    tmp.replace(path)


def read_weights(path: str | Path) -> tuple[dict, dict]:
    """(tensors, metadata) of a weights file; one sentence if it is not one of ours."""
    path = Path(path)
    if not path.is_file():
        raise RoadmapError(f"weights file {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError) as e:
        raise RoadmapError(f"{path} is not a safetensors file ({e})") from None
    if meta.get("format") != FORMAT:
        raise RoadmapError(f"{path} holds no roadmap spec in its metadata (written by `roadmap export`?)")
    return tensors, meta


def model_from_weights(tensors: dict, meta: dict) -> torch.nn.Module:
    spec = Spec.from_yaml(meta["spec"], where="the weights' spec")
    model = build(spec, num_classes=int(meta["num_classes"]), img_size=int(meta["img_size"]))
    model.load_state_dict(tensors)
    model.classes = json.loads(meta.get("classes", "[]"))  # index -> class name, for predictions
    return model.eval()


def find_row(folder: str | Path, step: str, seed: int = 0, roadmap: str | None = None) -> dict:
    """The finished row of `step` (a stage id such as step5: its last adopted sub-step) and `seed`."""
    df = read_results(folder)
    ok = df[(df["status"] == "ok") & (df["seed"] == seed)]
    if roadmap is not None:
        ok = ok[ok["roadmap"] == roadmap]
    in_order = ok.sort_values("order", kind="stable").drop_duplicates("step")
    named = resolve_stage(step, list(zip(in_order["step"], in_order["adopted"].astype(str).eq("True"))))
    rows = ok[ok["step"] == named]
    if rows.empty:
        have = sorted(set(df.loc[df["status"] == "ok", "step"]))
        raise RoadmapError(f"{folder} has no finished {step} seed {seed}"
                           f"{f' of {roadmap}' if roadmap else ''}; finished steps: {', '.join(have) or 'none'}")
    if rows["roadmap"].nunique() > 1:
        raise RoadmapError(f"{folder} holds {step} seed {seed} of {', '.join(sorted(rows['roadmap'].unique()))}; "
                           f"say which with roadmap=...")
    return {k: (None if pd.isna(v) else v) for k, v in rows.iloc[0].to_dict().items()}


def weights_of_row(folder: str | Path, row: dict) -> tuple[dict, dict]:
    """The row's weights and metadata: its weights file, or for rows trained before weights files
    existed, the resume checkpoint with the spec rebuilt from run.json (checked against the row's hash)."""
    folder = Path(folder)
    trained_as = str(row.get("cached_from") or f"{row['roadmap']}:{row['step']}").rpartition(":")[2]
    key = run_key(row)
    path = weights_path(folder, trained_as, row["seed"], key)
    if path.is_file():
        return read_weights(path)
    ckpt = RunFolder(folder).checkpoint(trained_as, row["seed"], key)
    if not ckpt.is_file():
        raise RoadmapError(f"the weights of {row['step']} seed {row['seed']} are not in {folder} (no weights/"
                           f"{path.name}, and no resume checkpoint of that training): weights files are not "
                           f"committed with results; retrain it with the command in {folder}/run.json, "
                           f"adding --only {row['step']} --force")
    state = torch.load(ckpt, map_location="cpu", weights_only=False)
    tensors = ({k.removeprefix("module."): v for k, v in state["ema"].items()} if state.get("ema")
               else state["model"])
    spec, classes = _spec_from_runs(folder, row)
    return {k: v.float().contiguous() if v.is_floating_point() else v.contiguous() for k, v in tensors.items()}, \
        metadata(spec, row, classes)


def _spec_from_runs(folder: Path, row: dict) -> tuple[Spec, list[str]]:
    for inv in reversed(read_runs(folder)):
        try:
            rm = load(inv["roadmap_file"])
            step, recipe = rm.step(str(row["step"])), inv["recipe"]
        except (RoadmapError, KeyError):
            continue
        spec = scale_spec(step.spec, **vars(scale_of(recipe)))
        if spec.hash == row["spec_hash"]:
            n = int(inv["num_classes"])
            return spec, list(inv.get("classes") or [str(i) for i in range(n)])
    raise RoadmapError(f"cannot rebuild the spec of {row['step']} ({row['spec_hash']}) from {folder}/run.json: "
                       f"its roadmap file changed since; retrain that row")


def load_model(source: str | Path, step: str | None = None, seed: int = 0, roadmap: str | None = None):
    """A trained variant as a built network in eval mode, its weights loaded.

        roadmap.load_model("results/smoke", "step7", seed=0)   # from a results folder
        roadmap.load_model("convnext-t-step7.safetensors")      # from `roadmap export`

    The spec (scaled as it was trained), the class count and the input size come from the folder or
    file; `model.classes` names the output indices. `roadmap` picks among designs sharing a folder.
    """
    source = Path(source)
    if step is None:
        if source.is_dir():
            raise RoadmapError(f"{source} is a results folder: say which step, e.g. load_model({str(source)!r}, 'step7')")
        return model_from_weights(*read_weights(source))
    return model_from_weights(*weights_of_row(source, find_row(source, step, seed, roadmap)))


def export(folder: str | Path, step: str, dest: str | Path, seed: int = 0, roadmap: str | None = None) -> Path:
    """Write a finished variant's weights to `dest` (.safetensors) with its spec YAML in the metadata."""
    tensors, meta = weights_of_row(folder, find_row(folder, step, seed, roadmap))
    dest = Path(dest)
    if dest.suffix != ".safetensors":
        raise RoadmapError(f"export writes safetensors: name the file {dest.with_suffix('.safetensors').name}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(dest), metadata=meta)
    honour_umask(dest)
    return dest
