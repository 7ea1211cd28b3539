"""Several variants at once: --jobs workers (stopped and killed too), the local and Slurm launchers
(submitit), and DDP under torchrun. The pool's tests share this module, so that one test process
starts a fork server for them all."""
import os
import signal
import subprocess
import sys
import threading
import time

import pandas as pd
import pytest
import torch

import roadmap
from roadmap.arch.scale import scale_spec
from roadmap.cli import main
from roadmap.errors import RoadmapError
from roadmap.runs import pool
from roadmap.runs.lock import file_lock
from roadmap.runs.runner import RunConfig, run
from roadmap.runs.table import read_runs
from roadmap.train.augment import image_transforms
from roadmap.train.data import load_data
from roadmap.train.loop import evaluate
from roadmap.train.recipe import load_recipe

from quick_runs import DATA, FAST, SMALL, cfg, killed_inside_an_epoch, metrics, set_flags


def _environment_variable(key: str):
    return os.environ.get(key)


def _shared(_):
    return pool.shared()


def test_pool_workers_get_the_directory_environment_and_data_of_their_run(tmp_path, monkeypatch):
    """Workers fork from a server started by this process's first pooled run, elsewhere and before
    later changes of the environment; a run still hands its workers its own."""
    from multiprocessing import forkserver
    pool._context()
    forkserver.ensure_running()  # now, unless an earlier run of this process started it
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ROADMAP_TEST_VALUE", "this run's")
    got = {}
    pool.run_all(_environment_variable, ["ROADMAP_TEST_VALUE"], jobs=1, threads=1, progress=None,
                 on_result=lambda key, value: got.update({key: value}))
    pool.run_all(os.path.abspath, ["."], jobs=1, threads=1, progress=None,
                 on_result=lambda key, value: got.update({key: value}))
    assert got == {"ROADMAP_TEST_VALUE": "this run's", ".": str(tmp_path)}
    pool.run_all(_shared, ["data"], jobs=1, threads=1, progress=None, shared={"x": [1, 2]},
                 on_result=lambda key, value: got.update({key: value}))
    assert got["data"] == {"x": [1, 2]}  # handed over once per worker (the run's loaded data)


def test_one_variant_failing_leaves_the_others_row_and_exits_1(tmp_path):
    # trunc-normal init (no zero-initialised branch ends) and a layer scale at bf16's limit: inf, then NaN
    steps = tmp_path / "nan.yaml"
    steps.write_text("name: nan-test\nbase: resnet50\nsteps:\n  - id: step0\n    label: ResNet-50\n"
                     "  - id: blowup\n    label: layer scale 3e38\n    transforms:\n      - separate_downsampling\n"
                     "      - layer_scale: {init: 3.0e+38}\n")
    assert run(cfg(tmp_path / "out", roadmap=str(steps), upto=None, overrides=FAST + ["epochs=1"], jobs=2,
                   threads=1)) == 1
    df = pd.read_csv(tmp_path / "out" / "results.csv").set_index("step")
    assert df.loc["step0", "status"] == "ok" and df.loc["step0", "top1"] > 10
    assert df.loc["blowup", "status"] == "failed" and "loss became nan" in df.loc["blowup", "error"]


def test_jobs_run_longest_first(tmp_path, monkeypatch):
    from roadmap.runs import runner
    queued = []
    monkeypatch.setattr(runner.pool, "run_all", lambda fn, tasks, *a, **k: queued.extend(tasks))
    assert run(cfg(tmp_path, upto=None, only=["step0", "step3.depthwise", "step3.width"], jobs=2)) == 0
    assert [v.step for v in queued] == ["step3.width", "step0", "step3.depthwise"]  # most GFLOPs first
    assert queued[0].cost > queued[1].cost > queued[2].cost


