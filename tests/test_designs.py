"""Ablation designs beyond the paper's path: leave-one-out and add-one, derived from any roadmap."""
from __future__ import annotations

import pandas as pd
import pytest
import torch
from timm.models.convnext import ConvNeXt

import roadmap
from roadmap.arch.complexity import complexity
from roadmap.cli import main
from roadmap.errors import RoadmapError
from roadmap.present.forest import draw_forest, forest_rows
from roadmap.present.report import report_table
from roadmap.runs.runner import RunConfig, run
from roadmap.runs.table import COLUMNS

LOO = roadmap.load("convnext-t", "leave-one-out")


def _load_by_position(model, reference):
    ours, theirs = model.state_dict(), reference.state_dict()
    assert [v.shape for v in ours.values()] == [v.shape for v in theirs.values()]
    model.load_state_dict(dict(zip(ours.keys(), theirs.values())))


@pytest.mark.parametrize("variant,kwargs", [
    ("no-step1", {"depths": (3, 4, 6, 3)}),                 # stage ratio undone: ResNet-50's depths
    ("no-step5.k7", {"kernel_sizes": 3}),                   # kernel 7 undone: 3x3 depthwise convs
    ("no-step3.width", {"dims": (64, 128, 256, 512)}),      # width 96 undone: base width 64
])
def test_leave_one_out_variants_are_the_convnext_t_one_would_build_by_hand(variant, kwargs):
    torch.manual_seed(0)
    with torch.device("meta"):  # any weights will do, so skip both inits: random normal values below
        reference, model = ConvNeXt(**kwargs), roadmap.build(LOO.spec(variant))
    reference, model = reference.to_empty(device="cpu").eval(), model.to_empty(device="cpu").eval()
    for p in reference.parameters():
        torch.nn.init.normal_(p, std=0.05)
    assert complexity(LOO.spec(variant))["params"] == sum(p.numel() for p in reference.parameters())
    _load_by_position(model, reference)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=1e-4, atol=1e-4)


def test_the_designs_units_and_references():
    path = roadmap.load("convnext-t")
    units = [s.id for s in path.steps if s.adopted and s.transforms]
    assert LOO.ids == ["step7"] + [f"no-{u}" for u in units] and LOO.spec("step7") == path.spec("step7")
    assert all(LOO.step(f"no-{u}").parent == "step7" for u in units)
    add = roadmap.load("convnext-t[add-one]")
    assert add.ids[0] == "step0" and add.spec("only-step1") == path.spec("step1")  # the first step alone is step1
    assert add.spec("only-step6.ln").norm == "ln" and add.spec("only-step6.ln").depths == (3, 4, 6, 3)
    assert "step5.k9" not in {i.removeprefix("only-").removeprefix("no-") for i in add.ids + LOO.ids}  # not-adopted branches are no units
    assert roadmap.load("convnext-t[leave-one-out]").ids == LOO.ids


def test_a_combination_that_cannot_apply_is_listed_with_its_reason(capsys):
    iso = roadmap.load("isotropic", "add-one")
    assert "only-step2.block" not in iso.ids
    assert iso.skipped["only-step2.block"] == ("on the base, step2.block's mixer_block does not apply: the block has no "
                                           "token MLP (feedforward_only makes one)")
    assert main(["steps", "--roadmap", "isotropic", "--design", "leave-one-out"]) == 0
    out = capsys.readouterr().out
    assert "no-step1: not built: without step1 (MLP over patches), step2.block's mixer_block does not apply" in out
    assert main(["show", "no-step1", "--roadmap", "isotropic", "--design", "leave-one-out"]) == 0
    assert "not built" in capsys.readouterr().out
    with pytest.raises(RoadmapError, match="unknown design 'leave-two-out'"):
        roadmap.load("convnext-t[leave-two-out]")


FAST = ["epochs=1", "batch_size=50", "batch_per_device=50", "warmup_epochs=0"]


def test_the_shared_endpoint_trains_once(tmp_path):
    cfg = dict(recipe="smoke", overrides=FAST, data="embedded:20:10", out=str(tmp_path), quiet=True, threads=1)
    assert run(RunConfig(only=["step7"], **cfg)) == 0
    ckpts = set((tmp_path / "weights").glob("*.safetensors"))
    assert run(RunConfig(design="leave-one-out", only=["step7", "no-step6.ln"], **cfg)) == 0
    df = pd.read_csv(tmp_path / "results.csv").set_index(["roadmap", "step"])
    ref, path = df.loc[("convnext-t[leave-one-out]", "step7")], df.loc[("convnext-t", "step7")]
    assert ref["cached_from"] == "convnext-t:step7" and ref["top1"] == path["top1"]
    assert ref["finished_at"] == path["finished_at"]  # not trained again
    new = set((tmp_path / "weights").glob("*.safetensors")) - ckpts
    assert [p.name.split("-seed")[0] for p in new] == ["no-step6.ln"]
    # the reference row names the path's weights; a step id two designs share needs roadmap=
    assert roadmap.load_model(tmp_path, "step7", roadmap="convnext-t[leave-one-out]").spec.hash == path["spec_hash"]
    with pytest.raises(RoadmapError, match=r"say which with roadmap="):
        roadmap.load_model(tmp_path, "step7")
    t = report_table(tmp_path, "leave-one-out").set_index("step")
    assert t.loc["no-step6.ln", "parent"] == "step7"
    assert t.loc["no-step6.ln", "delta"] == pytest.approx(df.loc[("convnext-t[leave-one-out]", "no-step6.ln"), "top1"]
                                                       - path["top1"])


