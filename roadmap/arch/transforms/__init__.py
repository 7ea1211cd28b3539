"""Steps as pure functions Spec -> Spec, registered by name for the roadmap files.

`convnext` holds the paper's modernization steps (ResNet -> ConvNeXt), `isotropic` the steps
between patch networks (DeiT -> MLP-Mixer -> isotropic ConvNeXt); both register in `registry`.
"""
from roadmap.arch.transforms import convnext, isotropic  # noqa: F401  (registration)
from roadmap.arch.transforms.registry import TRANSFORMS, NotApplicable, transform

__all__ = ["TRANSFORMS", "NotApplicable", "transform"]
