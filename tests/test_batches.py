"""The in-memory batch pipeline: timm's per-sample augmentation, as whole tensors, reproducibly."""
from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch
from PIL import Image
from timm.data.transforms import RandomResizedCropAndInterpolation

from roadmap.train.augment import image_transforms
from roadmap.train.batches import RATIO, InMemoryBatches, crop_boxes, crop_resize
from roadmap.train.data import load_data
from roadmap.train.data.arrays import ArrayDataset
from roadmap.train.precision import keep_depthwise_fp32
from roadmap.train.recipe import load_recipe

RECIPE = load_recipe("smoke", ["scale=[0.5, 1.0]", "aa=null", "reprob=0", "crop_pct=1"])


def _split(n=64, size=32, seed=0):
    rng = np.random.default_rng(seed)
    return ArrayDataset(rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8), rng.integers(0, 10, n), list("abcdefghij"))


def test_crop_boxes_follow_timms_random_resized_crop():
    n, gen = 4000, torch.Generator().manual_seed(0)
    top, left, ch, cw = crop_boxes(n, 32, 32, (0.5, 1.0), RATIO, gen)
    assert (top >= 0).all() and (left >= 0).all() and (top + ch <= 32).all() and (left + cw <= 32).all()
    random.seed(0)
    theirs = np.array([RandomResizedCropAndInterpolation.get_params(Image.new("RGB", (32, 32)), (0.5, 1.0), RATIO)
                       for _ in range(n)], dtype=float)  # (i, j, h, w)
    for ours, col in ((top, 0), (left, 1), (ch, 2), (cw, 3)):
        assert ours.float().mean().item() == pytest.approx(theirs[:, col].mean(), abs=0.25), col
        assert ours.float().std().item() == pytest.approx(theirs[:, col].std(), rel=0.08), col


def test_a_box_that_never_fits_falls_back_to_the_centre():
    top, left, ch, cw = crop_boxes(5, 32, 32, (2.0, 3.0), RATIO, torch.Generator().manual_seed(0))
    assert (ch == 32).all() and (cw == 32).all() and (top == 0).all() and (left == 0).all()


def test_crop_resize_at_the_boxes_own_size_is_the_exact_pixels_and_flip_mirrors_them():
    x = torch.from_numpy(_split(4).x)
    top, left, size = torch.tensor([0.0, 3, 5, 8]), torch.tensor([0.0, 7, 1, 16]), torch.full((4,), 16.0)
    out = crop_resize(x, top, left, size, size, torch.tensor([False, False, True, True]), 16)
    for k in range(4):
        t, l_ = int(top[k]), int(left[k])
        crop = x[k, t:t + 16, l_:l_ + 16].permute(2, 0, 1).float()
        torch.testing.assert_close(out[k], crop.flip(-1) if k >= 2 else crop, atol=1e-3, rtol=0)


def test_evaluation_equals_timms_eval_transform():
    split = _split(8)
    ours, _ = next(InMemoryBatches(split, 8, torch.device("cpu"), RECIPE, 32, train=False).epoch())
    _, eval_tf = image_transforms(RECIPE, 32)
    theirs = torch.stack([eval_tf(Image.fromarray(split.x[k])) for k in range(8)])
    torch.testing.assert_close(ours.contiguous(), theirs, atol=1e-5, rtol=0)
    # with a resize on the way (res / crop_pct = 36 px, then the central 32): PIL's pixels, up to its
    # fixed-point rounding (two levels in 255 at most)
    recipe = RECIPE.replace(crop_pct=0.875)
    ours, _ = next(InMemoryBatches(split, 8, torch.device("cpu"), recipe, 32, train=False).epoch())
    theirs = torch.stack([image_transforms(recipe, 32)[1](Image.fromarray(split.x[k])) for k in range(8)])
    assert (ours - theirs).abs().max() < 2.01 / 255 / 0.225


@pytest.mark.parametrize("res", [32, 24, 40])
def test_crop_resize_gives_pils_pixels(res):
    """Each box cropped and resized as torchvision does it with PIL (bicubic), shrinking or growing:
    the same pixels up to rounding (the two passes' order and Pillow's fixed point)."""
    x = torch.from_numpy(load_data("embedded:10").train.x[:48])
    top, left, ch, cw = crop_boxes(48, 32, 32, (0.3, 1.0), RATIO, torch.Generator().manual_seed(res))
    ours = crop_resize(x, top, left, ch, cw, torch.zeros(48, dtype=torch.bool), res)
    diffs = []
    for k in range(48):
        t, l_, h, w = int(top[k]), int(left[k]), int(ch[k]), int(cw[k])
        pil = Image.fromarray(x[k].numpy()).crop((l_, t, l_ + w, t + h)).resize((res, res), Image.BICUBIC)
        diffs.append((ours[k] - torch.tensor(np.array(pil)).permute(2, 0, 1).float()).abs())
    d = torch.stack(diffs)
    assert d.mean() < 0.1 and (d > 1).float().mean() < 1e-3 and d.max() <= 16


