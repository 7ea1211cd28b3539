"""CIFAR-10 / CIFAR-100 in the original python-pickle layout, read without torchvision.

torchvision's CIFAR classes insist on their own md5 checks and download logic; the format
itself is small: pickled dicts (loaded with encoding="bytes", so keys are bytes) holding
b"data" uint8 (N, 3072) channel-planar rows and a label list.
  CIFAR-10:  data_batch_1..5, test_batch, batches.meta (b"label_names")
  CIFAR-100: train, test, meta (b"fine_label_names"); labels b"fine_labels"
The folder given may also be the parent of cifar-10-batches-py/ or cifar-100-python/.
The test split serves as val. Note that unpickling runs code: only load files you trust.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from roadmap.train.data.arrays import ArrayDataset
from roadmap.train.data.fingerprint import arrays_fingerprint
from roadmap.train.data.splits import DataSplits
from roadmap.errors import RoadmapError

_LAYOUTS = {  # name: (train files, val file, meta file, label key, class-name key)
    "cifar10": ([f"data_batch_{i}" for i in range(1, 6)], "test_batch", "batches.meta",
                b"labels", b"label_names"),
    "cifar100": (["train"], "test", "meta", b"fine_labels", b"fine_label_names"),
}
_SUBFOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}


def find_cifar(root: Path) -> tuple[str, Path] | None:
    """(name, folder holding the pickles) when `root` looks like a CIFAR folder, else None."""
    for name, sub in _SUBFOLDERS.items():
        if (root / sub).is_dir():
            return name, root / sub
    if (root / "batches.meta").is_file() or (root / "data_batch_1").is_file():
        return "cifar10", root
    if (root / "meta").is_file() and (root / "train").is_file():
        return "cifar100", root
    return None


def load_cifar(name: str, folder: Path) -> DataSplits:
    train_files, val_file, meta_file, label_key, names_key = _LAYOUTS[name]
    classes = [c.decode() if isinstance(c, bytes) else str(c)
               for c in _entry(_unpickle(folder / meta_file), names_key, folder / meta_file)]
    parts = [_read_batch(folder / f, label_key, len(classes)) for f in train_files]
    x_train = np.concatenate([x for x, _ in parts])
    y_train = np.concatenate([y for _, y in parts])
    x_val, y_val = _read_batch(folder / val_file, label_key, len(classes))
    return DataSplits(
        train=ArrayDataset(x_train, y_train, classes), val=ArrayDataset(x_val, y_val, classes),
        num_classes=len(classes), classes=classes, image_size=32, name=name,
        fingerprint=arrays_fingerprint(x_train, y_train, x_val, y_val, classes), in_memory=True)


def _unpickle(path: Path) -> dict:
    if not path.is_file():
        raise RoadmapError(f"CIFAR folder {path.parent} lacks the file {path.name}")
    try:
        with open(path, "rb") as f:
            d = pickle.load(f, encoding="bytes")
    except Exception as e:  # any unpickling failure means a damaged or foreign file
        raise RoadmapError(f"cannot read CIFAR file {path}: {e}") from None
    if not isinstance(d, dict):
        raise RoadmapError(f"CIFAR file {path} does not hold a dict")
    return d


def _entry(d: dict, key: bytes, path: Path):
    for k in (key, key.decode()):  # tolerate files re-pickled with str keys
        if k in d:
            return d[k]
    raise RoadmapError(f"CIFAR file {path} has no {key.decode()!r} entry")


def _read_batch(path: Path, label_key: bytes, num_classes: int):
    d = _unpickle(path)
    data = np.asarray(_entry(d, b"data", path))
    y = np.asarray(_entry(d, label_key, path), dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 or len(y) != len(data):
        raise RoadmapError(f"CIFAR file {path} does not hold uint8 (N, 3072) data with N labels")
    if len(y) and (y.min() < 0 or y.max() >= num_classes):
        raise RoadmapError(f"CIFAR file {path} has labels outside 0..{num_classes - 1}")
    # Rows are channel-planar (1024 R, 1024 G, 1024 B): to (N, 32, 32, 3).
    x = np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    return x, y
