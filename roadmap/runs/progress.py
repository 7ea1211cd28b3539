"""Progress for a roadmap run: one live line per variant (epoch, loss, img/s, ETA) under an overall
count; plain lines per epoch when not on a terminal, nothing but results in quiet mode."""
from __future__ import annotations

import sys
import time


def _fmt(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60:02d}:{seconds % 60:02d}"


class Progress:
    def __init__(self, total_variants: int, quiet: bool = False, stream=None):
        self.total, self.quiet = total_variants, quiet
        self.stream = stream or sys.stderr
        self.live = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.done, self.started = 0, time.time()
        self.variant_times: list[float] = []
        self.name, self.t0 = "", time.time()
        self.last_line = time.time()

    def _overall(self) -> str:
        eta = ""
        if self.variant_times:
            left = (self.total - self.done) * sum(self.variant_times) / len(self.variant_times)
            eta = f", ETA {_fmt(left)}"
        return f"[{self.done + 1}/{self.total}{eta}]"

    def say(self, text: str) -> None:
        if not self.quiet:
            if self.live:
                self.stream.write("\r\033[K")
            print(text, file=self.stream, flush=True)

    def start(self, name: str) -> None:
        self.name, self.t0 = name, time.time()

    def step(self, epoch: int, epochs: int, i: int, n: int, loss: float, img_s: float) -> None:
        if self.quiet:
            return
        if not self.live:  # a log file: a plain line at least every 30 s, so a long epoch is not silence
            if time.time() - self.last_line >= 30:
                self.last_line = time.time()
                print(f"{self._overall()} {self.name} epoch {epoch + 1}/{epochs} step {i + 1}/{n} "
                      f"loss {loss:.3f} {img_s:.0f} img/s", file=self.stream, flush=True)
            return
        frac = (epoch + (i + 1) / n) / epochs
        elapsed = time.time() - self.t0
        eta = elapsed / max(frac, 1e-9) * (1 - frac)
        bar = "#" * int(20 * frac) + "." * (20 - int(20 * frac))
        self.stream.write(f"\r\033[K{self._overall()} {self.name} |{bar}| epoch {epoch + 1}/{epochs} "
                          f"loss {loss:.3f} {img_s:.0f} img/s ETA {_fmt(eta)}")
        self.stream.flush()

    def epoch(self, epoch: int, epochs: int, metrics: dict) -> None:
        if self.live or self.quiet:
            return
        print(f"{self._overall()} {self.name} epoch {epoch + 1}/{epochs} loss {metrics['train_loss']:.3f} "
              f"top1 {metrics['top1']:.2f} {metrics['img_s']:.0f} img/s", file=self.stream, flush=True)
        self.last_line = time.time()

    def finish(self, text: str, trained: bool = True) -> None:
        if trained:
            self.variant_times.append(time.time() - self.t0)
        self.done += 1
        self.say(text)
