"""Batches through timm's per-sample pipeline (PIL transforms in a DataLoader): ImageFolder data,
and recipes with RandAugment, which has no batched version. Same interface as
`batches.InMemoryBatches`, so the loop does not care which one feeds it."""
from __future__ import annotations

from typing import Iterator

import torch
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler, Subset

from roadmap.errors import RoadmapError
from roadmap.train.augment import image_transforms


class PerSampleBatches:
    def __init__(self, split, batch_size: int, device: torch.device, recipe: dict, res: int, train: bool,
                 rank: int = 0, world: int = 1):
        train_tf, eval_tf = image_transforms(recipe, res)
        split.transform = train_tf if train else eval_tf
        workers, pin = recipe.workers, device.type == "cuda"
        self.device, self.sampler_gen, self.loader_gen = device, torch.Generator(), torch.Generator()
        if train:
            self.sampler = DistributedSampler(split, world, rank, shuffle=True, drop_last=True) \
                if world > 1 else RandomSampler(split, generator=self.sampler_gen)
            # not persistent: workers take their seeds from loader_gen when an epoch starts, so a resumed
            # epoch repeats the uninterrupted one
            self.loader = DataLoader(split, batch_size=batch_size, sampler=self.sampler, drop_last=True,
                                     num_workers=workers, pin_memory=pin, generator=self.loader_gen)
        else:
            self.sampler = None
            self.loader = DataLoader(Subset(split, range(rank, len(split), world)), batch_size=batch_size,
                                     num_workers=workers, pin_memory=pin)

    def __len__(self) -> int:
        return len(self.loader)

    def epoch(self, order_seed: int = 0, aug_seed: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        self.sampler_gen.manual_seed(order_seed)
        self.loader_gen.manual_seed(aug_seed)  # worker seeds; in-process transforms use the global RNGs
        if isinstance(self.sampler, DistributedSampler):
            self.sampler.seed, self.sampler.epoch = 0, order_seed  # the same order on every rank
        try:
            for x, y in self.loader:
                x = x.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
                yield x, y.to(self.device, non_blocking=True)
        except RoadmapError as e:  # a data error from a worker process comes back as its one sentence
            raise RoadmapError(str(e).strip().splitlines()[-1].removeprefix("roadmap.errors.RoadmapError: ")) from None
