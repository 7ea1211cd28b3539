"""The runner on the embedded data: table, caching, exact resume, DDP, Slurm (local) and errors."""
import os
import signal
import subprocess
import sys
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
from roadmap.runs.table import COLUMNS, EPOCH_COLUMNS, read_runs
from roadmap.train.augment import image_transforms
from roadmap.train.data import load_data
from roadmap.train.batches import InMemoryBatches
from roadmap.train.loop import evaluate
from roadmap.train.precision import keep_depthwise_fp32
from roadmap.train.recipe import load_recipe

# 1,000 training images, 200 validation images (evaluated every epoch), tiny networks: seconds per variant
FAST = ["epochs=3", "batch_size=50", "batch_per_device=50", "warmup_epochs=0", "lr=0.004"]
DATA = "embedded:100:20"


def cfg(out, **kw):
    # one thread unless a test says otherwise: the default (the idle cores, sampled) gives 2 whenever the
    # other test worker pauses, and 2 threads beside a busy core run several times slower
    base = dict(upto="step1", recipe="smoke", overrides=FAST, data=DATA, out=str(out), quiet=True, threads=1)
    base.update(kw)
    return RunConfig(**base)


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "roadmap", *args], capture_output=True, text=True, env=env)


def _set(overrides):
    return sum((["--set", s] for s in overrides), [])


@pytest.fixture(scope="module")
def two_steps(tmp_path_factory):
    out = tmp_path_factory.mktemp("two-steps")
    ambient = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert run(cfg(out, log=["tensorboard"], threads=1)) == 0  # one thread: also fast on a busy machine
        assert torch.get_num_threads() == 2  # the caller's count is restored
    finally:
        torch.set_num_threads(ambient)
    return out


def test_a_two_step_run_writes_the_tidy_table(two_steps):
    df = pd.read_csv(two_steps / "results.csv")
    assert list(df.columns) == COLUMNS
    assert list(df["step"]) == ["step0", "step1"] and (df["status"] == "ok").all()
    assert (df["top1"] > 20).all(), "10 classes: chance is 10%"
    assert (df["images_seen"] == 3 * 1000).all() and (df["epochs"] == 3).all()
    assert df["params"].iloc[0] != df["params"].iloc[1] and (df["gflops"] > 0).all()
    for col in ("torch", "timm", "git_commit", "spec_hash", "recipe_hash", "data_fingerprint", "device"):
        assert df[col].notna().all(), col
    # each row says what it is: its parent (step0 has none), design and every scale knob
    assert df["parent"].fillna("").tolist() == ["", "step0"] and (df["design"] == "path").all()
    assert (df[["width_mult", "depth_mult", "stem_stride"]].values == [0.25, 0.34, 2]).all()
    ep = pd.read_csv(two_steps / "epochs.csv")
    assert list(ep.columns) == EPOCH_COLUMNS and len(ep) == 6
    assert (two_steps / "run.json").is_file()


def test_a_rerun_trains_nothing(two_steps, capsys):
    before = pd.read_csv(two_steps / "results.csv")
    weights = {p: p.stat().st_mtime_ns for p in (two_steps / "weights").glob("*.safetensors")}
    assert len(weights) == 2 and not list((two_steps / "checkpoints").glob("*.pt"))  # resume state: gone
    capsys.readouterr()
    assert run(cfg(two_steps)) == 0
    assert len(read_runs(two_steps)) >= 2  # run.json keeps every invocation
    said = capsys.readouterr()
    quiet = said.out.splitlines()  # --quiet: the results and nothing else, and where they are
    assert quiet[0].split() == ["step", "seed", "status", "top1"] and len(quiet) == 3 and " ok " in quiet[1]
    assert f"results: {two_steps / 'results.csv'}" in said.err
    after = pd.read_csv(two_steps / "results.csv")
    pd.testing.assert_frame_equal(before, after)  # finished_at included: nothing was retrained
    assert {p: p.stat().st_mtime_ns for p in (two_steps / "weights").glob("*.safetensors")} == weights


