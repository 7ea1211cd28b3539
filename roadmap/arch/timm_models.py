"""Every step of a roadmap as a timm model, so any timm pipeline trains our exact networks.

    import roadmap, timm
    model = timm.create_model("roadmap_convnext_t_step4", num_classes=10, drop_path_rate=0.1)

Names: roadmap_<roadmap>_<step>, with '-' and '.' written '_' (timm reads a '.' as the start of a
pretrained tag): roadmap_convnext_t_step5_k9, roadmap_convnext_b_step0, roadmap_isotropic_step2_pos.
A stage id names its last adopted sub-step too, as Roadmap.step does: roadmap_convnext_t_step5
is step5.k7. Importing roadmap registers the shipped roadmaps (when timm is imported: see
roadmap/__init__); register(path) adds your own.

Beyond timm's usual arguments (num_classes, drop_path_rate, in_chans, img_size) the scale knobs
of our recipes are model arguments: width_mult, depth_mult, stem_stride (timm's train.py:
--model-kwargs width_mult=0.25 depth_mult=0.34 stem_stride=2).

Each is a full timm model (the contract lives on the network: roadmap.arch.network, .head and
.features): forward_features / forward_head, get_classifier / reset_classifier, global_pool,
features_only=True through timm's FeatureGetterNet, forward_intermediates, the training hooks, and
a default cfg whose pool_size, first_conv and classifier fit the network. tests/timm_suite.py runs
timm's own model tests against every name.

Pretrained weights: a step with a `timm:` reference in its roadmap file (step0: resnet50 or
resnet200; step7: convnext_tiny or convnext_base; the isotropic step0: DeiT-S) takes that model's
ImageNet-1k weights (WEIGHTS) through timm's own loader, wherever timm finds them locally (its Hugging Face cache,
or pretrained_cfg_overlay=dict(file=PATH)). Our layers are registered in the reference's order, so
the key map pairs the two state dicts position by position, checked shape by shape (key_map).
Other steps have no weights: pretrained=True fails as timm fails for any such model.
"""
from __future__ import annotations

import contextlib
import functools
import math
import re
import warnings
from pathlib import Path

import timm
import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.layers import resample_abs_pos_embed
from timm.models import build_model_with_cfg, generate_default_cfgs, get_pretrained_cfg, register_model

from roadmap import shipped
from roadmap.arch.scale import scale_spec
from roadmap.arch.spec import Spec
from roadmap.arch.catalog import load
from roadmap.arch.names import stage_of
from roadmap.arch.steps import Roadmap, Step
from roadmap.errors import RoadmapError

__all__ = ["key_map", "model_name", "register", "register_shipped", "remap"]  # timm appends each model

# ImageNet-1k-only weights, as in the paper's ResNet -> ConvNeXt comparisons (timm's default tags
# for ConvNeXt are pretrained on ImageNet-12k/22k): the official ConvNeXt-T/B (82.1, 83.8), the
# ResNet-50 of timm's modern A1 recipe (80.4), DeiT-S (79.9). timm has no ResNet-200 weights.
WEIGHTS = {"resnet50": "resnet50.a1_in1k", "convnext_tiny": "convnext_tiny.fb_in1k",
           "convnext_base": "convnext_base.fb_in1k", "deit_small_patch16_224": "deit_small_patch16_224.fb_in1k"}

# Registration runs the moment timm finishes importing, possibly in the middle of importing our own
# network module (it imports timm.layers): so this module imports the builder only inside the
# functions that build, and registering needs only the spec and roadmap-file modules, none of
# which import timm.
PREFIX = "roadmap_"
FIRST_CONV, CLASSIFIER = "stem.conv", "head.fc"
default_cfgs: dict = {}  # timm's register_model reads a model's default cfg from its module, by this name
_REGISTERED: dict[str, tuple[str, str]] = {}  # name -> (roadmap file, spec hash)


def model_name(roadmap_name: str, step_id: str) -> str:
    return PREFIX + re.sub(r"[^0-9a-zA-Z]+", "_", f"{roadmap_name}_{step_id}").strip("_").lower()


def register(source: str | Path) -> list[str]:
    """Register every step of a roadmap (a shipped name or a YAML path) with timm; returns the names.

    Registering the same networks again is a no-op, an edited file replaces its own steps, and a
    different network under a name already taken is refused: give its roadmap another `name:`."""
    rm = load(source)
    names = []
    for alias, step in _named_steps(rm):
        name = model_name(rm.name, alias)
        mine = (str(rm.path.resolve()), step.spec.hash)
        if name in _REGISTERED:
            if _REGISTERED[name][1] == mine[1]:  # the same network (a copy of the file, say)
                names.append(name)
                continue
            if _REGISTERED[name][0] != mine[0]:
                raise RoadmapError(f"timm model {name} is already registered from {_REGISTERED[name][0]}, "
                                   f"a different network; give the roadmap in {rm.path} another name:")
        default_cfgs.update(generate_default_cfgs({name: _pretrained_cfg(step)}))
        with warnings.catch_warnings():  # re-registering our own edited file: timm warns of the overwrite
            warnings.simplefilter("ignore")
            register_model(_entrypoint(name, step))
        _REGISTERED[name] = mine
        names.append(name)
    return names


def register_shipped() -> list[str]:
    return [n for name in shipped.names("roadmap") for n in register(name)]


def _named_steps(rm: Roadmap) -> list[tuple[str, Step]]:
    """Each step under its id, then each stage id with sub-steps under its last adopted one."""
    out = [(s.id, s) for s in rm.steps]
    ids = {s.id for s in rm.steps}
    for stage in dict.fromkeys(stage_of(s.id) for s in rm.steps if stage_of(s.id) != s.id):
        if stage not in ids:
            out.append((stage, rm.step(stage)))
    return out


