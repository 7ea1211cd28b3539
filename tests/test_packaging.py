"""`pip install .` (not only editable) ships the roadmaps and recipes as package data."""
import shutil
import subprocess
import sys


def test_a_plain_install_ships_the_roadmaps_and_recipes(tmp_path, repo):
    target, source = tmp_path / "site", tmp_path / "source"  # a copy: building writes build/ beside it
    shutil.copytree(repo, source, ignore=shutil.ignore_patterns(".venv", ".git", "results", "plots", "build",
                                                                "*.egg-info", "__pycache__"))
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                        "--target", str(target), str(source)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    for name in ("convnext-t", "convnext-b", "isotropic"):
        assert (target / "roadmap" / "arch" / "roadmaps" / f"{name}.yaml").is_file()
    for name in ("imagenet", "proxy", "smoke", "cpu-proxy"):
        assert (target / "roadmap" / "train" / "recipes" / f"{name}.yaml").is_file()
    assert (target / "roadmap" / "arch" / "complexity.json").is_file()  # roadmap steps lists without torch
    code = "import roadmap; assert roadmap.__file__.startswith(%r); print(len(roadmap.load('convnext-b').ids))" % str(target)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                         env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "16"
