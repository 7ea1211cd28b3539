"""roadmap: the ConvNeXt modernization roadmap (Liu et al. 2022, Figure 2) as data.

    import roadmap
    rm = roadmap.load("convnext-t")          # or a path to your own roadmap YAML
    rm.ids                                   # ['step0', 'step1', ..., 'step7']
    spec = rm.spec("step7")                  # a frozen, hashable Spec
    model = roadmap.build(spec, num_classes=1000)
"""
from roadmap.builder import build
from roadmap.complexity import complexity
from roadmap.errors import RoadmapError
from roadmap.roadmap_file import Roadmap, Step, load
from roadmap.spec import Spec

__all__ = ["build", "complexity", "load", "Roadmap", "RoadmapError", "Spec", "Step"]
__version__ = "0.1.0"
