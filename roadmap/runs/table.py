"""The results folder of a run, and the one owner of its files: reading, writing and locking.

results/NAME/
  results.csv   one row per (step, seed): COLUMNS below
  epochs.csv    one row per (step, seed, epoch): EPOCH_COLUMNS
  run.json      what was run: roadmap, recipe, data, scale, seeds, device, command
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import tempfile
from pathlib import Path

import pandas as pd

from roadmap.arch.catalog import load
from roadmap.arch.names import design_of
from roadmap.errors import RoadmapError
from roadmap.runs.folder import RunFolder
from roadmap.runs.lock import file_lock

COLUMNS = [
    "roadmap", "regime", "step", "label", "group", "adopted", "order", "seed", "status", "error",
    "top1", "top5", "params", "gflops", "res", "epochs", "images_seen",
    "train_time_s", "train_img_s", "eval_img_s", "peak_mem_mb", "device", "cpu", "cpu_capability", "threads", "precision", "pipeline", "torch",
    "timm", "git_commit",
    "spec_hash", "recipe_hash", "data_fingerprint", "recipe", "data", "width_mult", "depth_mult",
    "paper_top1", "paper_std", "paper_gflops", "finished_at", "cached_from", "recipe_overrides", "drop_path",
    "sweep",
    # what the row is, so that a reader needs no roadmap file: the step it is measured against, its
    # ablation design, and the last scale knob (width_mult and depth_mult are above)
    "parent", "design", "stem_stride",
]
EPOCH_COLUMNS = ["roadmap", "step", "seed", "sweep", "epoch", "train_loss", "val_loss", "top1", "top5", "lr", "img_s", "time_s"]
# a (spec, recipe, data, resolution, precision, batch pipeline) with a finished row for its
# (roadmap, step, seed) is not trained again; rows written before a column existed do not match
CACHE_KEY = ("spec_hash", "recipe_hash", "data_fingerprint", "res", "precision", "pipeline", "drop_path")


def atomic_write_text(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so a crash never leaves a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    honour_umask(tmp)
    os.replace(tmp, path)


def honour_umask(path: Path) -> None:
    """rw for whom the umask allows: mkstemp and safetensors make files 0600, and colleagues on a cluster
    read results and weights too."""
    os.chmod(path, 0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


HASHES = {"spec_hash": str, "recipe_hash": str, "data_fingerprint": str,  # "123e45" is no number
          "sweep": str}


def sweep_of(value) -> str:
    """A row's sweep label ("epochs=30"); rows from before the column, and unswept ones: ""."""
    return value if isinstance(value, str) else ""


def _same_sweep(column: pd.Series, sweep: str) -> pd.Series:
    return column.map(sweep_of) == sweep