def test_a_changed_recipe_is_not_taken_from_the_cache(two_steps, tmp_path):
    out = tmp_path / "copy"
    out.mkdir()
    (out / "results.csv").write_text((two_steps / "results.csv").read_text())
    assert run(cfg(out, upto="step0", overrides=FAST + ["epochs=1"])) == 0
    df = pd.read_csv(out / "results.csv")
    assert df.loc[df["step"] == "step0", "epochs"].item() == 1  # replaced, not duplicated
    assert len(df) == 2


@pytest.mark.long
def test_a_killed_run_resumes_to_identical_metrics(two_steps, tmp_path, capsys):
    """kill -9 of a one-job run (its trainer in the run's own process) after the first epoch: the same
    run, resumed, ends with the numbers of the unbroken one (two_steps' step0)."""
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "roadmap", "run", "--upto", "step0", "--data", DATA, "--quiet",
                             "--threads", "1", "--out", str(out), *_set(FAST)],
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
    (rows, epochs), (alone_rows, alone_epochs) = _metrics(out), _metrics(two_steps)
    assert len(epochs) == 3
    pd.testing.assert_frame_equal(epochs, alone_epochs[alone_epochs["step"] == "step0"])
    pd.testing.assert_frame_equal(rows, alone_rows[alone_rows["step"] == "step0"])


@pytest.mark.long
def test_ddp_with_two_gloo_processes_trains_one_model(tmp_path):
    """Two processes train one model: evaluating rank 0's final weights here on the whole val set gives
    the row's numbers, which both ranks computed on their halves. Diverged ranks (no gradient sync) or a
    wrong sum over ranks would not. step7 has no BatchNorm buffers, which stay per rank."""
    overrides = FAST + ["batch_per_device=25", "epochs=1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29517",
                        "-m", "roadmap", "run", "--only", "step7", "--data", DATA, "--quiet", "--out", str(tmp_path),
                        *_set(overrides)], capture_output=True, text=True, env=env, timeout=600)
    # the cause of a failed rank is near the start of stderr, torchrun's summary at its end
    assert r.returncode == 0, r.stderr[:4000] + "\n...\n" + r.stderr[-1500:]
    row = pd.read_csv(tmp_path / "results.csv").squeeze()
    assert row["status"] == "ok" and row["images_seen"] == 1000  # both processes' halves counted once
    val_loss = pd.read_csv(tmp_path / "epochs.csv")["val_loss"].item()

    recipe = load_recipe("smoke", overrides)
    model = roadmap.load_model(tmp_path, "step7")  # rank 0 wrote the weights file
    assert model.spec == scale_spec(roadmap.load("convnext-t").spec("step7"), **vars(recipe.scaling))
    data = load_data(DATA)
    data.val.transform = image_transforms(recipe, data.image_size)[1]
    loader = torch.utils.data.DataLoader(data.val, batch_size=25)
    top1, _, loss, _ = evaluate(model, loader, torch.device("cpu"), amp=False)
    assert top1 == pytest.approx(row["top1"], abs=0.2) and loss == pytest.approx(val_loss, rel=1e-3)


@pytest.mark.long
def test_slurm_jobs_through_submitits_local_executor(tmp_path, capsys):
    assert main(["run", "--upto", "step0", "--data", DATA, "--out", str(tmp_path), "--launcher", "local",
                 "--threads", "1", *_set(FAST), "--set", "epochs=1"]) == 0
    assert "step0 seed 0: job" in capsys.readouterr().out
    df = pd.read_csv(tmp_path / "results.csv")
    assert df["status"].item() == "ok" and df["epochs"].item() == 1


def test_a_nan_loss_marks_the_variant_failed_and_the_run_goes_on(tmp_path):
    rc = run(cfg(tmp_path, overrides=FAST + ["lr=1e30", "epochs=1"]))
    assert rc == 1
    df = pd.read_csv(tmp_path / "results.csv")
    assert list(df["step"]) == ["step0", "step1"]
    assert (df["status"] == "failed").all() and df["error"].str.contains("loss became").all()