def _seeded_folder(folder):
    """A leave-one-out run and its path, 3 seeds, written as the runner writes them."""
    rows = []
    for name, step, tops in [
        ("convnext-t[leave-one-out]", "step7", (60.0, 62.0, 64.0)),
        ("convnext-t[leave-one-out]", "no-step1", (58.9, 61.0, 63.1)),      # -1.0 +- 0.1: resolved loss
        ("convnext-t[leave-one-out]", "no-step6.ln", (60.3, 61.6, 64.2)),   # straddles 0
        ("convnext-t", "step0", (50.0, 51.0, 52.0)), ("convnext-t", "step1", (51.0, 52.2, 53.1)),
    ]:
        rows += [dict.fromkeys(COLUMNS) | {"roadmap": name, "step": step, "seed": k, "top1": v, "status": "ok",
                                            "recipe": "smoke", "data": "embedded", "res": 32, "width_mult": 0.25,
                                            "depth_mult": 0.34, "epochs": 6, "device": "cpu"}
                 for k, v in enumerate(tops)]
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=COLUMNS).to_csv(folder / "results.csv", index=False)
    return folder


def test_the_forest_plot_has_each_steps_delta_and_the_paths_beside_it(tmp_path):
    folder = _seeded_folder(tmp_path / "loo")
    rows, path_rows, skipped, rm = forest_rows(folder, "leave-one-out")
    r = rows.set_index("step")
    assert r.loc["no-step1", "delta"] == pytest.approx(-1.0) and r.loc["no-step1", "resolved"]
    assert not r.loc["no-step6.ln", "resolved"] and skipped == {}
    assert path_rows.loc["step1", "delta"] == pytest.approx(1.1)
    for fmt, magic in (("png", b"\x89PNG"), ("svg", b"<?xml"), ("pdf", b"%PDF")):
        out = draw_forest(folder, "leave-one-out", tmp_path / f"forest.{fmt}")
        assert out.read_bytes().startswith(magic)
    with pytest.raises(RoadmapError, match="has no add-one rows"):
        draw_forest(folder, "add-one", tmp_path / "x.png")


def test_a_reuse_of_a_reuse_names_the_row_that_trained(tmp_path):
    from roadmap.runs.table import CACHE_KEY, Table
    t = Table(tmp_path)
    IDENTITY = {"spec_hash": "0" * 12, "recipe_hash": "1" * 12, "data_fingerprint": "2" * 16}  # as the runner writes
    trained = {"roadmap": "r[leave-one-out]", "step": "no-gelu", "seed": 0, "status": "ok", "top1": 50.0,
               "order": 0, **{k: "k" for k in CACHE_KEY}, **IDENTITY, "regime": "R-50", "label": "x", "group": "",
               "adopted": True, "paper_top1": None, "paper_std": None, "paper_gflops": None, "git_commit": "c"}
    t.put(trained, [{"epoch": 1, "top1": 50.0}])
    t.reuse(t.find(trained), {**trained, "roadmap": "r", "step": "step0"})
    hit = t.read().query("roadmap == 'r'").iloc[0].to_dict()
    t.reuse(hit, {**trained, "roadmap": "r[add-one]", "step": "step0"})
    df = t.read().set_index("roadmap")
    assert df.loc["r[add-one]", "cached_from"] == df.loc["r", "cached_from"] == "r[leave-one-out]:no-gelu"


def test_a_swept_ablation_folder_draws_a_forest_per_value(tmp_path, monkeypatch):
    one = pd.read_csv(_seeded_folder(tmp_path / "a") / "results.csv")
    later = one.assign(top1=one["top1"] + 1.0, sweep="epochs=30")
    folder = tmp_path / "swept"
    folder.mkdir()
    pd.concat([one.assign(sweep="epochs=10"), later]).to_csv(folder / "results.csv", index=False)
    with pytest.raises(RoadmapError, match="has rows of 2 settings"):
        forest_rows(folder, "leave-one-out")
    rows, *_ = forest_rows(folder, "leave-one-out", ("epochs", "epochs=30"))
    assert rows.set_index("step").loc["step7", "value"] == pytest.approx(63.0)
    monkeypatch.chdir(tmp_path)
    assert main(["plot", "--results", str(folder), "--design", "leave-one-out", "--by", "epochs"]) == 0
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["swept-leave-one-out-epochs10.png",
                                                                      "swept-leave-one-out-epochs30.png"]