def test_jobs_run_the_most_work_left_first(tmp_path, monkeypatch):
    """A resumed variant counts only the epochs its checkpoint does not hold: the biggest network,
    two of its three epochs done, waits behind fresh smaller ones; --force counts them all again."""
    from roadmap.runs import runner
    queued = []
    monkeypatch.setattr(runner.pool, "run_all", lambda fn, tasks, *a, **k: queued.extend(tasks))
    monkeypatch.setattr(runner, "checkpoint_epochs", lambda path: 2 if path.name.startswith("step3.width-") else 0)
    assert run(cfg(tmp_path, upto=None, only=["step0", "step3.depthwise", "step3.width"], jobs=2)) == 0
    assert [v.step for v in queued] == ["step0", "step3.depthwise", "step3.width"]
    resumed = queued[-1].cost
    queued.clear()
    assert run(cfg(tmp_path, upto=None, only=["step0", "step3.width"], jobs=2, force=True)) == 0
    assert [v.step for v in queued] == ["step3.width", "step0"] and queued[0].cost == pytest.approx(3 * resumed)


def test_the_local_launcher_keeps_the_jobs_cap(monkeypatch, capsys):
    """submitit's local executor starts whatever it is given: the launcher hands it --jobs at a time."""
    from roadmap.runs import launch
    running, most = [], [0]

    class Job:
        job_id, polls = "1", 0

        def done(self):
            self.polls += 1
            if self.polls > 2 and self in running:
                running.remove(self)
            return self not in running

        def result(self):
            return 0

    class Executor:
        def submit(self, job):
            assert job.cfg.threads == 1 and job.cfg.jobs == 1
            running.append(Job())
            most[0] = max(most[0], len(running))
            return running[-1]

    monkeypatch.setattr(launch.time, "sleep", lambda s: None)
    todo = [(0, roadmap.load("convnext-t").step("step0"), seed) for seed in range(5)]
    assert launch._local(Executor(), todo, [RunConfig(jobs=1)] * 5, RunConfig(jobs=2, threads=1)) == 0
    assert most[0] == 2 and not running
    assert capsys.readouterr().out.count(": job 1") == 5


def test_a_job_count_that_is_not_a_number_is_one_sentence(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["run", "--upto", "step0", "--data", DATA, "--out", str(tmp_path), "--jobs", "two"])
    assert stop.value.code == 2 and "'two' is not a number of jobs" in capsys.readouterr().err


@pytest.mark.long(10)
def test_ddp_with_two_gloo_processes_trains_one_model(tmp_path):
    """Two processes train one model: evaluating rank 0's final weights here on the whole val set gives
    the row's numbers, which both ranks computed on their halves. Diverged ranks (no gradient sync) or a
    wrong sum over ranks would not. step7 has no BatchNorm buffers, which stay per rank."""
    overrides = FAST + ["batch_per_device=25", "epochs=1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29517",
                        "-m", "roadmap", "run", "--only", "step7", "--data", SMALL, "--quiet", "--out", str(tmp_path),
                        *set_flags(overrides)], capture_output=True, text=True, env=env, timeout=600)
    # the cause of a failed rank is near the start of stderr, torchrun's summary at its end
    assert r.returncode == 0, r.stderr[:4000] + "\n...\n" + r.stderr[-1500:]
    row = pd.read_csv(tmp_path / "results.csv").squeeze()
    assert row["status"] == "ok" and row["images_seen"] == 500  # both processes' halves counted once
    val_loss = pd.read_csv(tmp_path / "epochs.csv")["val_loss"].item()

    recipe = load_recipe("smoke", overrides)
    model = roadmap.load_model(tmp_path, "step7")  # rank 0 wrote the weights file
    assert model.spec == scale_spec(roadmap.load("convnext-t").spec("step7"), **vars(recipe.scaling))
    data = load_data(SMALL)
    data.val.transform = image_transforms(recipe, data.image_size)[1]
    loader = torch.utils.data.DataLoader(data.val, batch_size=25)
    top1, _, loss, _ = evaluate(model, loader, torch.device("cpu"), amp=False)
    two_images = 200 / len(data.val)  # percent: a near tie may fall the other way in another batching
    assert top1 == pytest.approx(row["top1"], abs=two_images) and loss == pytest.approx(val_loss, rel=1e-3)


