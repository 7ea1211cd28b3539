"""How numbers read in the tables: a signed change with its interval, a verdict on it, and one
GitHub-Markdown table writer. report, compare and agreement all print through these, so a
change reads the same everywhere."""
from __future__ import annotations

import math
from collections.abc import Sequence


def _nan(x) -> bool:
    try:
        return x is None or math.isnan(float(x))
    except (TypeError, ValueError):
        return True


def signed(x: float, digits: int = 2) -> str:
    """"+1.25"; a mean of equal accuracies is a float's -4.7e-15 and reads +0.00, not -0.00."""
    return f"{0.0 if abs(x) < 0.5 * 10 ** -digits else x:+.{digits}f}"


def change(delta: float, low: float, high: float) -> str:
    """"+1.25 [+0.40, +2.10]"; no interval with one seed; "" without a change."""
    if _nan(delta):
        return ""
    ci = "" if _nan(low) else f" [{signed(low)}, {signed(high)}]"
    return f"{signed(delta)}{ci}"


def verdict(delta: float, low: float, resolved: bool, better: str = "better", worse: str = "worse") -> str:
    """Resolved (the 95% interval excludes 0): better or worse; else within noise, or no interval."""
    if _nan(delta):
        return ""
    if resolved:
        return better if delta > 0 else worse
    return "≈ within noise" if not _nan(low) else "≈ (one seed: no interval)"


def markdown_table(headers: Sequence[str], numeric: Sequence[bool], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub Markdown table: numeric columns right-aligned, "|" inside a cell escaped."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
