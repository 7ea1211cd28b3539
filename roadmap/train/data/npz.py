"""Folders of .npz files: train.npz plus val.npz (or test.npz), JPEG bytes decoded at load.

Format (numpy.savez_compressed, no pickles):
  jpeg     uint8 (total_bytes,)  all encoded images concatenated
  offsets  int64 (N+1,)          image i is jpeg[offsets[i]:offsets[i+1]]
  y        integer (N,)          class index
  classes  str (C,)              class names
All images of a split are decoded once, with Pillow, into uint8 (N,H,W,3); they must share
one size. Decoding the 50,000 CIFAR-10 train images takes about 3.5 s on 2 cores (Python
overhead per image dominates, and threads do not help: the GIL is held).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from roadmap.train.data.arrays import ArrayDataset
from roadmap.train.data.fingerprint import arrays_fingerprint
from roadmap.train.data.splits import DataSplits
from roadmap.errors import RoadmapError

_KEYS = ("jpeg", "offsets", "y", "classes")


def looks_like_npz_folder(root: Path) -> bool:
    return (root / "train.npz").is_file()


def load_npz_folder(root: Path) -> DataSplits:
    val_path = next((p for p in (root / "val.npz", root / "test.npz") if p.is_file()), None)
    if val_path is None:
        raise RoadmapError(f".npz data folder {root} has train.npz but neither val.npz "
                           f"nor test.npz")
    x_train, y_train, classes = read_npz(root / "train.npz")
    x_val, y_val, val_classes = read_npz(val_path)
    if val_classes != classes:
        raise RoadmapError(f"{root / 'train.npz'} and {val_path} list different classes")
    if x_val.shape[1:] != x_train.shape[1:]:
        raise RoadmapError(f"images in {val_path} are {_hw(x_val)} but those in train.npz are "
                           f"{_hw(x_train)}")
    return DataSplits(
        train=ArrayDataset(x_train, y_train, classes), val=ArrayDataset(x_val, y_val, classes),
        num_classes=len(classes), classes=classes, image_size=x_train.shape[1],
        name=root.resolve().name,
        fingerprint=arrays_fingerprint(x_train, y_train, x_val, y_val, classes), in_memory=True)


def read_npz(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Decode one split file: x uint8 (N,H,W,3), y int64 (N,), class names."""
    try:
        with np.load(path, allow_pickle=False) as d:
            missing = [k for k in _KEYS if k not in d.files]
            if missing:
                raise RoadmapError(f"{path} lacks the key(s) {', '.join(missing)}")
            # Read each key once: every d[key] access decompresses the member again.
            blob, offsets, y, classes = (d[k] for k in _KEYS)
    except RoadmapError:
        raise
    except Exception as e:  # zipfile/numpy errors: damaged or foreign file
        raise RoadmapError(f"cannot read {path}: {e}") from None
    classes = [str(c) for c in classes.tolist()]
    n = len(offsets) - 1
    if (blob.dtype != np.uint8 or blob.ndim != 1 or y.shape != (n,) or n < 1
            or offsets[0] != 0 or offsets[-1] != len(blob) or np.any(np.diff(offsets) <= 0)):
        raise RoadmapError(f"{path} is not in the jpeg/offsets/y/classes layout "
                           f"(N={n} images, {len(y)} labels, {len(blob)} bytes)")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= len(classes):
        raise RoadmapError(f"{path} has labels outside 0..{len(classes) - 1}")
    return _decode_all(path, blob.tobytes(), offsets.tolist()), y.astype(np.int64), classes


def _decode_all(path: Path, blob: bytes, offsets: list[int]) -> np.ndarray:
    x = None
    for i in range(len(offsets) - 1):
        try:
            im = Image.open(io.BytesIO(blob[offsets[i]:offsets[i + 1]]))
            if im.mode != "RGB":  # some Tiny-ImageNet JPEGs are greyscale
                im = im.convert("RGB")
            pixels = im.tobytes()  # faster than np.asarray(im) for small images
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            raise RoadmapError(f"cannot decode image {i} of {path}: {e}") from None
        if x is None:
            x = np.empty((len(offsets) - 1, im.height, im.width, 3), np.uint8)
        elif im.size != (x.shape[2], x.shape[1]):
            raise RoadmapError(f"image {i} of {path} is {im.height}x{im.width}, "
                               f"not {_hw(x)} like the first")
        x[i] = np.frombuffer(pixels, np.uint8).reshape(x.shape[1:])
    return x


def _hw(x: np.ndarray) -> str:
    return f"{x.shape[1]}x{x.shape[2]}"
