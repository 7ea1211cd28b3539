"""Data layer: every source becomes a DataSplits of (PIL image, label) datasets."""

from roadmap.train.data.embedded import make_embedded
from roadmap.train.data.load import data_name, load_data
from roadmap.train.data.splits import DataSplits

__all__ = ["DataSplits", "data_name", "load_data", "make_embedded"]
