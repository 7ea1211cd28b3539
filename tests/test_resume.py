"""A stopped, killed or interrupted run resumes from its epoch checkpoints to the numbers of an
unbroken one; a checkpoint never crosses data."""
import os
import signal
import subprocess
import sys
import threading
import time

import pandas as pd
import pytest

from roadmap.cli import main
from roadmap.errors import RoadmapError
from roadmap.runs.lock import file_lock
from roadmap.runs.runner import run
from roadmap.runs.table import read_runs

from quick_runs import DATA, FAST, cfg, metrics, set_flags


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

    capsys.readouterr()
    assert run(cfg(out, upto="step0", threads=1, quiet=False)) == 0
    assert "resuming step0 seed 0 from epoch 1/3" in capsys.readouterr().err
    (rows, epochs), (alone_rows, alone_epochs) = metrics(out), metrics(two_steps)
    assert len(epochs) == 3
    pd.testing.assert_frame_equal(epochs, alone_epochs[alone_epochs["step"] == "step0"])
    pd.testing.assert_frame_equal(rows, alone_rows[alone_rows["step"] == "step0"])


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


def _variant_locks_free(out, names, timeout=20):
    """True once no process holds any of these variants' locks (their trainers are gone)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            for name in names:
                with file_lock(out / "locks" / f"{name}.lock", False, "busy"):
                    pass
            return True
        except RoadmapError:
            time.sleep(0.2)
    return False


@pytest.mark.long(16)
def test_a_stopped_or_killed_two_job_run_resumes_to_the_rows_of_one_job_at_a_time(two_steps, tmp_path, capsys):
    """Only the parent is signalled, first with SIGTERM, then, resumed, with kill -9: its workers go
    with it each time and keep their epoch checkpoints, and the same command finishes both variants
    with the numbers of an unbroken one-job run (so two jobs at a time, started fresh and resumed,
    give the rows of one at a time). The SIGTERM'd run is this test process, as the finishing one
    is: only kill -9 needs another interpreter (each costs seconds of imports, its fork server too)."""
    out = tmp_path / "killed"
    args = ["run", "--upto", "step1", "--data", DATA, "--out", str(out), "--jobs", "2", "--threads", "1", *set_flags(FAST)]
    ckpts = out / "checkpoints"

    def written():  # checkpoint -> when it was last rewritten (every epoch end)
        return {p: p.stat().st_mtime_ns for p in ckpts.glob("*.pt")} if ckpts.is_dir() else {}

    def both_checkpointed_then(signal_it, finished):
        deadline = time.time() + 300
        while len(written()) < 2:
            assert not finished() and time.time() < deadline, "the run ended before both checkpointed"
            time.sleep(0.01)
        signal_it()

    def no_worker_and_no_rows():
        assert _variant_locks_free(out, ["step0-seed0", "step1-seed0"]), "a worker outlived its parent"
        assert not (out / "results.csv").exists()

    # SIGTERM, as a scheduler sends it, to this process alone, from a thread while main() runs the pool
    ended = threading.Event()
    watcher = threading.Thread(target=both_checkpointed_then, daemon=True,
                               args=(lambda: os.kill(os.getpid(), signal.SIGTERM), ended.is_set))
    watcher.start()
    try:
        rc = main(args)
    finally:
        ended.set()
        watcher.join()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # main() left its handler (or, once it fired, SIG_IGN)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    assert rc == 130 and "resumes every unfinished variant" in capsys.readouterr().err
    no_worker_and_no_rows()

    # resumed in another process, then kill -9 once one variant has finished another epoch (at once, as
    # a stat is cheap: 3 epochs of these tiny variants leave little time)
    before = written()
    proc = subprocess.Popen([sys.executable, "-m", "roadmap", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not any(written().get(p, t) != t for p, t in before.items()):
        assert proc.poll() is None and time.time() < deadline, "the resumed run ended before another epoch"
        time.sleep(0.01)
    proc.kill()
    _, err = proc.communicate(timeout=60)
    assert err.count("resuming") == 2
    no_worker_and_no_rows()

    assert main(args) == 0  # the same command again
    assert capsys.readouterr().err.count("resuming") == 2
    for ours, alone in zip(metrics(out), metrics(two_steps)):
        pd.testing.assert_frame_equal(ours, alone)
    df = pd.read_csv(out / "results.csv")
    assert (df["cpu"].str.len() > 0).all() and df["cpu_capability"].notna().all()  # the processor, per row
    assert read_runs(out)[-1]["jobs"] == 2