def test_a_second_run_on_the_same_folder_is_refused_before_the_data_loads(tmp_path, monkeypatch):
    import roadmap.runs.runner as runner
    monkeypatch.setattr(runner, "load_data", lambda *a: pytest.fail("data loaded for a busy folder"))
    with file_lock(tmp_path / ".run.lock", False, "busy"):
        with pytest.raises(RoadmapError, match="is in use by another roadmap run"):
            run(cfg(tmp_path))
    assert not (tmp_path / "results.csv").exists()


@pytest.mark.parametrize("args,message", [
    (["--data", "no/such/folder"], "no such file or directory"),
    (["--upto", "step9"], "has no step 'step9'"),
    (["--recipe", "nonesuch"], "unknown recipe 'nonesuch'"),
    (["--set", "epochz=3"], "unknown setting 'epochz'"),
    (["--set", "epochs"], "expected key=value"),
    (["--data", "embedded:x"], "use embedded:N with N training images per class"),
    (["--data", "../nowhere:5"], "data source ../nowhere: no such file or directory"),
    (["--data", "embedded:100000"], "the embedded set generates at most 5,000 training or validation images per class"),
    (["--data", "CIFAR:abc"], "'abc' is not a number (PATH:N takes N training images per class)"),
    (["--upto", "step1", "--only", "step0"], "--upto and --only both choose the steps to train"),
    (["--jobs", "0"], "--jobs must be at least 1"),
])
def test_bad_input_is_one_sentence_and_exit_2(tmp_path, args, message, capsys):
    (tmp_path / "CIFAR").mkdir()  # a folder, so CIFAR:abc is a typo of CIFAR:N, not a path
    args = [str(tmp_path / a) if a.startswith("CIFAR") else a for a in args]
    assert main(["run", "--out", str(tmp_path / "out"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and err.startswith("roadmap: error: ")
    assert not (tmp_path / "out").exists(), "a run that wrote nothing leaves no folder behind"


def test_a_folder_holding_something_else_is_refused(tmp_path):
    (tmp_path / "results.csv").write_text("name,score\nalice,3\n")
    with pytest.raises(RoadmapError, match="not a roadmap results table"):
        run(cfg(tmp_path))
    assert (tmp_path / "results.csv").read_text() == "name,score\nalice,3\n"


def test_the_same_seed_gives_the_same_table_in_another_folder(tmp_path, two_steps):
    """CPU determinism: a fresh run of a committed row's command repeats its numbers exactly, with the
    thread count the row records (bf16 sums are split by thread, so another count moves the last bits)."""
    assert run(cfg(tmp_path / "again", upto="step0", threads=1)) == 0
    cols = ["epoch", "train_loss", "val_loss", "top1", "top5", "lr"]
    a = pd.read_csv(two_steps / "epochs.csv").query("step == 'step0'")[cols].reset_index(drop=True)
    b = pd.read_csv(tmp_path / "again" / "epochs.csv")[cols]
    pd.testing.assert_frame_equal(a, b)
    row = pd.read_csv(tmp_path / "again" / "results.csv").squeeze()
    assert row["pipeline"] == "in-memory batched" and row["precision"] in ("bf16 except depthwise", "fp32")


@pytest.mark.parametrize("setting,message", [
    ("lr=abc", "lr must be a number, not 'abc'"),
    ("warmup_epochs=abc", "warmup_epochs must be a whole number from 0"),
    ("betas=abc", "betas must be a pair [a, b]"),
    ("opt=sgdx", "opt must be an optimizer in timm's registry"),
    ("sched=foo", "sched must be one of cosine"),
    ("aa=garbage", "aa must be a timm auto-augment string"),
    ("drop_path=abc", "drop_path must be a number"),
    ("res=abc", "res must be a whole number from 8"),
    ("epochs=0", "epochs must be a whole number from 1"),
    ("scale=[0.9, 0.5]", "scale must be a pair [low, high]"),
])
def test_recipe_overrides_are_checked_before_any_data_loads(tmp_path, setting, message, capsys, monkeypatch):
    import roadmap.runs.runner as runner
    monkeypatch.setattr(runner, "load_data", lambda *a: pytest.fail("data loaded before the recipe was checked"))
    assert main(["run", "--out", str(tmp_path / "out"), "--set", setting]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_one_value_has_one_spelling_and_one_hash():
    hashes = {load_recipe("smoke", [f"lr={v}"]).hash for v in ("3e-3", "0.003", "3.0e-3")}
    assert hashes == {load_recipe("smoke").hash}  # the shipped value, so cached rows stay valid
    assert load_recipe("smoke", ["lr=3e-3"]).lr == 0.003


def test_results_files_honour_the_umask(two_steps):
    weights = sorted((two_steps / "weights").glob("*.safetensors"))  # safetensors writes 0600 by itself
    for path in [two_steps / name for name in ("results.csv", "epochs.csv", "run.json")] + weights:
        assert path.stat().st_mode & 0o777 == 0o666 & ~_umask(), path.name


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_an_unwritable_output_is_one_sentence(tmp_path, two_steps, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(["report", str(two_steps), "-o", str(blocker / "report.md")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("roadmap: error: cannot write or read") and str(blocker) in err
    assert len(err.strip().splitlines()) == 1


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


def test_a_folder_trained_with_two_settings_says_so_row_by_row(two_steps, tmp_path):
    from roadmap.present.aggregate import run_facts
    out = tmp_path / "mixed"
    out.mkdir()
    (out / "results.csv").write_text((two_steps / "results.csv").read_text())
    assert run(cfg(out, upto="step0", overrides=FAST + ["epochs=1", "lr=2e-3"])) == 0
    df = pd.read_csv(out / "results.csv").set_index("step")
    assert df.loc["step0", "recipe_overrides"] == "epochs=1 batch_size=50 batch_per_device=50 warmup_epochs=0 lr=0.002"
    assert df.loc["step1", "recipe_overrides"] == "epochs=3 batch_size=50 batch_per_device=50 warmup_epochs=0 lr=0.004"
    facts = run_facts(df.reset_index(), {})
    assert "(differs by row)" in str(facts["epochs"])


@pytest.mark.parametrize("column,value,message", [
    ("top1", "abc", "top1 'abc' is not an accuracy"),
    ("seed", "x", "seed 'x' is not a seed"),
    ("status", "done", "status 'done' is not one of ok, failed"),
    ("threads", "2.5", "threads 2.5 is not a thread count"),
])
def test_a_hand_edited_table_is_refused_by_line_and_left_alone(two_steps, tmp_path, column, value, message,
                                                                capsys):
    out = tmp_path / "edited"
    out.mkdir()
    df = pd.read_csv(two_steps / "results.csv")
    df[column] = df[column].astype(object)
    df.loc[1, column] = value
    df.to_csv(out / "results.csv", index=False)
    before = (out / "results.csv").read_bytes()
    assert main(["report", str(out)]) == 2
    assert f"results.csv, line 3: {message}" in capsys.readouterr().err
    with pytest.raises(RoadmapError, match="line 3"):
        run(cfg(out))
    assert (out / "results.csv").read_bytes() == before


def test_thread_counts_stay_whole_numbers_beside_rows_from_before_the_column(two_steps, tmp_path):
    from roadmap.runs.table import COLUMNS, Table, write_table
    out = tmp_path / "older"
    out.mkdir()
    df = pd.read_csv(two_steps / "results.csv")
    df.loc[0, "threads"] = None  # a row from before the column: pandas writes the other as "1.0"
    df.to_csv(out / "results.csv", index=False)
    table = Table(out).read()
    assert table["threads"].isna().iloc[0] and table["threads"].iloc[1] == 1
    write_table(table, out / "results.csv", COLUMNS)
    assert pd.read_csv(out / "results.csv", dtype=str)["threads"].tolist()[1] == "1"


def test_a_checkpoint_is_never_resumed_for_other_data(tmp_path):
    """Both are 'embedded' and share a folder; the second must train on its own 100 images."""
    small = FAST + ["epochs=1", "batch_size=20", "batch_per_device=20"]
    assert run(cfg(tmp_path, upto="step0", overrides=small, data="embedded:20:10")) == 0
    assert run(cfg(tmp_path, upto="step0", overrides=small, data="embedded:10:10")) == 0
    df = pd.read_csv(tmp_path / "results.csv")
    assert len(df) == 1 and df["images_seen"].item() == 100  # the row of the last run, from its own data
    assert len(list((tmp_path / "weights").glob("*.safetensors"))) == 2  # one per data, named by the key


def test_too_little_data_for_a_batch_names_both_settings(tmp_path):
    with pytest.raises(RoadmapError, match="--set batch_size=N --set batch_per_device=N"):
        run(cfg(tmp_path, upto="step0", data="embedded:2"))


def test_a_log_without_a_terminal_hears_from_a_long_epoch_every_30_s(monkeypatch):
    import io

    from roadmap.runs import progress as progress_module
    clock = [1000.0]
    monkeypatch.setattr(progress_module.time, "time", lambda: clock[0])
    log = io.StringIO()
    p = progress_module.Progress(1, stream=log)
    p.start("step0 seed 0")
    for i in range(10):  # ten progress calls, 10 s apart: a line at 30, 60 and 90 s
        clock[0] += 10
        p.step("step0 seed 0", 0, 6, i, 100, 1.5, 900.0)
    lines = log.getvalue().splitlines()
    assert len(lines) == 3 and all("step0 seed 0 epoch 1/6 step" in line for line in lines)


def test_a_trained_variant_reloads_with_the_same_top1(two_steps):
    """load_model: the spec, scale and class count come from the folder; evaluated as the trainer
    evaluates (same precision, same batches), the weights give the row's top-1 exactly."""
    row = pd.read_csv(two_steps / "results.csv").query("step == 'step1'").squeeze()
    model = roadmap.load_model(two_steps, "step1", seed=0)
    assert model.spec.hash == row["spec_hash"] and model.num_classes == 10 and len(model.classes) == 10
    data, recipe = load_data(DATA), load_recipe("smoke", FAST)
    amp = row["precision"] != "fp32"
    if amp:
        keep_depthwise_fp32(model)
    batches = InMemoryBatches(data.val, 50, torch.device("cpu"), recipe, int(row["res"]), train=False)
    top1 = evaluate(model.to(memory_format=torch.channels_last), batches, torch.device("cpu"), amp)[0]
    assert top1 == row["top1"]


def test_export_writes_the_spec_beside_the_weights(two_steps, tmp_path, capsys):
    dest = tmp_path / "step1.safetensors"
    assert main(["export", str(two_steps), "step1", "-o", str(dest)]) == 0
    from safetensors import safe_open
    with safe_open(str(dest), framework="pt") as f:
        meta = f.metadata()
    assert roadmap.Spec.from_yaml(meta["spec"]).hash == meta["spec_hash"] and meta["step"] == "step1"
    a, b = roadmap.load_model(dest), roadmap.load_model(two_steps, "step1")
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(a(x), b(x))
    assert main(["export", str(two_steps), "step7", "-o", str(dest)]) == 2
    assert "has no finished step7 seed 0; finished steps: step0, step1" in capsys.readouterr().err
    from safetensors.torch import save_file
    save_file({"w": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(RoadmapError, match="holds no roadmap spec"):
        roadmap.load_model(tmp_path / "other.safetensors")


def test_tensorboard_holds_each_epochs_scalars(two_steps):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    epochs = pd.read_csv(two_steps / "epochs.csv").query("step == 'step1'")
    events = EventAccumulator(str(two_steps / "tensorboard" / "step1-seed0")).Reload()
    assert {"loss/train", "loss/val", "acc/top1", "acc/top5", "lr", "speed/img_s"} <= set(events.Tags()["scalars"])
    top1 = events.Scalars("acc/top1")
    assert [e.step for e in top1] == epochs["epoch"].tolist()
    assert [round(e.value, 3) for e in top1] == [round(v, 3) for v in epochs["top1"]]


def test_a_retrained_variant_replaces_its_tensorboard_curves(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    fast = FAST + ["epochs=2", "batch_size=20", "batch_per_device=20"]
    for force in (False, True):
        assert run(cfg(tmp_path, upto="step0", overrides=fast, data="embedded:20:10", log=["tensorboard"], threads=1,
                       force=force)) == 0
    events = EventAccumulator(str(tmp_path / "tensorboard" / "step0-seed0")).Reload()
    assert [e.step for e in events.Scalars("acc/top1")] == [1, 2]  # the second training's, not both


def test_threads_are_set_and_recorded(two_steps):
    assert (pd.read_csv(two_steps / "results.csv")["threads"] == 1).all()
    with pytest.raises(RoadmapError, match="--threads must be at least 1"):
        run(cfg(two_steps, threads=0))


@pytest.mark.parametrize("busy, idle", [(0.0, 2), (0.4, 2), (0.6, 1), (1.7, 1), (2.0, 1)])
def test_a_lone_job_takes_the_cores_other_processes_leave_idle(monkeypatch, busy, idle):
    from roadmap.runs import machine
    monkeypatch.setattr(machine, "cores", lambda: 2)
    monkeypatch.setattr(machine, "busy_cores", lambda: busy)
    assert machine.idle_cores() == idle


# --- several variants at once: --jobs ---------------------------------------------------------------

def _metrics(folder):
    cols = ["step", "seed", "epoch", "train_loss", "val_loss", "top1", "top5", "lr"]
    ep = pd.read_csv(folder / "epochs.csv")[cols].sort_values(["step", "seed", "epoch"], ignore_index=True)
    rows = pd.read_csv(folder / "results.csv")[["step", "seed", "status", "top1", "top5", "images_seen", "threads"]]
    return rows.sort_values(["step", "seed"], ignore_index=True), ep


@pytest.mark.long
def test_two_jobs_give_the_rows_of_one_at_a_time_with_the_same_threads(two_steps, tmp_path):
    assert run(cfg(tmp_path, jobs=2, threads=1)) == 0
    for ours, alone in zip(_metrics(tmp_path), _metrics(two_steps)):
        pd.testing.assert_frame_equal(ours, alone)
    df = pd.read_csv(tmp_path / "results.csv")
    assert (df["cpu"].str.len() > 0).all() and df["cpu_capability"].notna().all()  # the processor, per row
    assert read_runs(tmp_path)[-1]["jobs"] == 2


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


@pytest.mark.long
def test_a_stopped_or_killed_two_job_run_resumes_both_variants(two_steps, tmp_path, capsys):
    """Only the parent is signalled, first with SIGTERM, then, resumed, with kill -9: its workers go
    with it each time and keep their epoch checkpoints, and the same command finishes both variants
    with the numbers of an unbroken run."""
    out = tmp_path / "killed"
    args = ["run", "--upto", "step1", "--data", DATA, "--out", str(out), "--jobs", "2", "--threads", "1", *_set(FAST)]
    ckpts = out / "checkpoints"

    def written():  # checkpoint -> when it was last rewritten (every epoch end)
        return {p: p.stat().st_mtime_ns for p in ckpts.glob("*.pt")} if ckpts.is_dir() else {}

    def start_and_signal(sig, resumed):
        before = written()
        proc = subprocess.Popen([sys.executable, "-m", "roadmap", *args], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 300
        # first: both variants have an epoch behind them; resumed: one has finished another epoch (at
        # once, as a stat is cheap: 3 epochs of these tiny variants leave little time)
        while (len(written()) < 2) if not resumed else not any(
                written().get(p, t) != t for p, t in before.items()):
            assert proc.poll() is None and time.time() < deadline, "the run ended before both checkpointed"
            time.sleep(0.01)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        assert _variant_locks_free(out, ["step0-seed0", "step1-seed0"]), "a worker outlived its parent"
        assert not (out / "results.csv").exists()
        return proc.returncode, err

    rc, err = start_and_signal(signal.SIGTERM, resumed=False)
    assert rc == 130 and "resumes every unfinished variant" in err
    rc, err = start_and_signal(signal.SIGKILL, resumed=True)
    assert err.count("resuming") == 2
    capsys.readouterr()
    assert main(args) == 0  # here: the same command, without starting another interpreter
    assert capsys.readouterr().err.count("resuming") == 2
    for ours, alone in zip(_metrics(out), _metrics(two_steps)):
        pd.testing.assert_frame_equal(ours, alone)


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


def test_a_bare_command_prints_its_help_and_version_works(capsys):
    assert main([]) == 0
    assert "COMMAND" in capsys.readouterr().out
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.startswith("roadmap ")


@pytest.mark.parametrize("command", ["run", "recipe"])
def test_the_help_names_every_shipped_recipe(command, capsys):
    from roadmap import shipped
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = "".join(capsys.readouterr().out.split())  # argparse wraps at hyphens too
    assert all(name in text for name in shipped.names("recipe")), text


@pytest.mark.long
def test_a_sweep_trains_every_variant_under_each_value_into_one_folder(tmp_path, capsys):
    out = tmp_path / "sweep"
    args = ["run", "--upto", "step1", "--data", DATA, "--out", str(out), "--jobs", "1", "--threads", "1",
            *_set([s for s in FAST if not s.startswith("epochs=")]), "--sweep", "epochs=1,2"]
    assert main(args) == 0
    df = pd.read_csv(out / "results.csv")
    assert sorted(zip(df["step"], df["sweep"], df["epochs"])) == [
        ("step0", "epochs=1", 1), ("step0", "epochs=2", 2), ("step1", "epochs=1", 1), ("step1", "epochs=2", 2)]
    ep = pd.read_csv(out / "epochs.csv")
    assert ep.groupby("sweep")["epoch"].max().to_dict() == {"epochs=1": 1, "epochs=2": 2}
    capsys.readouterr()
    assert main(args) == 0 and capsys.readouterr().err.count("already in") == 4  # a rerun trains nothing
    assert main(["report", str(out), "--by", "epochs"]) == 0
    text = capsys.readouterr().out
    assert text.index("### epochs=1") < text.index("### epochs=2") and text.count("| step0 | ResNet-50 |") == 2
    assert main(["agreement", str(out), "--by", "epochs", "--draws", "100"]) == 0
    assert "sweep, epochs=1 -> sweep, epochs=2:" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["--sweep", "epochs"], "expected KEY=V1,V2,..."),
    (["--sweep", "epochs=1,"], "expected KEY=V1,V2,..."),
    (["--sweep", "epochs=1,1"], "gives epochs=1 twice"),
    (["--set", "epochs=2", "--sweep", "epochs=1,2"], "epochs is already set with --set"),
    (["--sweep", "epochz=1,2"], "unknown setting 'epochz'"),
])
def test_a_bad_sweep_is_one_sentence_before_any_data_loads(tmp_path, args, message, capsys, monkeypatch):
    from roadmap.runs import runner
    monkeypatch.setattr(runner, "load_data", lambda *a: pytest.fail("data loaded for a bad sweep"))
    assert main(["run", "--out", str(tmp_path / "out"), *args]) == 2
    assert message in capsys.readouterr().err
