"""roadmap: the ConvNeXt modernization roadmap (Liu et al. 2022, Figure 2) as data.

    import roadmap
    rm = roadmap.load("convnext-t")          # or a path to your own roadmap YAML
    rm.ids                                   # ['step0', 'step1', ..., 'step7']
    spec = rm.spec("step7")                  # a frozen, hashable Spec
    model = roadmap.build(spec, num_classes=1000)

    model = roadmap.load_model("results/smoke", "step7", seed=0)   # a trained variant
    import timm; timm.create_model("roadmap_convnext_t_step4")      # every step, in timm

The layers, each importing only the ones before it: `arch` (spec, steps, builder), `train`
(loop, recipes, data), `runs` (runner, results table), `present` (statistics, figures,
reports) and `cli`. The names below load on first use, so `roadmap --help` imports no torch.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

# public name -> the module that defines it
_API = {
    "build": "roadmap.arch.network",
    "complexity": "roadmap.arch.complexity",
    "load": "roadmap.arch.catalog",
    "Roadmap": "roadmap.arch.steps",
    "Step": "roadmap.arch.steps",
    "Spec": "roadmap.arch.spec",
    "RoadmapError": "roadmap.errors",
    "load_model": "roadmap.runs.weights",
    "export": "roadmap.runs.weights",
    "register": "roadmap.arch.timm_models",
}

__all__ = sorted(_API)
__version__ = "0.1.0"


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'roadmap' has no attribute {name!r}")
    value = getattr(importlib.import_module(_API[name]), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)


def _register_with_timm() -> None:
    mod = sys.modules.get("roadmap.arch.timm_models")
    if mod is not None and getattr(mod.__spec__, "_initializing", False):
        return  # it is being imported (it imports timm): it registers the shipped steps as it ends
    try:  # importing it registers them; if it was imported already, registering again is a no-op
        importlib.import_module("roadmap.arch.timm_models").register_shipped()
    except Exception as e:  # never break the user's `import timm` over our registry
        warnings.warn(f"roadmap: the roadmap steps are not registered as timm models ({e})", stacklevel=2)


class _AfterTimm(importlib.abc.MetaPathFinder):
    """Registers the shipped steps with timm once timm itself has been imported: `import roadmap`
    then stays free of torch (the CLI answers --help at once) and `timm.create_model` still knows
    every step, whichever of the two is imported first. Every spec it hands out is patched, and it
    leaves sys.meta_path only when timm has run: an availability check (importlib.util.find_spec)
    does not use it up."""

    def find_spec(self, name, path=None, target=None):
        if name != "timm":
            return None
        sys.meta_path.remove(self)  # the finders after this one give timm's real spec
        try:
            spec = importlib.util.find_spec("timm")
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            _register_with_timm()
        spec.loader.exec_module = exec_module
        return spec


if "timm" in sys.modules:
    _register_with_timm()
elif not any(isinstance(f, _AfterTimm) for f in sys.meta_path):
    sys.meta_path.insert(0, _AfterTimm())
