"""roadmap bench runs on the CPU at a tiny scale; the baseline is timm's twin where there is one."""
import pandas as pd
import pytest
import timm
import torch
from torch.utils.flop_counter import FlopCounterMode

import roadmap
from roadmap.cli import main
from roadmap.errors import RoadmapError
from roadmap.runs.bench import bench, flop_rate


def test_bench_cli_writes_the_table(tmp_path):
    out = tmp_path / "bench.csv"
    assert main(["bench", "--steps", "step0", "step7", "--batch", "4", "--res", "32", "--width", "0.25",
                 "--depth", "0.34", "--iters", "2", "--warmup", "1", "--out", str(out)]) == 0
    df = pd.read_csv(out)
    assert list(df["step"]) == ["step0", "step7"]
    assert (df[["train_img_s", "eval_img_s", "baseline_train_img_s", "train_tflops", "train_ratio"]] > 0).all().all()
    assert (df["device"] == "cpu").all() and df["mfu"].isna().all()  # no known peak for a CPU
    assert (df["baseline"] == "our model, plain eager loop").all()  # scaled down: no timm twin at this size


def test_the_stem_stride_builds_the_network_a_recipe_trains(tmp_path):
    out = tmp_path / "bench.csv"
    args = ["bench", "--roadmap", "isotropic", "--steps", "step0", "--batch", "2", "--res", "32", "--width", "0.25",
            "--depth", "0.34", "--iters", "1", "--warmup", "0", "--out", str(out)]
    assert main(args) == 0
    patch16 = pd.read_csv(out).squeeze()
    assert main(args + ["--stem-stride", "1"]) == 0
    patch4 = pd.read_csv(out).squeeze()
    assert pd.isna(patch16["stem_stride"]) and patch4["stem_stride"] == 1
    assert patch4["gmacs"] > 10 * patch16["gmacs"]  # 64 patches of 4 x 4 instead of 4 of 16 x 16
    assert main(args + ["--stem-stride", "0"]) == 2


def test_a_cpu_variants_flop_rate_is_printed_in_gflops():
    assert flop_rate(312.0) == "312.00 TFLOP/s"
    assert flop_rate(0.0123) == " 12.30 GFLOP/s"  # two decimals of TFLOP/s would print 0.01


def test_full_size_variants_use_the_timm_twin_as_baseline():
    rm = roadmap.load("convnext-t")
    df = bench(rm, ["step0", "step7"], batch=2, res=32, iters=1, warmup=0, peak_tflops=2.5, report=lambda *_: None)
    assert list(df["baseline"]) == ["resnet50", "convnext_tiny"]
    # training FLOP/s are 6 x multiply-adds x img/s (forward 2, backward 4), and MFU is their share of the given peak
    assert list(df["train_tflops"]) == pytest.approx(list(6 * df["gmacs"] * df["train_img_s"] / 1e3), rel=1e-12)
    assert list(df["mfu"]) == pytest.approx(list(df["train_tflops"] / 2.5), rel=1e-12)  # scaled or twin-less: our model in the plain loop (CLI test)
    # timm's own ResNet-50, counted here independently: the same multiply-adds at 32 px
    with torch.device("meta"):
        twin = timm.create_model("resnet50", pretrained=False).eval()
        with FlopCounterMode(display=False) as counter:
            twin(torch.empty(1, 3, 32, 32))
    assert df["gmacs"][0] == pytest.approx(counter.get_total_flops() / 2 / 1e9, rel=1e-9)
    assert 0.07 < df["gmacs"][0] < 0.1  # about ResNet-50's 4.09 G x (32/224)^2



def test_pipeline_bench_runs_our_trainer_and_the_plain_timm_loop():
    from roadmap.runs.bench_pipeline import bench_pipeline
    rm = roadmap.load("convnext-t")
    df = bench_pipeline(rm, ["step0"], data_source="embedded:10", epochs=1,
                        overrides=["batch_size=25", "batch_per_device=25"], report=lambda *_: None)
    row = df.squeeze()
    peers = [c for c in df.columns if c.startswith("plain_") and c.endswith("_img_s") and c != "plain_best_img_s"]
    assert sorted(peers) == ["plain_bf16_w0_img_s", "plain_bf16_w1_img_s", "plain_fp32_w0_img_s", "plain_fp32_w1_img_s"]
    assert row["plain_best_img_s"] == max(row[c] for c in peers) and row["ours_img_s"] > 0
    assert row["ratio"] == pytest.approx(row["ours_img_s"] / row["plain_best_img_s"])
    assert row["ours_pipeline"] == "in-memory batched"


def test_emulated_bf16_is_measured_against_the_fp32_baseline(tmp_path, monkeypatch):
    from roadmap.train import precision as p
    monkeypatch.setattr(p, "cpu_flags", lambda: frozenset({"avx2"}))  # a CPU without native bf16
    converted = []
    monkeypatch.setattr(p, "emulate_bf16_layers", lambda m: converted.append(m) or m)
    out = tmp_path / "bench.csv"
    args = ["bench", "--steps", "step0", "--batch", "2", "--res", "32", "--width", "0.25", "--depth", "0.34",
            "--iters", "1", "--warmup", "0", "--out", str(out)]
    assert main(args) == 0 and pd.read_csv(out).squeeze()["precision"] == "fp32" and not converted
    assert main(args + ["--emulate-bf16"]) == 0
    assert pd.read_csv(out).squeeze()["precision"] == "bf16 except depthwise" and len(converted) == 1  # ours only


def test_the_pipeline_bench_trains_ours_in_emulated_bf16_when_asked(monkeypatch):
    from roadmap.runs.bench_pipeline import bench_pipeline
    from roadmap.train import precision as p
    monkeypatch.setattr(p, "cpu_flags", lambda: frozenset({"avx2"}))
    converted = []
    monkeypatch.setattr(p, "emulate_bf16_layers", lambda m: converted.append(m) or m)  # the trainer's emulation
    df = bench_pipeline(roadmap.load("convnext-t"), ["step0"], data_source="embedded:10", epochs=1,
                        overrides=["batch_size=25", "batch_per_device=25"], report=lambda *_: None, emulate_bf16=True)
    assert df.squeeze()["ours_precision"] == "bf16 except depthwise" and len(converted) == 1
    with pytest.raises(RoadmapError, match="--emulate-bf16 asks for bf16, but recipe smoke trains in fp32"):
        bench_pipeline(roadmap.load("convnext-t"), ["step0"], data_source="embedded:10", overrides=["amp=false"],
                       emulate_bf16=True)
