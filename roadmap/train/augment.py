"""Image augmentation of a recipe: timm's train and eval transforms (per-sample, PIL)."""
from __future__ import annotations

from timm.data import create_transform


def image_transforms(recipe: dict, res: int):
    """(train, eval) transforms at `res` px, as the recipe sets them."""
    train_tf = create_transform(
        res, is_training=True, scale=tuple(recipe["scale"]), auto_augment=recipe["aa"],
        re_prob=recipe["reprob"], re_mode="pixel", interpolation="bicubic",
        color_jitter=None,  # the official recipe's jitter is off whenever RandAugment is on
    )
    eval_tf = create_transform(res, is_training=False, crop_pct=recipe["crop_pct"], interpolation="bicubic")
    return train_tf, eval_tf
