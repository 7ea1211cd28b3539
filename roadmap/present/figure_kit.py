"""What every figure of the project shares: the ink, number and label formatting, the subtitle
naming the run, and saving (png, svg or pdf, with no date in the file so a committed figure
changes only with its content)."""
from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from roadmap.errors import RoadmapError
from roadmap.present.selection import split_by
from roadmap.runs.table import read_results

FORMATS = ("png", "svg", "pdf")
GRAY, DARK_GRAY, INK = "#C4C4C4", "#707070", "#222222"
SUBTITLE_CHARS = 150  # at 9.5 pt, what the narrowest figure (12 in) holds on one line


def flops(gflops: float) -> str:
    """Multiply-adds at the trained resolution: small proxies run at millions, not billions."""
    return f"{gflops:.2f}G" if gflops >= 0.1 else f"{gflops * 1e3:.1f}M"


def subtitle(f: dict) -> str:
    recipe = f"recipe {f['recipe']}" + (f" ({f['overrides']})" if f.get("overrides") not in ("", "?", None) else "")
    parts = [f["data"], recipe, f"res {f['res']}, width ×{f['width_mult']}, depth ×{f['depth_mult']}"]
    if f["epochs"]:
        parts.append(f"{f['epochs']} epoch{'' if str(f['epochs']) == '1' else 's'}")
    n = len(f["seeds"].split(", "))
    parts += [f"{n} seed{'s' if n > 1 else ''} ({f['seeds']})", f["device"]]
    lines = [""]
    for part in (short(p, SUBTITLE_CHARS) for p in parts if p):  # a part longer than a line ends in …
        joined = f"{lines[-1]}  ·  {part}" if lines[-1] else part
        if len(joined) <= SUBTITLE_CHARS or not lines[-1]:
            lines[-1] = joined
        else:  # too wide for the figure: the rest on the next line
            lines.append(part)
    return "\n".join(lines)


def pretty(label: str) -> str:
    return str(label).replace("->", "→")


def short(text: str, n: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def check_path(path: str | Path) -> Path:
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise RoadmapError(f"cannot write a figure to {path}: the file name must end in "
                           f"{', '.join('.' + f for f in FORMATS)}")
    return path


def save(fig: Figure, path: Path, dpi: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    # metadata: no creation date, so the committed figure only changes when its content does
    meta = {"png": {"Software": None}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}[path.suffix.lower()[1:]]
    fig.savefig(path, dpi=dpi, format=path.suffix.lower()[1:], metadata=meta)
    return path


def by_values(folder: str | Path, by: str | None, out: str | Path | None) -> list[str | None]:
    """The values of the swept setting `by` that a figure command draws one figure each for ([None]
    without `by`); several with one named output file are refused."""
    if not by:
        return [None]
    values = [label for label, _ in split_by(read_results(folder), by, folder)]
    if out and len(values) > 1:
        raise RoadmapError(f"--by {by} draws {len(values)} figures ({', '.join(values)}); leave out -o "
                           "to write one each")
    return values


def suffixed(stem: str | Path, value: str | None) -> str:
    """plots/NAME.png, or plots/NAME-epochs30.png for a value of --by."""
    suffix = "" if value is None else "-" + value.replace("=", "").replace(" ", "_").replace(":", "").replace("'", "")
    return f"{stem}{suffix}.png"
