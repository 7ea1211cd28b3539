"""The runner on the embedded data: the tidy table, caching, sweeps, threads, exports and errors."""
import os
import shutil

import pandas as pd
import pytest
import torch

import roadmap
from roadmap.cli import main
from roadmap.errors import RoadmapError
from roadmap.runs.lock import file_lock
from roadmap.runs.runner import run
from roadmap.runs.table import COLUMNS, EPOCH_COLUMNS, read_runs
from roadmap.train.data import load_data
from roadmap.train.batches import InMemoryBatches
from roadmap.train.loop import evaluate
from roadmap.train.precision import keep_depthwise_fp32
from roadmap.train.recipe import load_recipe

from quick_runs import DATA, FAST, SMALL, cfg, set_flags


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


def test_a_rerun_trains_nothing(two_steps, tmp_path, capsys):
    folder = tmp_path / "again"
    shutil.copytree(two_steps, folder)  # two_steps is shared by every test process: only read it
    before = pd.read_csv(folder / "results.csv")
    weights = {p: p.stat().st_mtime_ns for p in (folder / "weights").glob("*.safetensors")}
    assert len(weights) == 2 and not list((folder / "checkpoints").glob("*.pt"))  # resume state: gone
    capsys.readouterr()
    assert run(cfg(folder)) == 0
    assert len(read_runs(folder)) == 2  # run.json keeps every invocation
    said = capsys.readouterr()
    quiet = said.out.splitlines()  # --quiet: the results and nothing else, and where they are
    assert quiet[0].split() == ["step", "seed", "status", "top1"] and len(quiet) == 3 and " ok " in quiet[1]
    assert f"results: {folder / 'results.csv'}" in said.err
    after = pd.read_csv(folder / "results.csv")
    pd.testing.assert_frame_equal(before, after)  # finished_at included: nothing was retrained
    assert {p: p.stat().st_mtime_ns for p in (folder / "weights").glob("*.safetensors")} == weights


def test_a_changed_recipe_is_not_taken_from_the_cache(two_steps, tmp_path):
    out = tmp_path / "copy"
    out.mkdir()
    (out / "results.csv").write_text((two_steps / "results.csv").read_text())
    assert run(cfg(out, upto="step0", overrides=FAST + ["epochs=1"])) == 0
    df = pd.read_csv(out / "results.csv")
    assert df.loc[df["step"] == "step0", "epochs"].item() == 1  # replaced, not duplicated
    assert len(df) == 2


def test_a_study_is_not_continued_in_another_precision_unasked(two_steps, tmp_path):
    """Another machine (no native bf16, a GPU) would miss the cache on precision alone, and replace a
    study's finished rows or add unlike ones beside them: refused, nothing touched, unless --force."""
    out = tmp_path / "elsewhere"
    shutil.copytree(two_steps, out)
    df = pd.read_csv(out / "results.csv")
    here = df["precision"].iloc[0]
    there = "fp32" if here != "fp32" else "bf16 except depthwise"
    df["precision"] = there
    df.to_csv(out / "results.csv", index=False)
    before = {f: (out / f).read_bytes() for f in ("results.csv", "epochs.csv", "run.json")}
    refused = rf"holds 2 finished row\(s\) of this study trained in '{there}' \(step0 seed 0, step1 seed 0\), " \
              rf"and this machine trains in '{here}'.*--force"
    with pytest.raises(RoadmapError, match=refused):
        run(cfg(out))
    with pytest.raises(RoadmapError, match=refused):  # nor a new seed beside them
        run(cfg(out, upto="step0", first_seed=1))
    assert {f: (out / f).read_bytes() for f in before} == before
    assert run(cfg(out, upto="step0", force=True)) == 0
    assert pd.read_csv(out / "results.csv").set_index("step")["precision"].to_dict() == {"step0": here, "step1": there}


