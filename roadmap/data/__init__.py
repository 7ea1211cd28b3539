"""Data layer: every source becomes a DataSplits of (PIL image, label) datasets."""

from roadmap.data.embedded import make_embedded
from roadmap.data.load import load_data
from roadmap.data.splits import DataSplits

__all__ = ["DataSplits", "load_data", "make_embedded"]
