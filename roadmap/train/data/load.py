"""load_data(source): picks the data source from what the path holds."""

from __future__ import annotations

import os
import re
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

from roadmap.train.data.arrays import ArrayDataset
from roadmap.train.data.cifar import find_cifar, load_cifar
from roadmap.train.data.embedded import EMBEDDED_MAX, EMBEDDED_VAL, make_embedded
from roadmap.train.data.fingerprint import arrays_fingerprint
from roadmap.train.data.folders import load_folder_tree, looks_like_folder_tree
from roadmap.train.data.npz import load_npz_folder, looks_like_npz_folder
from roadmap.train.data.splits import DataSplits
from roadmap.train.data.subset import split_source, subset
from roadmap.errors import RoadmapError

EMBEDDED = "embedded"


def load_data(source: str | os.PathLike) -> DataSplits:
    """Load train/val splits from `source`.

    `source` is "embedded" (the generated default set; "embedded:N" with N training images
    per class and "embedded:N:V" with V validation images per class too, for quick tries and
    tests; a folder of that name can still be given as ./embedded) or a folder holding one of:
    an ImageFolder tree (train/, val/), CIFAR-10/100 python pickles (or their cifar-*-python
    parent), train.npz + val.npz|test.npz.
    "PATH:N" takes N training images per class from any of them (see roadmap.train.data.subset).
    Raises RoadmapError when the source is missing or none of these.
    """
    if str(source) == EMBEDDED:
        return load_embedded()
    sizes = embedded_sizes(source)
    if sizes is not None:
        return replace(load_embedded(*sizes), name=data_name(source))
    base, n = (str(source), None) if Path(source).expanduser().exists() else split_source(str(source))
    data = _load_path(base)
    return subset(data, n) if n else data


def _load_path(source: str) -> DataSplits:
    root = Path(source).expanduser()
    if not root.exists():
        raise RoadmapError(f"data source {root}: no such file or directory")
    if not root.is_dir():
        raise RoadmapError(f"data source {root} is a file, not a folder: pass the folder that "
                           f"holds the data (or 'embedded')")
    if looks_like_folder_tree(root):
        return load_folder_tree(root)
    cifar = find_cifar(root)
    if cifar is not None:
        return load_cifar(*cifar)
    if looks_like_npz_folder(root):
        return load_npz_folder(root)
    raise RoadmapError(f"data source {root} is not an ImageFolder tree (train/, val/), "
                       f"a CIFAR python folder or a folder of .npz files (train.npz, val.npz)")


def data_name(source: str | os.PathLike) -> str:
    """The name load_data(source) gives its splits, found without reading any image (the runner
    names and locks its results folder before the data loads)."""
    if str(source) == EMBEDDED:
        return EMBEDDED
    sizes = embedded_sizes(source)
    if sizes is not None:  # the default validation size is left out, as before it could be chosen
        n, v = sizes
        return f"{EMBEDDED}:{n}" + (f":{v}" if v != EMBEDDED_VAL else "")
    base, n = (str(source), None) if Path(source).expanduser().exists() else split_source(str(source))
    suffix = f":{n}" if n else ""
    root = Path(base).expanduser()
    if not root.is_dir():
        return root.name + suffix
    cifar = find_cifar(root)
    return (cifar[0] if cifar is not None and not looks_like_folder_tree(root) else root.resolve().name) + suffix


def embedded_sizes(source: str | os.PathLike) -> tuple[int, int] | None:
    """"embedded:N" -> (N, 100) and "embedded:N:V" -> (N, V), images per class of the generated set;
    None for any other source (and for a folder that happens to have such a name)."""
    source = str(source)
    if not source.startswith(EMBEDDED + ":") or Path(source).expanduser().exists():
        return None
    sizes = source[len(EMBEDDED) + 1:].split(":")
    if len(sizes) > 2 or not all(re.fullmatch(r"[0-9]+", n) for n in sizes):
        raise RoadmapError(f"data source {source}: use embedded:N with N training images per class "
                           f"(or embedded:N:V, with V validation images per class), e.g. embedded:100")
    n, v = int(sizes[0]), int(sizes[1]) if len(sizes) == 2 else EMBEDDED_VAL
    if min(n, v) < 1:
        raise RoadmapError(f"data source {source}: the embedded set needs at least 1 image per class")
    if max(n, v) > EMBEDDED_MAX:
        raise RoadmapError(f"data source {source}: the embedded set generates at most {EMBEDDED_MAX:,} training "
                           f"or validation images per class")
    return n, v


def load_embedded(n_train_per_class: int = 500, n_val_per_class: int = EMBEDDED_VAL) -> DataSplits:
    (x_train, y_train, x_val, y_val, classes), fingerprint = _generated(n_train_per_class, n_val_per_class)
    x_train, y_train, x_val, y_val = (a.copy() for a in (x_train, y_train, x_val, y_val))
    return DataSplits(
        train=ArrayDataset(x_train, y_train, classes), val=ArrayDataset(x_val, y_val, classes),
        num_classes=len(classes), classes=list(classes), image_size=x_train.shape[1], name=EMBEDDED,
        fingerprint=fingerprint, in_memory=True)


@lru_cache(maxsize=2)
def _generated(n_train_per_class: int, n_val_per_class: int) -> tuple[tuple, str]:
    """Generated and fingerprinted once per process (1-4 s each time otherwise: a notebook or a test
    session calls run() many times); load_embedded hands out copies, so no run alters another's."""
    arrays = make_embedded(n_train_per_class, n_val_per_class)
    return arrays, arrays_fingerprint(*arrays)