def test_a_bf16_study_is_finished_in_emulated_bf16_on_a_cpu_without_it(two_steps, tmp_path, monkeypatch):
    """A study begun where bf16 is native, continued where it is not: the refusal names --emulate-bf16,
    which trains rows of the study's precision (bf16 math, not fp32 under another name)."""
    from roadmap.runs import machine
    from roadmap.train import precision as p
    machine.cpu_capability()  # cached as it is, before the flags are patched: rows record the real CPU
    monkeypatch.setattr(p, "cpu_flags", lambda: frozenset({"avx2"}))
    out = tmp_path / "begun-in-bf16"
    shutil.copytree(two_steps, out)
    df = pd.read_csv(out / "results.csv").assign(precision="bf16 except depthwise")
    df.to_csv(out / "results.csv", index=False)
    with pytest.raises(RoadmapError, match=r"this machine trains in 'fp32'.*pass --emulate-bf16 to train them in bf16"):
        run(cfg(out, upto="step0", first_seed=1))
    assert run(cfg(out, upto="step0", first_seed=1, emulate_bf16=True)) == 0
    rows = pd.read_csv(out / "results.csv").set_index(["step", "seed"])
    assert rows.loc[("step0", 1), "precision"] == "bf16 except depthwise" and len(rows) == 3
    assert run(cfg(tmp_path / "fp32", upto="step0", first_seed=1)) == 0
    bf16, fp32 = (pd.read_csv(f / "epochs.csv").query("seed == 1")["train_loss"].to_numpy()
                  for f in (out, tmp_path / "fp32"))
    assert abs(bf16[0] - fp32[0]) > 1e-6, "the emulated row trained in fp32"
    with pytest.raises(RoadmapError, match=r"--emulate-bf16 asks for bf16, but recipe smoke trains in fp32"):
        run(cfg(out, overrides=FAST + ["amp=false"], emulate_bf16=True))
    # the flag is named only where it is the way out, or the cause
    fp32 = tmp_path / "fp32"  # its rows are fp32: the flag would pair bf16 rows with them
    with pytest.raises(RoadmapError, match=r"--emulate-bf16 trains in 'bf16 except depthwise' here.*drop --emulate-bf16"):
        run(cfg(fp32, upto="step0", first_seed=2, emulate_bf16=True))
    gpu = tmp_path / "begun-on-a-gpu"
    shutil.copytree(two_steps, gpu)
    pd.read_csv(gpu / "results.csv").assign(precision="bf16").to_csv(gpu / "results.csv", index=False)
    with pytest.raises(RoadmapError, match="this machine trains in 'fp32'") as e:
        run(cfg(gpu, upto="step0"))
    assert "emulate" not in str(e.value)


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
    (["--checkpoint-minutes", "-1"], "--checkpoint-minutes must be 0 (after every update) or more"),
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


def test_a_folder_trained_with_two_settings_says_so_row_by_row(two_steps, tmp_path):
    from roadmap.present.run_facts import run_facts
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


def test_the_eta_of_a_resumed_variant_counts_only_what_it_trains_here(monkeypatch):
    """Its cost is its work left (the runner's), so its progress is measured from where it resumed: at
    the start of epoch 6 of 10, or 40 steps into it; a tenth of the rest done in 60 s leaves 540."""
    import io

    from roadmap.runs import progress as progress_module
    clock = [1000.0]
    monkeypatch.setattr(progress_module.time, "time", lambda: clock[0])
    for began, now in ((0, 49), (40, 85)):
        p = progress_module.Progress(1, quiet=True, stream=io.StringIO())
        p.plan(50.0)
        p.start("step4 seed 2", 50.0)
        p.step("step4 seed 2", 5, 10, began, 100, 2.0, 50.0)  # the loop's first report after resuming
        clock[0] += 60
        p.step("step4 seed 2", 5, 10, now, 100, 2.0, 50.0)
        assert "ETA 09:00" in p._overall()


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


@pytest.mark.long(6)
def test_a_sweep_trains_every_variant_under_each_value_into_one_folder(tmp_path, capsys):
    out = tmp_path / "sweep"
    args = ["run", "--upto", "step1", "--data", SMALL, "--out", str(out), "--jobs", "1", "--threads", "1",
            *set_flags([s for s in FAST if not s.startswith("epochs=")]), "--sweep", "epochs=1,2"]
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
