"""The optimizer and learning-rate schedule of a recipe: timm's create_optimizer_v2 and
create_scheduler_v2, or the one-cycle schedule of the ConvMixer authors' CIFAR-10 script, which timm
does not have."""
from __future__ import annotations

import numpy as np
from torch import nn
from timm.optim import create_optimizer_v2
from timm.scheduler import create_scheduler_v2
from timm.scheduler.scheduler import Scheduler

from roadmap.train.recipe import Recipe, Sched


class OneCycleLinear(Scheduler):
    """locuslab/convmixer-cifar10 train.py's `lr_schedule`: the rate before update i of epoch e is
    np.interp(e + (i + 1) / updates_per_epoch, [0, E*2//5, E*4//5, E], [0, lr, lr/20, 0]).
    timm sets a rate after each update for the next one, so after n updates it is the script's rate
    for update n + 1; the first update runs at lr / (E*2//5 * updates_per_epoch), the last at 0."""

    def __init__(self, optimizer, epochs: int, updates_per_epoch: int):
        self.knots = [0, epochs * 2 // 5, epochs * 4 // 5, epochs]
        self.updates_per_epoch = updates_per_epoch
        super().__init__(optimizer, "lr", t_in_epochs=False)
        self.update_groups(self._get_lr(0))

    def _get_lr(self, t: int) -> list[float]:
        x = (t + 1) / self.updates_per_epoch
        return [float(np.interp(x, self.knots, [0.0, v, v / 20.0, 0.0])) for v in self.base_values]


def optimizer(model: nn.Module, recipe: Recipe):
    """timm's rule: no weight decay on norms, biases, a ViT's class token and position embedding;
    with decay_norm_bias, norms and biases decay too, as under torch's AdamW over model.parameters()
    (the ConvMixer script); the two embeddings never do."""
    return create_optimizer_v2(model, opt=recipe.opt, lr=recipe.lr, weight_decay=recipe.weight_decay,
                               betas=recipe.betas, filter_bias_and_bn=not recipe.decay_norm_bias)


def lr_schedule(opt, recipe: Recipe, updates_per_epoch: int) -> Scheduler:
    """Stepped per update (`step_update(number of updates so far)`)."""
    if recipe.sched is Sched.ONECYCLE:
        return OneCycleLinear(opt, recipe.epochs, updates_per_epoch)
    sched, _ = create_scheduler_v2(opt, sched=recipe.sched.value, num_epochs=recipe.epochs,
                                   warmup_epochs=recipe.warmup_epochs, min_lr=recipe.min_lr,
                                   warmup_lr=recipe.warmup_lr, step_on_epochs=False,
                                   updates_per_epoch=updates_per_epoch)
    return sched
