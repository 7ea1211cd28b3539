"""In-memory dataset over a uint8 image array: used by the embedded, CIFAR and .npz sources."""

from __future__ import annotations

import numpy as np
from PIL import Image
from torch.utils.data import Dataset


class ArrayDataset(Dataset):
    """Items are (PIL RGB image, int label), passed through `transform` when it is set.

    `.x` (uint8 N,H,W,3) and `.y` (int64 N) stay public so a GPU fast path can move the
    whole split to the device and skip PIL.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, classes: list[str], transform=None):
        if x.dtype != np.uint8 or x.ndim != 4 or x.shape[3] != 3:
            raise ValueError(f"x must be uint8 (N,H,W,3), got {x.dtype} {x.shape}")
        if y.shape != (len(x),):
            raise ValueError(f"y must have shape ({len(x)},), got {y.shape}")
        self.x = x
        self.y = y.astype(np.int64, copy=False)
        self.classes = list(classes)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int):
        image = Image.fromarray(self.x[index])  # (H,W,3) uint8 -> mode "RGB"
        label = int(self.y[index])
        if self.transform is not None:
            image = self.transform(image)
        return image, label
