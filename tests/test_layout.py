"""The package's folders are its layers: imports go one way, with no circle, and the CLI starts light."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "roadmap"
# a module may import only from its own layer or a lower one (errors and shipped are the floor)
LAYERS = {"errors": 0, "shipped": 0, "arch": 1, "train": 2, "runs": 3, "present": 4, "cli": 5, "__main__": 6}


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(roadmap module, at module level?) for every import in the file, function bodies included."""
    tree = ast.parse(path.read_text())
    top = {id(n) for n in tree.body}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("roadmap"):
            names = [f"{node.module}.{a.name}" for a in node.names]
            out += [(n if _exists(n) else node.module, id(node) in top) for n in names]
        elif isinstance(node, ast.Import):
            out += [(a.name, id(node) in top) for a in node.names if a.name.startswith("roadmap")]
    return out


def _exists(module: str) -> bool:
    rel = Path(*module.split("."))
    return (PACKAGE.parent / rel).with_suffix(".py").is_file() or (PACKAGE.parent / rel / "__init__.py").is_file()


def _layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.get(parts[1]) if len(parts) > 1 else None


MODULES = {_module(p): p for p in sorted(PACKAGE.rglob("*.py"))}


@pytest.mark.parametrize("module", [m for m in MODULES if _layer(m) is not None])
def test_no_module_imports_a_higher_layer(module):
    mine = _layer(module)
    higher = [m for m, _ in _imports(MODULES[module]) if (_layer(m) or 0) > mine]
    assert not higher, f"{module} (layer {mine}) imports {higher}"


def test_there_is_no_import_circle():
    # function-level imports count too: deferring an import hides a circle, it does not break it
    graph = {m: {i for i, _ in _imports(p) if i in MODULES and i != m} for m, p in MODULES.items()}
    state: dict[str, int] = {}

    def visit(m, path):
        if state.get(m) == 1:
            cycle = path[path.index(m):] + [m]
            pytest.fail("import circle: " + " -> ".join(cycle))
        if state.get(m) == 2:
            return
        state[m] = 1
        for n in sorted(graph[m]):
            visit(n, path + [m])
        state[m] = 2

    for m in sorted(graph):
        visit(m, [])


def test_the_trainer_and_the_plot_know_nothing_of_each_other():
    train = {m for n, p in MODULES.items() if n.startswith("roadmap.train") for m, _ in _imports(p)}
    assert not {m for m in train if m.startswith("roadmap.arch")}, "the trainer knows no architecture"
    for name, path in MODULES.items():
        text = path.read_text()
        if "import matplotlib" in text or "from matplotlib" in text:
            assert name in ("roadmap.present.figure", "roadmap.present.figure_kit", "roadmap.present.forest",
                            "roadmap.present.curves",
                            "roadmap.present.agreement_figure"), \
                f"{name} imports matplotlib"
        if "import submitit" in text:
            assert name == "roadmap.runs.launch", f"{name} imports submitit"


def imported_by_command(argv: list[str]) -> tuple[str, set[str]]:
    """(what `roadmap ARGV` printed, which of torch, timm, pandas, matplotlib and submitit it imported),
    run in a fresh interpreter."""
    code = ("import sys, contextlib, io, json\nfrom roadmap.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
            f"    try:\n        main({argv!r})\n    except SystemExit:\n        pass\n"
            "heavy = [m for m in ('torch', 'timm', 'pandas', 'matplotlib', 'submitit') if m in sys.modules]\n"
            "print(json.dumps([out.getvalue(), heavy]))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    text, heavy = json.loads(r.stdout.strip().splitlines()[-1])
    return text, set(heavy)


@pytest.mark.parametrize("argv", [["run", "--upto", "step99"], ["run", "--roadmap", "isotropic", "--only", "step9"],
                                  ["run", "--set", "epochs=x"], ["run", "--recipe", "nope"],
                                  ["run", "--set", "amp=false", "--emulate-bf16"]])
def test_a_run_with_a_bad_step_or_recipe_stops_before_importing_torch(argv):
    """Seconds of torch imports would come before the one sentence; the CLI checks these first."""
    _, heavy = imported_by_command(argv)
    assert not heavy & {"torch", "timm"}, heavy


def test_roadmap_help_imports_no_torch_pandas_or_matplotlib():
    text, heavy = imported_by_command(["--help"])
    assert "COMMAND" in text and "steps" in text, text
    assert not heavy, heavy


def test_roadmap_steps_reaches_neither_the_figure_nor_the_launcher():
    """What `roadmap steps` can import, following every roadmap import from its command module."""
    seen, todo = set(), ["roadmap.cli.steps"]
    while todo:
        m = todo.pop()
        if m in seen or m not in MODULES:
            continue
        seen.add(m)
        todo += [i for i, _ in _imports(MODULES[m])]
    assert "roadmap.arch.complexity" in seen
    assert not seen & {"roadmap.present.figure", "roadmap.runs.launch", "roadmap.runs.runner"}


def test_a_set_value_that_holds_only_beside_the_swept_ones_is_left_to_the_runner():
    import argparse

    from roadmap.cli.run import _check_early
    from roadmap.errors import RoadmapError
    a = argparse.Namespace(roadmap="convnext-t", design="path", upto=None, only=[], recipe="smoke",
                           overrides=["warmup_epochs=8"], sweep=[])
    with pytest.raises(RoadmapError, match="warmup_epochs"):  # smoke trains 6 epochs
        _check_early(a)
    _check_early(argparse.Namespace(**{**vars(a), "sweep": ["epochs=10,30"]}))
