"""The `roadmap` command: one sub-command per module of this package.

Each module's top level imports only argparse: torch, pandas and matplotlib load when a command
runs, so `roadmap --help` answers at once.
"""
from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading
from pathlib import Path

from roadmap.errors import RoadmapError

ROADMAP_HELP = "a shipped roadmap (convnext-t, convnext-b, ...) or a path to your own roadmap YAML"
EMULATE_BF16_HELP = ("with amp (the recipe's bf16), train in bf16 on a CPU without native bf16 too, where it would "
                     "train in fp32: rows of the precision a bf16 machine's have ('bf16 except depthwise'), cached and "
                     "paired with them, computed as native bf16 computes; no effect on a GPU or a CPU with native bf16")
DESIGN_HELP = ("path: the roadmap's steps in order (default); leave-one-out: the final model with one adopted step "
               "undone; add-one: the base with only that step applied")
RUN_DESIGN_HELP = DESIGN_HELP + (". Identical networks train once: a variant equal to one already trained (the "
                                 "final model, the base) is taken from the cache")
# name -> its line in `roadmap --help`. A command's module is imported only when that command is
# asked for; its register(subparsers, name, help) adds its options and set_defaults(fn=...).
COMMANDS = {
    "steps": "list a roadmap's steps with params and GFLOPs computed from the built models",
    "show": "print a step's spec as YAML and its diff against the step it starts from",
    "run": "train and evaluate each step of a roadmap up to STEP, into a results table",
    "plot": "draw Figure 2: the paper's numbers, or a reproduced run",
    "report": "a results folder as a table: top-1 per step with 95%% intervals, paired changes, verdicts, "
              "and the questions its roadmap file poses, read against their published directions",
    "compare": "two results folders or two steps, paired by seed: delta, 95%% interval, verdict",
    "agreement": "runs against the paper and each other: rank correlations and signs, with intervals",
    "recipe": "a training recipe's settings with their values and meanings",
    "export": "a trained variant's weights as safetensors, with its spec YAML in the metadata",
    "bench": "measure train/eval img/s, TFLOP/s and MFU per variant against timm's eager loop",
}


def parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The command line parser; only the command named in `argv` (if any) gets its options."""
    p = argparse.ArgumentParser(
        prog="roadmap",
        description="Build, train and plot the ConvNeXt modernization roadmap (ResNet -> ConvNeXt), step by step.",
        epilog="Run 'roadmap COMMAND --help' for a command's options.",
    )
    p.add_argument("--version", action="version", version=f"roadmap {_version()}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    # the top-level parser takes no option with a value, so the first word is the command
    chosen = next((a for a in (argv or []) if not a.startswith("-")), None)
    for name, help in COMMANDS.items():
        if name == chosen:
            importlib.import_module(f"roadmap.cli.{name}").register(sub, name, help)
        else:
            sub.add_parser(name, help=help)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:  # a bare `roadmap`: what it can do, not an argparse complaint
        parser(argv).print_help()
        return 0
    args = parser(argv).parse_args(argv)
    if threading.current_thread() is threading.main_thread():  # SIGTERM (a scheduler, kill) ends like Ctrl-C
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        return int(args.fn(args) or 0)
    except RoadmapError as e:
        print(f"roadmap: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("roadmap: interrupted; the same command resumes every unfinished variant from its last finished epoch", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `roadmap show ... | head`: the reader has all it wanted
        sys.stdout = open(os.devnull, "w")
        return 0
    except OSError as e:  # a read-only --out, a full disk: the path and the reason
        if e.filename is None:
            raise
        print(f"roadmap: error: cannot write or read {e.filename}: {e.strerror}", file=sys.stderr)
        return 2


def emit(text: str, out: str | None) -> int:
    """A command's table: to the file given with -o (its folder made), else to standard output."""
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text)
        print(f"wrote {out}")
    else:
        print(text, end="")
    return 0


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("roadmap")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def _interrupt(signum, frame):
    # once: a second SIGTERM (timeout and a kill, say) must not break the clean-up that the first began
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt
