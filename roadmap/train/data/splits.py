"""DataSplits: what every data source hands to the trainer."""

from __future__ import annotations

from dataclasses import dataclass

from torch.utils.data import Dataset


@dataclass
class DataSplits:
    """Train/val datasets plus what the trainer and the results need to know about them.

    Items are (PIL.Image RGB, int label) until the trainer sets `split.transform`.
    In-memory splits (in_memory=True) also expose `.x` uint8 (N,H,W,3) and `.y` int64 (N,).
    """

    train: Dataset
    val: Dataset
    num_classes: int
    classes: list[str]
    image_size: int  # native side length; 224 nominal for ImageFolder trees of mixed sizes
    name: str  # "embedded", "cifar10", "cifar100", or the folder's name
    fingerprint: str  # 16 hex chars identifying the exact data (see roadmap.train.data.fingerprint)
    in_memory: bool
