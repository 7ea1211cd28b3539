"""The README's "Use the variants elsewhere" snippets, run as written, in order, in a fresh folder;
and every report and agreement table the README quotes, as the committed results give it today.

`roadmap run` commands get settings appended that make them take seconds (one job, 1 epoch on 20 images
per class, scored on 10); everything else runs verbatim. The folder starts with step7 trained the same way,
which the load_model snippet reads.
"""
import re
import shlex
import shutil

import pytest

from roadmap.cli import main

# one job: training in this process, where a pool's fork server would import torch and timm anew
FAST = ["--data", "embedded:20:10", "--quiet", "--jobs", "1", "--threads", "1", "--set", "epochs=1",
        "--set", "batch_size=50", "--set", "batch_per_device=50", "--set", "warmup_epochs=0"]


def _section(readme: str, title: str) -> str:
    start = readme.index(f"## {title}\n")
    end = readme.index("\n## ", start + 1)
    return readme[start:end]


def _run_shell(line: str) -> None:
    args = shlex.split(line.split("#")[0])
    assert args[0] == "roadmap", line
    if args[1] == "run":
        args += FAST
    assert main(args[1:]) == 0, line


@pytest.mark.long(5)
def test_use_the_variants_elsewhere_snippets_run(repo, tmp_path, monkeypatch, capsys):
    """A Python block that ends in comment lines shows its output there: it must print exactly that."""
    blocks = re.findall(r"```(python|sh)\n(.*?)```", _section((repo / "README.md").read_text(),
                                                              "Use the variants elsewhere"), re.S)
    assert [kind for kind, _ in blocks] == ["python", "python", "python", "sh", "python", "sh"]
    shutil.copytree(repo / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    _run_shell("roadmap run --only step7 --out results/smoke")
    for kind, code in blocks:
        if kind == "python":
            capsys.readouterr()
            exec(compile(code, "README.md", "exec"), {})
            lines = code.strip().splitlines()
            shown = [line[2:] for line in lines[len(lines) - next(i for i, x in enumerate(reversed(lines))
                                                                  if not x.startswith("# ")):]]
            if shown:
                assert capsys.readouterr().out.splitlines() == shown
        else:
            for line in code.strip().splitlines():
                _run_shell(line)
    assert (tmp_path / "convnext-t-step7.safetensors").is_file()
    assert sorted(p.name for p in (tmp_path / "results" / "smoke" / "tensorboard").iterdir()) == \
        ["step0-seed0", "step1-seed0"]


def test_the_reports_quoted_in_the_readme_are_the_committed_results(repo, capsys, monkeypatch):
    """Each `<!-- report ARGS -->` or `<!-- agreement ARGS -->` block is that command's output today."""
    quoted = re.findall(r"<!-- (report|agreement) ([^>]*?) -->\n(.*?)\n<!-- /\1 -->",
                        (repo / "README.md").read_text(), re.S)
    assert [f"{command} {args}" for command, args, _ in quoted] == [
        "report results/cifar10-cpu-proxy --roadmap convnext-t",
        "report results/tinyimagenet50-cpu-proxy --roadmap convnext-t",
        "report results/cifar10-cpu-proxy --roadmap convnext-t-step7-split",
        "agreement results/cifar10-cpu-proxy results/cifar10-cpu-proxy-30ep",
        "report results/cifar10-cpu-proxy-30ep --roadmap convnext-t-step7-split"]
    monkeypatch.chdir(repo)
    for command, args, text in quoted:
        assert main([command, *args.split()]) == 0
        assert capsys.readouterr().out.strip() == text.strip(), f"README's copy of `roadmap {command} {args}`"


# Shell lines of the README that CI cannot run, each with its reason; every other line runs.
CANNOT_RUN = {
    "make ": "the set-up itself (make test runs this file)",
    "--recipe imagenet": "ImageNet, and GPUs or Slurm",
    "--recipe proxy": "full-width ResNet-50 and ConvNeXt-T at every step: the one-GPU recipe",
}


def _npz_data(folder, classes: int, size: int, per_class: int, val: str):
    """A dataset in the .npz layout of ../shared/data (JPEG bytes, offsets, labels, class names)."""
    import io

    import numpy as np
    from PIL import Image
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", per_class), (val, 1)):
        blobs = []
        for _ in range(classes * n):
            buf = io.BytesIO()
            Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(buf, format="JPEG")
            blobs.append(buf.getvalue())
        np.savez(folder / f"{split}.npz", jpeg=np.frombuffer(b"".join(blobs), np.uint8),
                 offsets=np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64),
                 y=np.repeat(np.arange(classes), n).astype(np.uint8), classes=np.array([f"c{i}" for i in range(classes)]))


def _fast(args: list[str]) -> list[str]:
    """FAST for a README run line, one seed, keeping the line's own --data and swept epochs; a line
    that trains a whole roadmap trains its first two steps, and a whole design its endpoint and first
    variant (every step trains in test_specs_and_steps, every design's variants are built and counted in
    test_complexity, and each flag is still parsed, loaded and run)."""
    extra = FAST[2:] if "--data" in args else list(FAST)
    if "--sweep" in args:
        i = extra.index("epochs=1")
        del extra[i - 1:i + 1]
    if "--design" in args and "--only" not in args:
        extra += ["--only", "step7", "no-step1"]
    elif not {"--upto", "--only", "--design"} & set(args):
        extra += ["--upto", "step1"]
    return extra + ["--seeds", "1"]


@pytest.mark.long(8)
def test_the_readme_shell_blocks_chain(repo, tmp_path, monkeypatch):
    """Every shell line of the README (but "Use the variants elsewhere", run above with its Python, and
    CANNOT_RUN), pasted in order into a folder holding the committed results: each exits 0. `roadmap
    run` lines train 1 epoch on tiny data, one seed (FAST); ../shared/data paths become tiny datasets of
    the same layout and image size, made here; --sweep's values shrink to 1 and 2 epochs."""
    readme = (repo / "README.md").read_text()
    elsewhere = _section(readme, "Use the variants elsewhere")
    blocks = re.findall(r"```sh\n(.*?)```", readme.replace(elsewhere, ""), re.S)
    lines = [line for block in blocks for line in block.strip().splitlines()]
    skipped = [line for line in lines if any(key in line for key in CANNOT_RUN)]
    assert len(skipped) == 6 and all(line.startswith(("make", "roadmap run", "torchrun")) for line in skipped)
    for name in ("results", "examples"):
        shutil.copytree(repo / name, tmp_path / name, ignore=shutil.ignore_patterns("weights", "checkpoints"))
    _npz_data(tmp_path / "shared" / "cifar10", 10, 32, 5, "test")
    _npz_data(tmp_path / "shared" / "tinyimagenet50", 50, 64, 1, "val")
    monkeypatch.chdir(tmp_path)
    ran = []
    for line in lines:
        if line in skipped:
            continue
        line = line.replace("../shared/data/", "shared/").replace("--sweep epochs=10,30", "--sweep epochs=1,2")
        args = shlex.split(line.split("  #")[0])
        assert args[0] == "roadmap", line
        if args[1] == "run":
            args += _fast(args)
        assert main(args[1:]) == 0, line
        ran.append(args[1])
    assert ran.count("run") == 5 and len(ran) == len(lines) - len(skipped)
