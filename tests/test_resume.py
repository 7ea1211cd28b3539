"""A stopped, killed or interrupted run resumes from its checkpoints (at epoch ends, or inside an
epoch) to the numbers of an unbroken one; a checkpoint never crosses data. (A two-job run stopped
and killed, and a checkpoint refused under torchrun: test_jobs.)"""
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch

from roadmap.cli import main
from roadmap.errors import RoadmapError
from roadmap.runs.runner import run
from roadmap.train.loop import checkpoint_epochs

from quick_runs import DATA, FAST, SMALL, cfg, killed_inside_an_epoch, metrics, set_flags


@pytest.mark.long(8)
def test_a_killed_run_resumes_to_identical_metrics(two_steps, tmp_path, capsys):
    """kill -9 of a one-job run (its trainer in the run's own process) after the first epoch: the same
    run, resumed, ends with the numbers of the unbroken one (two_steps' step0)."""
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "roadmap", "run", "--upto", "step0", "--data", DATA, "--quiet",
                             "--threads", "1", "--out", str(out), *set_flags(FAST)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    ckpts = out / "checkpoints"
    deadline = time.time() + 300
    while not (ckpts.is_dir() and any(ckpts.glob("*.pt"))):  # the first epoch is done: kill the rest
        assert proc.poll() is None and time.time() < deadline, "the run ended before its first checkpoint"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "results.csv").exists()
    assert [checkpoint_epochs(p) for p in ckpts.glob("*.pt")] == [1]  # what the queue is ordered by

    capsys.readouterr()
    assert run(cfg(out, upto="step0", threads=1, quiet=False)) == 0
    assert "resuming step0 seed 0 from epoch 1/3" in capsys.readouterr().err
    (rows, epochs), (alone_rows, alone_epochs) = metrics(out), metrics(two_steps)
    assert len(epochs) == 3
    pd.testing.assert_frame_equal(epochs, alone_epochs[alone_epochs["step"] == "step0"])
    pd.testing.assert_frame_equal(rows, alone_rows[alone_rows["step"] == "step0"])


def _plain(x) -> bool:
    """Nothing torch.load's map_location could move to a device, nor an array another numpy unpickles."""
    if isinstance(x, (list, tuple)):
        return all(map(_plain, x))
    return x is None or isinstance(x, (bytes, int, float, str))


@pytest.mark.parametrize("pipeline,micro", [("in-memory batched", 50), ("per-sample PIL", 50),
                                            ("in-memory batched", 10)])
def test_a_run_killed_inside_an_epoch_resumes_there_to_identical_metrics(pipeline, micro, tmp_path, monkeypatch,
                                                                         capsys):
    """--checkpoint-minutes 0 saves after every update; killed after the second update of epoch 2,
    the run goes on from there to the numbers of an unbroken one, with every random draw of the
    recipe: order, crops, RandAugment (per-sample), mixup, erasing, drop path and EMA; and with
    gradients accumulated over five batches of 10."""
    drawn = FAST + ["mixup=0.8", "reprob=0.25", "drop_path=0.1", "ema=true", "ema_decay=0.9",
                    f"batch_per_device={micro}"]
    drawn += ["aa=rand-m9-mstd0.5"] if pipeline == "per-sample PIL" else []
    small = dict(upto="step0", overrides=drawn, data="embedded:20:10")  # 4 updates an epoch
    assert run(cfg(tmp_path / "unbroken", **small)) == 0  # no save inside an epoch: 10 minutes never pass
    steps = 4 * 50 // micro
    checkpoint = killed_inside_an_epoch(tmp_path / "killed", monkeypatch, (1, 2 * 50 // micro), **small)
    assert checkpoint_epochs(checkpoint) == 1.5  # the queue's order counts the half epoch
    assert _plain(list(torch.load(checkpoint, weights_only=False)["within"]["rng"].values()))
    assert run(cfg(tmp_path / "killed", **small, quiet=False)) == 0
    assert f"resuming step0 seed 0 from epoch 1/3, step {steps // 2}/{steps}" in capsys.readouterr().err
    (rows, epochs), (alone_rows, alone_epochs) = metrics(tmp_path / "killed"), metrics(tmp_path / "unbroken")
    assert pd.read_csv(tmp_path / "killed" / "results.csv")["pipeline"].tolist() == [pipeline]
    pd.testing.assert_frame_equal(epochs, alone_epochs)
    pd.testing.assert_frame_equal(rows, alone_rows)


def test_a_broken_checkpoint_stops_the_run_with_one_sentence(tmp_path, monkeypatch):
    checkpoint = killed_inside_an_epoch(tmp_path, monkeypatch, (0, 2), upto="step0", data=SMALL)
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])
    with pytest.raises(RoadmapError, match=r"checkpoint .* cannot be read \(.*\); delete it to train this variant"):
        run(cfg(tmp_path, upto="step0", data=SMALL))
    assert checkpoint.is_file()  # not deleted for the user: it may be worth a look


def test_sigterm_ends_like_ctrl_c(monkeypatch, capsys):
    import roadmap.cli.show as show
    monkeypatch.setattr(show, "show", lambda *a: os.kill(os.getpid(), signal.SIGTERM))
    try:
        assert main(["show", "step0"]) == 130
        assert "interrupted; the same command resumes" in capsys.readouterr().err
        # a second SIGTERM (timeout forwarding one, then a kill) cannot break the clean-up the first began
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)


def test_a_checkpoint_is_never_resumed_for_other_data(tmp_path):
    """Both are 'embedded' and share a folder; the second must train on its own 100 images."""
    small = FAST + ["epochs=1", "batch_size=20", "batch_per_device=20"]
    assert run(cfg(tmp_path, upto="step0", overrides=small, data="embedded:20:10")) == 0
    assert run(cfg(tmp_path, upto="step0", overrides=small, data="embedded:10:10")) == 0
    df = pd.read_csv(tmp_path / "results.csv")
    assert len(df) == 1 and df["images_seen"].item() == 100  # the row of the last run, from its own data
    assert len(list((tmp_path / "weights").glob("*.safetensors"))) == 2  # one per data, named by the key


def test_a_missing_or_unreadable_checkpoint_holds_no_epochs(tmp_path):
    """The queue's order must not stop a run: train() is what says a checkpoint is broken."""
    bad = tmp_path / "step0-seed0-0123456789ab.pt"
    assert checkpoint_epochs(bad) == 0
    bad.write_bytes(b"not a checkpoint")
    assert checkpoint_epochs(bad) == 0
