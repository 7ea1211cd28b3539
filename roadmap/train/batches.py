"""Batches of an in-memory split (uint8 N,H,W,3), augmented as whole tensors on the split's device.

The fast path for the embedded, CIFAR and .npz sources: the images stay one uint8 tensor on the
device (CPU or GPU), and each batch is cropped, resized, flipped and normalised in a few tensor
ops instead of a PIL round-trip per image. The semantics are timm's per-sample pipeline that
`augment.image_transforms` builds for recipes without RandAugment:
- train: RandomResizedCrop (area `scale`, log-uniform ratio 3/4..4/3, ten tries then the central
  fallback, integer crop boxes), bicubic resize to `res`, horizontal flip with p = 0.5,
  the recipe's mean/std (ImageNet's by default), then timm's RandomErasing (pixel mode) when `reprob` > 0;
- eval: bicubic resize of the shorter side to res / crop_pct, central crop, mean/std.
A crop-and-resize is PIL's bicubic resampling written as two matrices per image, so the batch
resamples in two batched matmuls and gives PIL's pixels up to rounding (see `_resample`). Random
draws come from a generator seeded per epoch, so a resumed epoch repeats bit for bit.
"""
from __future__ import annotations

import math
from typing import Iterator

import numpy as np
import torch
from timm.data.random_erasing import RandomErasing

from roadmap.train.augment import mean_std

RATIO = (3 / 4, 4 / 3)  # timm's RandomResizedCrop default
TRIES = 10


class InMemoryBatches:
    def __init__(self, split, batch_size: int, device: torch.device, recipe: dict, res: int, train: bool,
                 rank: int = 0, world: int = 1):
        x, y = split.x, split.y  # an in-memory split (roadmap.train.data.arrays.ArrayDataset)
        if not train and world > 1:  # evaluation: each process takes every world-th image
            x, y = x[rank::world], y[rank::world]
        self.x = torch.from_numpy(np.ascontiguousarray(x)).to(device)  # uint8 (N, H, W, 3)
        self.y = torch.from_numpy(np.asarray(y, dtype=np.int64)).to(device)
        self.batch_size, self.device, self.res, self.train = batch_size, device, res, train
        self.rank, self.world = rank, world
        self.scale = recipe.scale
        self.crop_pct = recipe.crop_pct
        mean, std = mean_std(recipe)
        self.mean = torch.tensor(mean, device=device).view(1, 3, 1, 1) * 255
        self.std = torch.tensor(std, device=device).view(1, 3, 1, 1) * 255
        self.erase = RandomErasing(recipe.reprob, mode="pixel", device=str(device)) \
            if train and recipe.reprob > 0 else None

    def __len__(self) -> int:
        n = len(self.x) // self.world if self.train else len(self.x)
        return n // self.batch_size if self.train else math.ceil(n / self.batch_size)

    def epoch(self, order_seed: int = 0, aug_seed: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One pass: shuffled and augmented when training (the order shared by all processes, each
        taking its share, as DistributedSampler does), in order otherwise."""
        if not self.train:
            for i in range(0, len(self.x), self.batch_size):
                yield self._eval(self.x[i:i + self.batch_size]), self.y[i:i + self.batch_size]
            return
        order = torch.randperm(len(self.x), generator=torch.Generator().manual_seed(order_seed))
        mine = order[: len(order) // self.world * self.world][self.rank::self.world]
        gen = torch.Generator().manual_seed(aug_seed)
        for k in range(len(self)):
            idx = mine[k * self.batch_size:(k + 1) * self.batch_size].to(self.device)
            yield self._train(self.x[idx], gen), self.y[idx]

    # ---------------------------------------------------------------- the transforms
    def _train(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        n, h, w, _ = x.shape
        top, left, ch, cw = crop_boxes(n, h, w, self.scale, RATIO, gen)
        flip = torch.rand(n, generator=gen) < 0.5
        out = self._normalize(crop_resize(x, top, left, ch, cw, flip, self.res))
        if self.erase is not None:
            out = self.erase(out)
        return out.contiguous(memory_format=torch.channels_last)

    def _eval(self, x: torch.Tensor) -> torch.Tensor:
        """torchvision's Resize(res / crop_pct) (the shorter side, bicubic, PIL's kernel) and CenterCrop."""
        n, h, w, _ = x.shape
        size = math.floor(self.res / self.crop_pct)
        if (h, w) == (self.res, self.res) and size == self.res:
            return self._normalize(x.permute(0, 3, 1, 2).float()).contiguous(memory_format=torch.channels_last)
        oh, ow = (size, int(size * w / h)) if h <= w else (int(size * h / w), size)
        top, left = int(round((oh - self.res) / 2.0)), int(round((ow - self.res) / 2.0))
        full = torch.zeros(n)
        wy = resample_weights(full, torch.full((n,), float(h)), oh, h)[:, top:top + self.res].to(x.device)
        wx = resample_weights(full, torch.full((n,), float(w)), ow, w)[:, left:left + self.res].to(x.device)
        out = _resample(x, wy, wx).permute(0, 3, 1, 2)
        return self._normalize(out).contiguous(memory_format=torch.channels_last)

    def _normalize(self, img: torch.Tensor) -> torch.Tensor:
        return (img - self.mean) / self.std


def _bicubic(x: torch.Tensor) -> torch.Tensor:
    """PIL's bicubic kernel (a = -0.5; PyTorch's own bicubic uses -0.75, a sharper kernel)."""
    a, x = -0.5, x.abs()
    return torch.where(x < 1, ((a + 2) * x - (a + 3)) * x * x + 1,
                       torch.where(x < 2, (((x - 5) * x + 8) * x - 4) * a, torch.zeros_like(x)))


def resample_weights(start: torch.Tensor, length: torch.Tensor, out: int, size: int) -> torch.Tensor:
    """(N, out, size): PIL's resampling coefficients from the box [start, start + length) of a
    `size`-pixel axis to `out` pixels (Pillow's precompute_coeffs, bicubic, antialiased when it
    shrinks: the kernel widens by the scale), as rows over the whole axis, zero outside the box."""
    start, length = start.view(-1, 1, 1).float(), length.view(-1, 1, 1).float()
    scale = length / out
    filterscale = scale.clamp(min=1.0)
    support = 2.0 * filterscale
    center = (torch.arange(out).view(1, -1, 1) + 0.5) * scale  # in box coordinates
    first = torch.floor(center - support + 0.5).clamp(min=0)
    last = torch.minimum(torch.floor(center + support + 0.5), length)
    p = torch.arange(size).view(1, 1, -1) - start  # every pixel of the axis, in box coordinates
    w = _bicubic((p - center + 0.5) / filterscale) * ((p >= first) & (p < last))
    return w / w.sum(-1, keepdim=True)


def crop_resize(x: torch.Tensor, top, left, ch, cw, flip, res: int) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float (N, 3, res, res) in 0..255: each image's box resized as PIL does it
    (bicubic, two passes each rounded to 8 bits), mirrored where `flip`.

    A resize is a matrix per axis, so the batch resamples in batched matmuls on its device.
    """
    n, h, w, _ = x.shape
    wx = resample_weights(left, cw, res, w).to(x.device)
    wy = resample_weights(top, ch, res, h).to(x.device)
    wx = torch.where(flip.view(-1, 1, 1).to(x.device), wx.flip(1), wx)
    return _resample(x, wy, wx).permute(0, 3, 1, 2)


