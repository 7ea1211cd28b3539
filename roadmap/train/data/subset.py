"""`--data PATH:N`: N training images per class from any source, the same ones on every machine.

Each class's images are drawn by a fixed-seed permutation of that class's indices (not the first N:
folders and files are often sorted by something that correlates with content), then kept in the
source's order. The validation split is untouched, so subsets are scored on the same images as
the full set. The fingerprint is the full data's plus N, so rows and checkpoints of a subset never
mix with the full set's; the name says it too ("cifar10:100"), for tables and figures.
"""
from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import replace
from pathlib import Path

import numpy as np

from roadmap.errors import RoadmapError
from roadmap.train.data.arrays import ArrayDataset
from roadmap.train.data.splits import DataSplits

SUBSET_SEED = 0


def split_source(source: str) -> tuple[str, int | None]:
    """"PATH:N" -> (PATH, N) for a whole number N >= 1; a suffix that is not a number stays part of the
    path (/data/imagenet:v2). "embedded:..." is read by load.embedded_sizes, not here."""
    base, sep, n = source.rpartition(":")
    if not sep or not base:
        return source, None
    if not re.fullmatch(r"[0-9]+", n):
        if Path(base).expanduser().is_dir():  # cifar10:abc beside a cifar10 folder: a typo, not a path
            raise RoadmapError(f"data source {source}: {n!r} is not a number (PATH:N takes N training images "
                               f"per class)")
        return source, None
    if int(n) < 1:
        raise RoadmapError(f"data source {source}: N must be at least 1 training image per class")
    return base, int(n)


def labels_of(dataset) -> np.ndarray:
    if isinstance(dataset, ArrayDataset):
        return dataset.y
    return np.asarray(dataset.targets, dtype=np.int64)  # an ImageFolder


def per_class_indices(labels: np.ndarray, num_classes: int, n: int, classes: list[str], name: str) -> np.ndarray:
    rng = np.random.default_rng(SUBSET_SEED)
    picked = []
    for c in range(num_classes):
        idx = np.flatnonzero(labels == c)
        if len(idx) < n:
            raise RoadmapError(f"data source {name}:{n}: class {classes[c]!r} has only {len(idx)} training "
                               f"images, fewer than {n}")
        picked.append(idx[rng.permutation(len(idx))[:n]])
    return np.sort(np.concatenate(picked))


def take(dataset, idx: np.ndarray):
    if isinstance(dataset, ArrayDataset):
        return ArrayDataset(dataset.x[idx], dataset.y[idx], dataset.classes, dataset.transform)
    out = copy.copy(dataset)  # an ImageFolder: its sample list, nothing read
    out.samples = [dataset.samples[i] for i in idx]
    out.imgs, out.targets = out.samples, [t for _, t in out.samples]
    return out


def subset(data: DataSplits, n: int) -> DataSplits:
    idx = per_class_indices(labels_of(data.train), data.num_classes, n, data.classes, data.name)
    fingerprint = hashlib.blake2b(f"{data.fingerprint}:{n} per class, seed {SUBSET_SEED}".encode(),
                                  digest_size=8).hexdigest()
    return replace(data, train=take(data.train, idx), name=f"{data.name}:{n}", fingerprint=fingerprint)
