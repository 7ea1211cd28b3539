"""`roadmap run --log tensorboard`: one TensorBoard run per variant, DIR/tensorboard/STEP-seedN.

Scalars per epoch, under the names of epochs.csv: loss/train, loss/val, acc/top1, acc/top5, lr,
speed/img_s. A variant taken from the cache is written from epochs.csv once, so a finished
folder can be browsed too. The extra is optional: pip install 'roadmap[tensorboard]'.
"""
from __future__ import annotations

from pathlib import Path

from roadmap.errors import RoadmapError
from roadmap.runs.folder import RunFolder

SCALARS = {"train_loss": "loss/train", "val_loss": "loss/val", "top1": "acc/top1", "top5": "acc/top5",
           "lr": "lr", "img_s": "speed/img_s"}


def require() -> None:
    """Fail before any data loads if the extra is missing."""
    try:
        import torch.utils.tensorboard  # noqa: F401  (it raises ImportError without the package)
    except ImportError:
        raise RoadmapError("--log tensorboard needs the tensorboard package: "
                           "pip install 'roadmap[tensorboard]'") from None


def run_dir(out: Path, step: str, seed: int) -> Path:
    return RunFolder(out).tensorboard(step, seed)


class EpochLogger:
    """Writes each epoch record it is called with; close() flushes the event file.

    The event file opens at the first record, purging what an earlier training of the same variant
    logged from that epoch on (--force, a new recipe in the folder, or a crash after the last
    checkpoint): a run's curves are always one training's."""

    def __init__(self, out: Path, step: str, seed: int, tags: dict[str, str] | None = None):
        self.dir, self.tags, self.writer = run_dir(out, step, seed), tags or {}, None

    def __call__(self, record: dict) -> None:
        if self.writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(self.dir), purge_step=int(record["epoch"]))
            for name, text in self.tags.items():
                self.writer.add_text(name, text, int(record["epoch"]))
        for key, tag in SCALARS.items():
            if key in record and record[key] == record[key]:  # NaN: not measured
                self.writer.add_scalar(tag, float(record[key]), int(record["epoch"]))
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def backfill(out: Path, step: str, seed: int, history: list[dict], tags: dict[str, str] | None = None) -> bool:
    """Write a cached variant's epochs once; False if its run is already there."""
    if run_dir(out, step, seed).is_dir() or not history:
        return False
    log = EpochLogger(out, step, seed, tags)
    for record in history:
        log(record)
    log.close()
    return True
