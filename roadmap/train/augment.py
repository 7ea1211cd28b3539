"""Image augmentation of a recipe: timm's train and eval transforms (per-sample, PIL), with
torchvision's RandAugment in timm's place when the recipe names it (aa_impl: torchvision)."""
from __future__ import annotations

from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, create_transform
from torchvision import transforms

from roadmap.train.recipe import AugmentImpl, Recipe, torchvision_randaugment


def mean_std(recipe: Recipe) -> tuple[tuple[float, ...], tuple[float, ...]]:
    if recipe.mean is None:
        return IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
    return recipe.mean, recipe.std


def image_transforms(recipe: Recipe, res: int):
    """(train, eval) transforms at `res` px, as the recipe sets them."""
    mean, std = mean_std(recipe)
    torchvision_aa = recipe.aa_impl is AugmentImpl.TORCHVISION
    train_tf = create_transform(
        res, is_training=True, scale=recipe.scale, auto_augment=None if torchvision_aa else recipe.aa,
        re_prob=recipe.reprob, re_mode="pixel", interpolation="bicubic", mean=mean, std=std,
        color_jitter=None,  # the official recipe's jitter is off whenever RandAugment is on
        separate=torchvision_aa,
    )
    if torchvision_aa:  # crop and flip, then RandAugment, then to a normalised tensor: the ConvMixer script's order
        crop_flip, _, finish = train_tf
        num_ops, magnitude = torchvision_randaugment(recipe.aa)
        train_tf = transforms.Compose([crop_flip, transforms.RandAugment(num_ops=num_ops, magnitude=magnitude), finish])
    eval_tf = create_transform(res, is_training=False, crop_pct=recipe.crop_pct, interpolation="bicubic",
                               mean=mean, std=std)
    return train_tf, eval_tf
