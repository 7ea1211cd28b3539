"""The tiny runs the runner tests train (seconds each): data, recipe settings and a RunConfig, and
the numbers two runs are compared by."""
from pathlib import Path

import pandas as pd
import pytest

from roadmap.runs.runner import RunConfig, run
from roadmap.train import loop

# 1,000 training images, 200 validation images (evaluated every epoch), tiny networks: seconds per variant
FAST = ["epochs=3", "batch_size=50", "batch_per_device=50", "warmup_epochs=0", "lr=0.004"]
DATA = "embedded:100:20"
SMALL = "embedded:50:10"  # for tests of mechanics that compare no numbers across runs and check no learning


def cfg(out, **kw):
    # one thread unless a test says otherwise: the default (the idle cores, sampled) gives 2 whenever the
    # other test worker pauses, and 2 threads beside a busy core run several times slower
    base = dict(upto="step1", recipe="smoke", overrides=FAST, data=DATA, out=str(out), quiet=True, threads=1)
    base.update(kw)
    return RunConfig(**base)


def set_flags(overrides):
    return sum((["--set", s] for s in overrides), [])


def metrics(folder):
    cols = ["step", "seed", "epoch", "train_loss", "val_loss", "top1", "top5", "lr"]
    ep = pd.read_csv(folder / "epochs.csv")[cols].sort_values(["step", "seed", "epoch"], ignore_index=True)
    rows = pd.read_csv(folder / "results.csv")[["step", "seed", "status", "top1", "top5", "images_seen", "threads"]]
    return rows.sort_values(["step", "seed"], ignore_index=True), ep


class _Killed(BaseException):
    """Stands for a kill -9 just after a save: nothing after it runs, nothing catches it."""


def killed_inside_an_epoch(out, monkeypatch, at: tuple[int, int], **kw) -> Path:
    """Train with a save after every update until the save at (epoch index, step), then die there;
    the checkpoint it leaves."""
    save = loop._save_atomic

    def save_then_die(state, path):
        save(state, path)
        if (state["epoch"], (state["within"] or {}).get("step")) == at:
            raise _Killed

    monkeypatch.setattr(loop, "_save_atomic", save_then_die)
    with pytest.raises(_Killed):
        run(cfg(out, checkpoint_minutes=0, **kw))
    monkeypatch.setattr(loop, "_save_atomic", save)
    [checkpoint] = (out / "checkpoints").glob("*.pt")
    return checkpoint