def test_a_checkpoint_saved_inside_an_epoch_by_one_process_is_refused_under_torchrun(tmp_path, monkeypatch):
    """Two ranks would each skip the one process's steps of their half and share its random state:
    they stop with one sentence, and the checkpoint stays for the run that can resume it."""
    overrides = FAST + ["batch_per_device=25", "epochs=1"]
    checkpoint = killed_inside_an_epoch(tmp_path, monkeypatch, (0, 4), only=["step7"], upto=None, data=SMALL,
                                        overrides=overrides)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29518",
                        "-m", "roadmap", "run", "--only", "step7", "--data", SMALL, "--quiet", "--out", str(tmp_path),
                        *set_flags(overrides)], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode != 0 and not (tmp_path / "results.csv").exists()
    assert "was saved inside epoch 1 by 1 process(es) and resumes only with as many (this run has 2)" in r.stderr
    assert checkpoint.is_file()


@pytest.mark.long(6)
def test_slurm_jobs_through_submitits_local_executor(tmp_path, capsys):
    assert main(["run", "--upto", "step0", "--data", SMALL, "--out", str(tmp_path), "--launcher", "local",
                 "--threads", "1", *set_flags(FAST), "--set", "epochs=1"]) == 0
    assert "step0 seed 0: job" in capsys.readouterr().out
    df = pd.read_csv(tmp_path / "results.csv")
    assert df["status"].item() == "ok" and df["epochs"].item() == 1


def test_the_fork_server_starts_before_the_trainer_is_imported_only_where_a_pool_may_run(monkeypatch):
    """`roadmap run --jobs N` starts the pool's fork server first, so that its imports overlap the run's
    own; not for one job or the default (which may train a single variant), nor in a process of
    torchrun's (which trains one variant with its ranks)."""
    from roadmap.cli.run import _may_pool
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert _may_pool(2) and not _may_pool(1) and not _may_pool(None)
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert not _may_pool(2)

    started = []
    monkeypatch.setattr(pool, "start_early", lambda: started.append("fork server"))
    monkeypatch.setenv("WORLD_SIZE", "1")
    import roadmap.runs.runner as runner
    monkeypatch.setattr(runner, "run", lambda cfg: started.append(cfg.jobs) or 0)
    assert main(["run", "--upto", "step0", "--jobs", "2"]) == 0 and started == ["fork server", 2]
    started.clear()
    assert main(["run", "--upto", "step0"]) == 0 and started == [None]


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

    def no_worker_and_no_rows():
        assert _variant_locks_free(out, ["step0-seed0", "step1-seed0"]), "a worker outlived its parent"
        assert not (out / "results.csv").exists()

    # SIGTERM, as a scheduler sends it, to this process alone, from a thread while main() runs the pool.
    # Never after main() has returned: pytest would take that KeyboardInterrupt for the user's Ctrl-C
    # and stop this worker's whole session, hiding the failure.
    lock, ended, missed = threading.Lock(), [], []

    def sigterm_once_both_checkpointed():
        deadline = time.time() + 300
        while time.time() < deadline:
            with lock:
                if ended:
                    return missed.append("the run ended before both variants checkpointed")
                if len(written()) >= 2:
                    return os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.01)
        missed.append("no two checkpoints within 300 s")

    handlers = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    watcher = threading.Thread(target=sigterm_once_both_checkpointed, daemon=True)
    watcher.start()
    try:
        try:
            rc = main(args)
        finally:
            with lock:
                ended.append(True)
    except KeyboardInterrupt:  # sent in the moment between main()'s return and the lock
        pytest.fail("the SIGTERM reached the test after main() had returned")
    finally:
        watcher.join()
        signal.signal(signal.SIGTERM, handlers[0])  # main() installed its own (or, once it fired, SIG_IGN)
        signal.signal(signal.SIGINT, handlers[1])
    assert not missed, missed
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
