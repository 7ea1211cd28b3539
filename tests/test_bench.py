"""roadmap bench runs on the CPU at a tiny scale; the baseline is timm's twin where there is one."""
import subprocess
import sys

import pandas as pd
import torch

import roadmap
from roadmap.runs.bench import bench, device_peak


def test_bench_cli_writes_the_table(tmp_path):
    out = tmp_path / "bench.csv"
    r = subprocess.run([sys.executable, "-m", "roadmap", "bench", "--steps", "step0", "step7", "--batch", "4",
                        "--res", "32", "--width", "0.25", "--depth", "0.34", "--iters", "2", "--warmup", "1",
                        "--out", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(out)
    assert list(df["step"]) == ["step0", "step7"]
    assert (df[["train_img_s", "eval_img_s", "baseline_train_img_s", "train_tflops", "train_ratio"]] > 0).all().all()
    assert (df["device"] == "cpu").all() and df["mfu"].isna().all()  # no known peak for a CPU


def test_full_size_variants_use_the_timm_twin_as_baseline():
    rm = roadmap.load("convnext-t")
    df = bench(rm, ["step0", "step4", "step7"], batch=2, res=32, iters=1, warmup=0, report=lambda *_: None)
    assert list(df["baseline"]) == ["resnet50", "ours, eager", "convnext_tiny"]
    assert df["gmacs"][0] == roadmap.complexity(rm.spec("step0"), res=32)["gflops"]
    assert 0.07 < df["gmacs"][0] < 0.1  # about ResNet-50's 4.09 G x (32/224)^2


def test_mfu_uses_the_given_peak():
    assert device_peak(torch.device("cpu"), None) is None
    assert device_peak(torch.device("cpu"), 2.5) == 2.5
