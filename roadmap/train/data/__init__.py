"""Data layer: every source becomes a DataSplits of (PIL image, label) datasets."""

from roadmap.train.data.embedded import make_embedded
from roadmap.train.data.load import load_data
from roadmap.train.data.splits import DataSplits

__all__ = ["DataSplits", "load_data", "make_embedded"]
