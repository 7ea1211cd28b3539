"""The `roadmap` command: one sub-command per module in roadmap/commands/."""
from __future__ import annotations

import argparse
import importlib
import sys

from roadmap.errors import RoadmapError

# each module has register(subparsers), which adds its parser with set_defaults(fn=...)
COMMANDS = ["steps", "show", "run", "plot", "report", "bench"]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="roadmap",
        description="Build, train and plot the ConvNeXt modernization roadmap (ResNet -> ConvNeXt), step by step.",
        epilog="Run 'roadmap COMMAND --help' for a command's options.",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"roadmap.commands.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"roadmap.commands.{name}":
                continue
            raise
        module.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.fn(args) or 0)
    except RoadmapError as e:
        print(f"roadmap: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("roadmap: interrupted", file=sys.stderr)
        return 130