def test_an_epoch_is_reproducible_and_seeds_differ():
    b = InMemoryBatches(_split(), 16, torch.device("cpu"), RECIPE, 32, train=True)
    first = [x for x, _ in b.epoch(1, 2)]
    again = [x for x, _ in b.epoch(1, 2)]
    other = [x for x, _ in b.epoch(1, 3)]
    assert len(first) == len(b) == 4
    assert all(torch.equal(a, c) for a, c in zip(first, again))
    assert not torch.equal(first[0], other[0])


def test_processes_take_disjoint_shares_of_one_order():
    split = _split(64)
    seen = []
    for rank in (0, 1):
        b = InMemoryBatches(split, 8, torch.device("cpu"), RECIPE, 32, train=True, rank=rank, world=2)
        seen += [y for _, ys in b.epoch(5, rank) for y in ys.tolist()]
    # every image once: labels of the union are the labels of the split
    assert sorted(seen) == sorted(split.y.tolist()) and len(b) == 4


def test_train_batches_have_the_per_sample_pipelines_statistics():
    split = _split(256, seed=1)
    ours = torch.cat([x for x, _ in InMemoryBatches(split, 64, torch.device("cpu"), RECIPE, 32, True).epoch(0, 0)])
    train_tf, _ = image_transforms(RECIPE, 32)
    torch.manual_seed(0)
    random.seed(0)
    theirs = torch.stack([train_tf(Image.fromarray(split.x[k])) for k in range(256)])
    assert ours.shape == theirs.shape
    assert ours.mean().item() == pytest.approx(theirs.mean().item(), abs=0.02)
    assert ours.std().item() == pytest.approx(theirs.std().item(), rel=0.03)


def test_depthwise_convs_run_in_fp32_under_autocast_and_keys_stay():
    conv = torch.nn.Conv2d(8, 8, 3, padding=1, groups=8)
    dense = torch.nn.Conv2d(8, 8, 1)
    model = torch.nn.Sequential(conv, dense)
    keys = list(model.state_dict())
    keep_depthwise_fp32(model)
    assert list(model.state_dict()) == keys
    x = torch.randn(2, 8, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert conv(x).dtype == torch.float32 and dense(x).dtype == torch.bfloat16
    assert math.isfinite(model(x).sum().item())
    import copy
    import pickle
    again = pickle.loads(pickle.dumps(model))  # checkpoints of whole models, EMA copies
    assert type(again[0]).__name__ == "Fp32Conv2d" and type(copy.deepcopy(model)[0]) is type(model[0])


def test_a_tiny_crop_is_one_pixel_not_nan():
    top, left, ch, cw = crop_boxes(64, 32, 32, (1e-4, 1e-3), RATIO, torch.Generator().manual_seed(0))
    assert (ch >= 1).all() and (cw >= 1).all()
    out = crop_resize(torch.from_numpy(_split(64).x), top, left, ch, cw, torch.zeros(64, dtype=torch.bool), 8)
    assert torch.isfinite(out).all()


def test_evaluate_counts_top1_and_top5_hits_exactly():
    """Against a count by hand: 7 classes (top-5 of 7), batches of uneven size, whole hits."""
    from roadmap.train.loop import evaluate

    class Fixed(torch.nn.Module):
        def forward(self, x):
            return x.flatten(1)[:, :7]

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(37, 7, 1, 1, generator=g), torch.randint(0, 7, (37,), generator=g)
    batches = [(x[i:i + 10], y[i:i + 10]) for i in range(0, 37, 10)]
    top1, top5, loss, _ = evaluate(Fixed(), batches, torch.device("cpu"), amp=False)
    logits = x.flatten(1)
    ranks = (logits > logits.gather(1, y[:, None])).sum(1)  # classes scored above the true one
    assert top1 == 100 * (ranks == 0).sum().item() / 37 and top5 == 100 * (ranks < 5).sum().item() / 37
    assert loss == pytest.approx(torch.nn.functional.cross_entropy(logits, y).item(), rel=1e-6)
