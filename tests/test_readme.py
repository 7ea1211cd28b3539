"""The README's "Use the variants elsewhere" snippets, run as written, in order, in a fresh folder;
and every report the README quotes, as the committed results give it today.

`roadmap run` commands get settings appended that make them take seconds (1 epoch on 20 images
per class); everything else runs verbatim. The folder starts with step7 trained the same way,
which the load_model snippet reads.
"""
import re
import shlex
import shutil

from roadmap.cli import main

FAST = ["--data", "embedded:20", "--quiet", "--threads", "1", "--set", "epochs=1", "--set", "batch_size=50",
        "--set", "batch_per_device=50", "--set", "warmup_epochs=0"]


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


def test_the_reports_quoted_in_the_readme_are_the_committed_results(repo, capsys):
    quoted = re.findall(r"<!-- report (\S+)((?: --\S+ \S+)*) -->\n(.*?)\n<!-- /report -->",
                        (repo / "README.md").read_text(), re.S)
    assert [folder + options for folder, options, _ in quoted] == [
        "results/cifar10-cpu-proxy --roadmap convnext-t", "results/tinyimagenet50-cpu-proxy --roadmap convnext-t",
        "results/cifar10-cpu-proxy --roadmap convnext-t-step7-split"]
    for folder, options, text in quoted:
        assert main(["report", str(repo / folder), *options.split()]) == 0
        assert capsys.readouterr().out.strip() == text.strip(), f"README's copy of `roadmap report {folder}{options}`"