def _pretrained_cfg(step: Step) -> dict:
    """The reference's default weights and their data settings for a step with one, else ImageNet
    defaults with no weights (bicubic, crop 0.875: the paper's evaluation)."""
    fixed = step.spec.tokens and (step.spec.pos_embed or
                                  any(op.kind in ("token_mlp", "token_norm") for op in step.spec.block.ops))
    cfg = {"url": "", "num_classes": 1000, "input_size": (3, 224, 224), "crop_pct": 0.875,
           "interpolation": "bicubic", "mean": IMAGENET_DEFAULT_MEAN, "std": IMAGENET_DEFAULT_STD,
           "fixed_input_size": bool(fixed)}
    reference = get_pretrained_cfg(WEIGHTS.get(step.timm, step.timm)) if step.timm else None
    if reference is not None:
        cfg = {**reference.to_dict(), "fixed_input_size": bool(fixed)}
        cfg.pop("architecture", None), cfg.pop("tag", None)
    # The unpooled map at the default input size (timm's tests check it); a class token's sequence has none.
    pool = None if step.spec.cls_token else (cfg["input_size"][-1] // step.spec.total_stride,) * 2
    return {**cfg, "pool_size": pool, "first_conv": FIRST_CONV, "classifier": CLASSIFIER}


def _entrypoint(name: str, step: Step):
    def create(pretrained: bool = False, **kwargs):
        return _create(name, step, pretrained, **kwargs)
    create.__name__ = create.__qualname__ = name
    create.__module__ = __name__
    create.__doc__ = f"{step.spec.name}: {step.label}"
    return create


def _create(name: str, step: Step, pretrained: bool, width_mult: float = 1.0, depth_mult: float = 1.0,
            stem_stride: int | None = None, drop_rate: float = 0.0, **kwargs):
    if drop_rate:
        raise ValueError(f"{name} has no dropout before its classifier (drop_rate={drop_rate}); "
                         f"use drop_path_rate, as the paper does")
    spec = scale_spec(step.spec, width_mult, depth_mult, stem_stride)
    if pretrained and spec != step.spec:
        raise ValueError(f"{name}: pretrained weights fit the full-size network, not width_mult/depth_mult/"
                         f"stem_stride")
    size = kwargs.pop("img_size", 224)
    if isinstance(size, (tuple, list)):
        if len(set(size)) != 1:
            raise ValueError(f"{name} takes square inputs, not img_size={tuple(size)}")
        size = size[0]
    filter_fn = functools.partial(remap, spec=spec, reference=step.timm) if step.timm else None
    # features_only=True wraps the network in timm's FeatureGetterNet (forward_intermediates): every
    # stage of a hierarchical network, the last three blocks of an isotropic one (timm's ViT default)
    taps = tuple(range(len(spec.depths))) if len(spec.depths) > 1 else 3
    return build_model_with_cfg(_Built, name, pretrained, pretrained_filter_fn=filter_fn, spec=spec,
                                img_size=int(size), feature_cfg=dict(feature_cls="getter", out_indices=taps),
                                **kwargs)


def _Built(spec: Spec, num_classes: int = 1000, drop_path_rate: float = 0.0, in_chans: int = 3,
           img_size: int = 224, global_pool: str | None = None, device=None, dtype=None, **unknown):
    from roadmap.arch.network import build  # not at the top: see PREFIX
    if unknown:
        raise TypeError(f"{spec.name} does not take {', '.join(sorted(unknown))}")
    # timm's factory arguments: built on `device` (meta: nothing allocated), then cast to `dtype`
    with torch.device(device) if device is not None else contextlib.nullcontext():
        model = build(spec, num_classes=num_classes, drop_path_rate=drop_path_rate or 0.0, in_chans=in_chans,
                      img_size=img_size, global_pool=global_pool)
    return model.to(dtype) if dtype is not None else model


@functools.lru_cache(maxsize=None)
def key_map(spec: Spec, reference: str) -> dict[str, str]:
    """timm `reference`'s state-dict keys -> ours, paired by position; every shape must agree."""
    from roadmap.arch.network import build  # not at the top: see PREFIX
    with torch.device("meta"):
        theirs = timm.create_model(reference, pretrained=False).state_dict()
        ours = build(spec, num_classes=1000).state_dict()
    if len(theirs) != len(ours):
        raise RoadmapError(f"{spec.name} has {len(ours)} state entries and {reference} {len(theirs)}: "
                           f"its weights do not fit")
    for (k, v), (rk, rv) in zip(ours.items(), theirs.items()):
        if v.shape != rv.shape:
            raise RoadmapError(f"{spec.name}'s {k} {tuple(v.shape)} does not fit {reference}'s {rk} {tuple(rv.shape)}")
    return dict(zip(theirs, ours))


def remap(state_dict: dict, model=None, *, spec: Spec, reference: str) -> dict:
    """A state dict of timm's `reference` under our key names (timm's pretrained_filter_fn)."""
    names = key_map(spec, reference)
    unknown = [k for k in state_dict if k not in names]
    if unknown:
        raise RoadmapError(f"the {reference} weights hold keys its timm model does not have ({', '.join(unknown[:3])})")
    out = {names[k]: v for k, v in state_dict.items()}
    if model is not None:  # another input size: resample the position embedding, as timm's DeiT loader does
        ours = model.state_dict()
        for k, v in out.items():
            if k.endswith("pos_embed") and k in ours and v.shape != ours[k].shape:
                grid = int(math.isqrt(ours[k].shape[1] - spec.cls_token))
                out[k] = resample_abs_pos_embed(v, new_size=(grid, grid), num_prefix_tokens=int(spec.cls_token))
    return out


register_shipped()  # importing this module (as the hook in roadmap/__init__ does) registers them