def run_key(row: dict) -> str:
    """One name for everything that makes a result: checkpoints are named by it, so a checkpoint is
    never resumed for other data, precision or drop path."""
    return hashlib.sha256("|".join(str(row[k]) for k in CACHE_KEY).encode()).hexdigest()[:12]


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, dtype=HASHES)
    except pd.errors.EmptyDataError:
        raise RoadmapError(f"{path} is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        raise RoadmapError(f"{path} is not a results table ({str(e).strip().splitlines()[0]})") from None
    if not {"step", "seed", "status", "spec_hash"} <= set(df.columns):
        raise RoadmapError(f"{path} is not a roadmap results table (it lacks step, seed, status and spec_hash)")
    _whole_lines(path, len(df.columns))
    _validate(df, path)
    if "threads" in df:  # whole numbers, empty in rows from before the column (not "2.0")
        df["threads"] = pd.to_numeric(df["threads"]).astype("Int64")
    return df


STATUSES = ("ok", "failed")
# a finished row's identity, as the runner writes it: a row cut short or edited loses it
IDENTITY = {"spec_hash": r"[0-9a-f]{12}", "recipe_hash": r"[0-9a-f]{12}", "data_fingerprint": r"[0-9a-f]{16}"}


def _whole_lines(path: Path, n_columns: int) -> None:
    """Every row has the header's fields: pandas reads a line cut short (a crash mid-copy) as a row
    with empty cells, and a stub "step7,0,ok,1" would count as 1% top-1."""
    with path.open(newline="") as f:
        for line, fields in enumerate(csv.reader(f), start=1):
            if line > 1 and fields and len(fields) < n_columns:
                raise RoadmapError(f"{path}, line {line}: the row is cut short ({len(fields)} of {n_columns} "
                                   "fields); fix or remove that line")


def _validate(df: pd.DataFrame, path: Path) -> None:
    """Every row as the runner writes it; a hand-edited cell is named by its line (the header is line 1)."""
    def bad(i, col, what):
        value = df[col].iloc[i]
        value = value.item() if hasattr(value, "item") else value  # 2.5, not np.float64(2.5)
        raise RoadmapError(f"{path}, line {i + 2}: {col} {value!r} {what}; fix or remove that line")

    seed = pd.to_numeric(df["seed"], errors="coerce")
    top1 = pd.to_numeric(df["top1"], errors="coerce") if "top1" in df else pd.Series(0.0, index=df.index)
    raw_threads = df["threads"] if "threads" in df else pd.Series(float("nan"), index=df.index)
    threads = pd.to_numeric(raw_threads, errors="coerce")
    # identities are checked in tables that record them (a table written by other tools may not)
    checked = [col for col in IDENTITY if col in df and df[col].notna().any()]
    for i in range(len(df)):
        if not (seed.iloc[i] >= 0 and float(seed.iloc[i]).is_integer()):
            bad(i, "seed", "is not a seed (a whole number from 0)")
        if df["status"].iloc[i] not in STATUSES:
            bad(i, "status", f"is not one of {', '.join(STATUSES)}")
        if df["status"].iloc[i] == "ok" and not 0 <= top1.iloc[i] <= 100:
            bad(i, "top1", "is not an accuracy in % for a finished row")
        if df["status"].iloc[i] == "ok":
            for col in checked:
                if not re.fullmatch(IDENTITY[col], str(df[col].iloc[i])):
                    bad(i, col, "is not the hash the runner writes (the row is cut short or edited)")
        if not isinstance(df["step"].iloc[i], str) or not df["step"].iloc[i]:
            bad(i, "step", "is not a step id")
        if not (pd.isna(raw_threads.iloc[i])
                or threads.iloc[i] >= 1 and float(threads.iloc[i]).is_integer()):
            bad(i, "threads", "is not a thread count (a whole number from 1, or empty)")


def read_results(folder: str | Path | RunFolder) -> pd.DataFrame:
    """The results table of a run folder, for figures and reports, every row checked and completed
    (migrate); one clear sentence if there is none."""
    rf = folder if isinstance(folder, RunFolder) else RunFolder(folder)
    if not rf.root.is_dir():
        raise RoadmapError(f"results folder {rf.root} does not exist")
    if not rf.results.is_file():
        raise RoadmapError(f"results folder {rf.root} has no results.csv (has `roadmap run --out {rf.root}` "
                           "finished a step?)")
    df = rf.read("results", _read_csv)
    if df.empty:
        raise RoadmapError(f"{rf.results} has no rows yet")
    return migrate(df, read_runs(rf))


def migrate(df: pd.DataFrame, runs: list[dict]) -> pd.DataFrame:
    """Rows from before `parent`, `design` and `stem_stride` were columns, completed once here: the
    design from the roadmap's name, stem_stride from the recipe run.json recorded for that roadmap,
    and the parent from the roadmap file as it is now (the one reading that is not the row's own)."""
    df = df.copy()
    for col in ("parent", "design", "stem_stride"):
        if col not in df:
            df[col] = pd.NA
    df["parent"], df["design"] = df["parent"].astype(object), df["design"].astype(object)
    names = df["roadmap"].fillna("").astype(str)
    df["design"] = df["design"].where(df["design"].notna(), names.map(design_of))
    strides = {r.get("roadmap"): r["recipe"].get("stem_stride") for r in runs
               if isinstance(r, dict) and isinstance(r.get("recipe"), dict)}
    df["stem_stride"] = df["stem_stride"].where(df["stem_stride"].notna(), names.map(strides))
    old = df["parent"].isna()
    files = {r.get("roadmap"): r.get("roadmap_file") for r in runs if isinstance(r, dict) and r.get("roadmap_file")}
    for name in dict.fromkeys(names[old]):
        rm = None
        for source in (name, files.get(name)):
            try:
                rm = load(source) if source else None
            except RoadmapError:  # not shipped, or a file that is gone
                continue
            if rm is not None:
                break
        if rm is None:  # the readers rebuild parents from the table
            continue
        parent_of = {st.id: st.parent or "" for st in rm.steps}
        mine = old & (names == name)
        df.loc[mine, "parent"] = df.loc[mine, "step"].map(parent_of)
    return df


def _read_run_json(path: Path) -> list[dict]:
    try:
        data = json.loads(path.read_text()) if path.is_file() else {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise RoadmapError(f"{path} is not a run record (JSON); move it away") from None
    return data.get("invocations", [data] if data else []) if isinstance(data, dict) else []


def read_runs(folder: str | Path | RunFolder) -> list[dict]:
    """Every invocation recorded in run.json, oldest first (a file from before the list: its one run)."""
    rf = folder if isinstance(folder, RunFolder) else RunFolder(folder)
    return rf.read("run_json", _read_run_json)


def read_run(folder: str | Path | RunFolder) -> dict:
    """The latest invocation."""
    runs = read_runs(folder)
    return runs[-1] if runs else {}


def write_run(folder: Path, run: dict) -> None:
    """Append an invocation: a folder trained with different settings keeps them all."""
    runs = _read_run_json(RunFolder(folder).run_json) + [json.loads(json.dumps(run, default=str))]
    atomic_write_text(RunFolder(folder).run_json, json.dumps({"invocations": runs}, indent=1))


def write_table(df: pd.DataFrame, path: Path, columns: list[str]) -> None:
    atomic_write_text(path, df.reindex(columns=columns).to_csv(index=False))


class Table:
    """results.csv and epochs.csv of one folder, as the runner uses them; every change is a locked
    read-modify-write, so jobs sharing the folder (Slurm) never lose each other's rows."""

    def __init__(self, out: Path):
        self.out = out
        rf = RunFolder(out)
        self.path, self.epochs_path, self.lock = rf.results, rf.epochs, rf.table_lock

    def read(self) -> pd.DataFrame:
        """The rows so far (none yet: an empty table); a file that is not ours is refused."""
        if not self.path.is_file():
            return pd.DataFrame(columns=COLUMNS)
        try:
            return _read_csv(self.path)
        except RoadmapError as e:
            raise RoadmapError(f"{e}; move it away or choose another --out") from None

    def find(self, row_key: dict) -> dict | None:
        """A finished row of the same network, recipe, data and seed: under the same (roadmap, step) if
        there is one, else under any (the final model of a path run is leave-one-out's reference)."""
        df = self.read()
        if df.empty:
            return None
        same = df[(df["seed"] == row_key["seed"]) & (df["status"] == "ok")]
        same = same[[all(str(r[k]) == str(row_key[k]) for k in CACHE_KEY) for _, r in same.iterrows()]]
        if same.empty:
            return None
        mine = same[(same["roadmap"] == row_key["roadmap"]) & (same["step"] == row_key["step"])
                    & _same_sweep(same.get("sweep", pd.Series("", index=same.index)), sweep_of(row_key.get("sweep")))]
        return (mine if len(mine) else same).iloc[0].to_dict()

    def in_other_precision(self, row_key: dict) -> list[dict]:
        """Finished rows of `row_key`'s study (roadmap, recipe, data, resolution, sweep value) trained in
        another precision than it: a result for it would replace one of them or be paired with them."""
        df = self.read()
        if df.empty:
            return []
        study = (df["status"] == "ok") & _same_sweep(df.get("sweep", pd.Series("", index=df.index)),
                                                     sweep_of(row_key.get("sweep")))
        for k in ("roadmap", "recipe_hash", "data_fingerprint", "res"):
            study &= df[k].astype(str) == str(row_key[k])
        known = df["precision"].map(lambda p: isinstance(p, str))  # rows from before the column: unknown
        return df[study & known & (df["precision"] != str(row_key["precision"]))].to_dict(orient="records")

    def reuse(self, hit: dict, row: dict) -> None:
        """Record `hit`'s result as `row`'s: the same network trained once, named twice."""
        ident = ("roadmap", "regime", "step", "label", "group", "adopted", "order", "paper_top1", "paper_std",
                 "paper_gflops", "git_commit", "parent", "design")
        history = self.history(hit["roadmap"], hit["step"], hit["seed"], sweep_of(hit.get("sweep")))
        # a hit that is itself a reuse names the row that trained
        source = hit.get("cached_from") if isinstance(hit.get("cached_from"), str) and hit.get("cached_from") \
            else f"{hit['roadmap']}:{hit['step']}"
        self.put({**hit, **{k: row.get(k) for k in ident}, "sweep": sweep_of(row.get("sweep")), "cached_from": source},
                 history)

    def history(self, roadmap: str, step: str, seed: int, sweep: str = "") -> list[dict]:
        """A variant's epoch records from epochs.csv, oldest first."""
        ep = self._epochs()
        mask = (ep["step"] == step) & (ep["seed"] == seed) & _same_sweep(ep["sweep"], sweep)
        if "roadmap" in ep:
            mask &= ep["roadmap"].isna() | (ep["roadmap"] == roadmap)
        return ep[mask].drop(columns=["roadmap", "step", "seed", "sweep"], errors="ignore").to_dict(orient="records")

    def _epochs(self) -> pd.DataFrame:
        ep = pd.read_csv(self.epochs_path, dtype={"sweep": str}) if self.epochs_path.is_file() \
            else pd.DataFrame(columns=EPOCH_COLUMNS)
        if "sweep" not in ep:  # files from before the column
            ep["sweep"] = ""
        return ep

    def put(self, row: dict, history: list[dict]) -> None:
        with file_lock(self.lock, True, ""):
            # a new result for (roadmap, step, seed) replaces the old row and its epochs
            df = self.read()
            sweep = sweep_of(row.get("sweep"))
            df = df[~((df["roadmap"] == row["roadmap"]) & (df["step"] == row["step"]) & (df["seed"] == row["seed"])
                      & _same_sweep(df.get("sweep", pd.Series("", index=df.index)), sweep))]
            df = _concat(df, pd.DataFrame([row]))
            write_table(df.sort_values(["order", "seed"], kind="stable"), self.path, COLUMNS)
            ep = self._epochs()
            mine = (ep["step"] == row["step"]) & (ep["seed"] == row["seed"]) & _same_sweep(ep["sweep"], sweep)
            if "roadmap" in ep:  # files from before the column: their rows count as this roadmap's,
                # unless this row is another name for a trained one (its epochs belong to that one)
                legacy = ep["roadmap"].isna() & (not row.get("cached_from"))
                mine &= legacy | (ep["roadmap"] == row["roadmap"])
            ep = ep[~mine]
            new = pd.DataFrame([{**h, "roadmap": row["roadmap"], "step": row["step"], "seed": row["seed"],
                                 "sweep": sweep} for h in history])
            write_table(_concat(ep, new), self.epochs_path, EPOCH_COLUMNS)


def _concat(*frames: pd.DataFrame) -> pd.DataFrame:
    """Concatenate, skipping empty frames (pandas warns on them); empty if all are."""
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
