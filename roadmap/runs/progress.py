"""Progress for a roadmap run: every running variant (epoch, loss, img/s) under an overall count and
ETA; on a terminal one live line, in a log plain lines per epoch and at least every 30 s, in quiet
mode nothing but results.

The ETA weighs each variant by its cost (GFLOPs x the epochs left to train), so a run whose variants
differ tenfold in size, resume from checkpoints, or train several at once, is not estimated from a
mean time per variant.
"""
from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass


def _fmt(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60:02d}:{seconds % 60:02d}"


@dataclass
class _Running:
    cost: float
    frac: float = 0.0  # of this run's share: a resumed variant's cost is its epochs left
    first: float | None = None  # where in its epochs it began in this run (5.4: inside epoch 6)
    text: str = "starting"


class Progress:
    def __init__(self, total_variants: int, quiet: bool = False, stream=None):
        self.total, self.quiet = total_variants, quiet
        self.stream = stream or sys.stderr
        self.live = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.done = 0
        self.running: dict[str, _Running] = {}
        self.cost_left = self.cost_done = 0.0  # of the variants that train in this run
        self.t_first: float | None = None       # when the first variant began training
        self.last_line = time.time()

    def plan(self, cost: float) -> None:
        """A variant that will train in this run, with its cost (any unit, the same for all)."""
        self.cost_left += cost

    def _overall(self) -> str:
        eta = ""
        done = self.cost_done + sum(r.cost * r.frac for r in self.running.values())
        if self.t_first is not None and done > 0:
            left = self.cost_left - sum(r.cost * r.frac for r in self.running.values())
            eta = f", ETA {_fmt((time.time() - self.t_first) * max(left, 0) / done)}"
        return f"[{self.done}/{self.total} done{eta}]"

    def say(self, text: str) -> None:
        if not self.quiet:
            if self.live:
                self.stream.write("\r\033[K")
            print(text, file=self.stream, flush=True)
            self._draw()

    def start(self, name: str, cost: float = 0.0) -> None:
        self.running[name] = _Running(cost)
        if self.t_first is None:
            self.t_first = time.time()
        self._draw()

    def step(self, name: str, epoch: int, epochs: int, i: int, n: int, loss: float, img_s: float) -> None:
        run = self.running.get(name)
        if run is None:
            return
        if run.first is None:  # its first report: at most 10 steps after where it began (the loop's period)
            run.first = epoch + i / n
        run.frac = (epoch + (i + 1) / n - run.first) / max(epochs - run.first, 1e-9)
        run.text = f"epoch {epoch + 1}/{epochs} step {i + 1}/{n} loss {loss:.3f} {img_s:.0f} img/s"
        if self.quiet:
            return
        if self.live:
            self._draw()
        elif time.time() - self.last_line >= 30:  # a log file: a line at least every 30 s, not silence
            self.last_line = time.time()
            for other, r in self.running.items():
                print(f"{self._overall()} {other} {r.text}", file=self.stream, flush=True)

    def epoch(self, name: str, epoch: int, epochs: int, metrics: dict) -> None:
        if self.live or self.quiet:
            return
        print(f"{self._overall()} {name} epoch {epoch + 1}/{epochs} loss {metrics['train_loss']:.3f} "
              f"top1 {metrics['top1']:.2f} {metrics['img_s']:.0f} img/s", file=self.stream, flush=True)
        self.last_line = time.time()

    def finish(self, name: str, text: str, trained: bool = True) -> None:
        run = self.running.pop(name, None)
        if trained and run is not None:
            self.cost_done += run.cost
            self.cost_left -= run.cost
        self.done += 1
        self.say(text)

    def _draw(self) -> None:
        """The live line: the overall count and ETA, then each running variant."""
        if self.quiet or not self.live or not self.running:
            return
        parts = [f"{name} {r.text}" for name, r in self.running.items()]
        line = f"{self._overall()} " + " | ".join(parts)
        width = shutil.get_terminal_size((120, 20)).columns
        self.stream.write("\r\033[K" + (line if len(line) < width else line[:width - 2] + "…"))
        self.stream.flush()

    def variant(self, name: str) -> "VariantProgress":
        return VariantProgress(self, name)


class VariantProgress:
    """What the trainer reports to: one variant's calls, named, to a Progress here or in a parent
    process (any sink with say, step and epoch)."""

    def __init__(self, sink, name: str):
        self.sink, self.name = sink, name

    def say(self, text: str) -> None:
        self.sink.say(text)

    def step(self, epoch: int, epochs: int, i: int, n: int, loss: float, img_s: float) -> None:
        self.sink.step(self.name, epoch, epochs, i, n, loss, img_s)

    def epoch(self, epoch: int, epochs: int, metrics: dict) -> None:
        self.sink.epoch(self.name, epoch, epochs, metrics)
