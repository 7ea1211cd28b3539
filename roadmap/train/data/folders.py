"""ImageFolder trees: ROOT/train/<class>/<images> and ROOT/val/<class>/<images>.

Reuses torchvision's ImageFolder (recursive scan, sorted class -> index mapping). The tree is
checked up front: train/ and val/ exist, every class folder holds at least one image, and
both splits have the same classes, so the label indices agree.

An unreadable or corrupt image is FATAL: __getitem__ raises RoadmapError("cannot read image
PATH: reason") instead of skipping or substituting it, because a silently changed dataset
would make accuracies incomparable between roadmap steps. (Through a DataLoader worker,
torch re-raises it as a RoadmapError whose message is prefixed with the worker traceback.)

image_size: the headers of up to 8 train images spread over the list are read; if they
are all square and of one size that side is used, otherwise 224 (the nominal ImageNet
training resolution).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image
from torchvision.datasets import ImageFolder
from torchvision.datasets.folder import IMG_EXTENSIONS

from roadmap.train.data.fingerprint import files_fingerprint
from roadmap.train.data.splits import DataSplits
from roadmap.errors import RoadmapError

NOMINAL_SIZE = 224
_PROBES = 8


def looks_like_folder_tree(root: Path) -> bool:
    return (root / "train").is_dir() or (root / "val").is_dir()


def load_folder_tree(root: Path) -> DataSplits:
    for split in ("train", "val"):
        if not (root / split).is_dir():
            raise RoadmapError(f"ImageFolder tree {root} has no {split}/ folder")
    train, val = _open_split(root / "train"), _open_split(root / "val")
    if train.classes != val.classes:
        raise RoadmapError(f"train/ and val/ of {root} have different class folders "
                           f"({_class_difference(train.classes, val.classes)})")
    _check_headers(val)  # a broken val image would otherwise surface only after the first epoch
    files = [p for p, _ in train.samples] + [p for p, _ in val.samples]
    return DataSplits(train=train, val=val, num_classes=len(train.classes),
                      classes=list(train.classes), image_size=_probe_size(train),
                      name=root.resolve().name, fingerprint=files_fingerprint(root, files),
                      in_memory=False)


def read_rgb(path: str) -> Image.Image:
    """ImageFolder loader: RGB PIL image, or RoadmapError naming the file."""
    try:
        with open(path, "rb") as f:
            return Image.open(f).convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise RoadmapError(f"cannot read image {path}: {e}") from None


def _is_image_file(path: str) -> bool:
    """Image extension, and not hidden: skips macOS "._x.jpg" resource forks and the like."""
    name = os.path.basename(path)
    return not name.startswith(".") and name.lower().endswith(IMG_EXTENSIONS)


def _class_folders(directory) -> list[str]:
    """Sorted sub-folder names, hidden ones (.ipynb_checkpoints and the like) left out."""
    return sorted(e.name for e in Path(directory).iterdir()
                  if e.is_dir() and not e.name.startswith("."))


class _Folder(ImageFolder):
    def find_classes(self, directory):
        classes = _class_folders(directory)
        return classes, {c: i for i, c in enumerate(classes)}


def _open_split(path: Path) -> ImageFolder:
    try:
        if not _class_folders(path):  # torchvision's own error here is cryptic
            raise RoadmapError(f"ImageFolder split {path} has no class folders")
        split = _Folder(str(path), loader=read_rgb, is_valid_file=_is_image_file, allow_empty=True)
    except OSError as e:
        raise RoadmapError(f"cannot list ImageFolder split {path}: {e}") from None
    counts = np.bincount(np.asarray(split.targets, dtype=np.int64), minlength=len(split.classes))
    empty = [c for c, n in zip(split.classes, counts) if n == 0]
    if empty:
        raise RoadmapError(f"class folder {path / empty[0]} holds no images "
                           f"(looked for {', '.join(IMG_EXTENSIONS)})")
    return split


def _class_difference(train: list[str], val: list[str], shown: int = 5) -> str:
    parts = []
    for label, names in (("only in train", sorted(set(train) - set(val))),
                         ("only in val", sorted(set(val) - set(train)))):
        if names:
            more = f" and {len(names) - shown} more" if len(names) > shown else ""
            parts.append(f"{label}: {', '.join(names[:shown])}{more}")
    return "; ".join(parts)


def _check_headers(split: ImageFolder) -> None:
    """Open every image's header (not its pixels): a file that is no image is one sentence now."""
    for path, _ in split.samples:
        try:
            with Image.open(path):
                pass
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            raise RoadmapError(f"cannot read image {path}: {e}") from None


def _probe_size(split: ImageFolder) -> int:
    n = len(split.samples)
    sizes = set()
    for i in sorted({k * n // _PROBES for k in range(_PROBES)}):
        try:
            with Image.open(split.samples[i][0]) as im:  # reads the header only
                sizes.add(im.size)
        except (OSError, ValueError):
            return NOMINAL_SIZE  # the bad file will raise properly when it is read
    if len(sizes) == 1:
        (w, h), = sizes
        if w == h:
            return w
    return NOMINAL_SIZE