def _resample(x: torch.Tensor, wy: torch.Tensor, wx: torch.Tensor) -> torch.Tensor:
    """(N, H, W, C) -> (N, res_y, res_x, C): Pillow's two passes, horizontal then vertical, each
    rounded to 8 bits (its C code's order; some Pillow builds switch the order for some shapes,
    which moves noise-like pixels by a few levels and smooth ones by at most one or two)."""
    rows = torch.einsum("nxw,nhwc->nhxc", wx, x.float()).round_().clamp_(0, 255)
    return torch.einsum("nyh,nhxc->nyxc", wy, rows).round_().clamp_(0, 255)


def crop_boxes(n: int, h: int, w: int, scale: tuple[float, float], ratio: tuple[float, float],
               gen: torch.Generator) -> tuple[torch.Tensor, ...]:
    """(top, left, height, width) of n RandomResizedCrop boxes, as float tensors of whole pixels.

    timm's rule for all n at once: up to ten (area, log-ratio) draws per image, the first box that
    fits wins; an image with none takes the central box of the clamped ratio.
    """
    area = torch.empty(n, TRIES).uniform_(*scale, generator=gen) * (h * w)
    ar = torch.exp(torch.empty(n, TRIES).uniform_(math.log(ratio[0]), math.log(ratio[1]), generator=gen))
    # at least one pixel: a tiny `scale` can round to none (PIL crops one pixel there too)
    cw, ch = torch.round(torch.sqrt(area * ar)).clamp(min=1), torch.round(torch.sqrt(area / ar)).clamp(min=1)
    fits = (cw <= w) & (ch <= h)
    first = fits.int().argmax(1)
    rows = torch.arange(n)
    cw, ch, ok = cw[rows, first], ch[rows, first], fits.any(1)
    # the central fallback
    in_ratio = w / h
    if in_ratio < min(ratio):
        fw, fh = w, round(w / min(ratio))
    elif in_ratio > max(ratio):
        fw, fh = round(h * max(ratio)), h
    else:
        fw, fh = w, h
    cw, ch = torch.where(ok, cw, float(fw)), torch.where(ok, ch, float(fh))
    u = torch.rand(n, 2, generator=gen)
    top = torch.where(ok, torch.floor(u[:, 0] * (h - ch + 1)), torch.floor((h - ch) / 2))
    left = torch.where(ok, torch.floor(u[:, 1] * (w - cw + 1)), torch.floor((w - cw) / 2))
    return top, left, ch, cw
