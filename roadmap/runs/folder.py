"""A results folder's layout, in one place:

    results.csv     one row per (roadmap, step, seed, sweep)      roadmap.runs.table
    epochs.csv      per-epoch metrics of every row
    run.json        every invocation that trained into the folder
    weights/        STEP-seedN-KEY.safetensors, a finished variant's weights (not committed)
    checkpoints/    STEP-seedN-KEY.pt, the resume checkpoint of a variant in training
    tensorboard/    STEP-seedN/, with --log tensorboard
    jobs/           submitit's logs, with --launcher slurm or local
    locks/, .run.lock, .table.lock

KEY is `roadmap.runs.table.run_key` of the row: a file is never taken for other data or precision.
`RunFolder` names every path and reads each file once; `roadmap.runs.table.read_results` and the
readers of every command go through it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class RunFolder:
    root: Path
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self):
        self.root = Path(self.root.root if isinstance(self.root, RunFolder) else self.root)

    def __str__(self) -> str:  # messages name the folder as the user gave it
        return str(self.root)

    def __fspath__(self) -> str:
        return str(self.root)

    # --- the layout ---------------------------------------------------------------------------
    @property
    def results(self) -> Path:
        return self.root / "results.csv"

    @property
    def epochs(self) -> Path:
        return self.root / "epochs.csv"

    @property
    def run_json(self) -> Path:
        return self.root / "run.json"

    @property
    def jobs(self) -> Path:
        return self.root / "jobs"

    @property
    def run_lock(self) -> Path:
        return self.root / ".run.lock"

    @property
    def table_lock(self) -> Path:
        return self.root / ".table.lock"

    def weights(self, step: str, seed: int, key: str) -> Path:
        return self.root / "weights" / f"{step}-seed{int(seed)}-{key}.safetensors"

    def checkpoint(self, step: str, seed: int, key: str) -> Path:
        return self.root / "checkpoints" / f"{step}-seed{int(seed)}-{key}.pt"

    def tensorboard(self, step: str, seed: int) -> Path:
        return self.root / "tensorboard" / f"{step}-seed{int(seed)}"

    def lock(self, name: str) -> Path:
        return self.root / "locks" / f"{name}.lock"

    # --- reading, once per file -------------------------------------------------------------------
    def read(self, name: str, reader):
        """`reader(path)` of one of the folder's files, read at most once by this RunFolder."""
        if name not in self._cache:
            self._cache[name] = reader(getattr(self, name))
        return self._cache[name]
