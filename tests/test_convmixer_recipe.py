"""The convmixer-cifar10 recipe against the authors' script (locuslab/convmixer-cifar10 train.py),
its pieces written out here as the script has them."""
import random

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision.transforms as T
from PIL import Image

from roadmap.arch.bases import base
from roadmap.arch.network import build
from roadmap.arch.scale import scale_spec
from roadmap.cli import main
from roadmap.train.augment import image_transforms
from roadmap.train.data import load_data
from roadmap.train.loop import Pipeline, pipeline, train
from roadmap.train.optim import optimizer
from roadmap.train.recipe import load_recipe

RECIPE = load_recipe("convmixer-cifar10")
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2471, 0.2435, 0.2616)  # train.py


def _images(n=24, seed=0):
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)) for _ in range(n)]


def test_the_trainer_steps_at_the_scripts_rate_every_update(monkeypatch):
    """The rate at each optimizer step of a real training run (5 epochs of 2 updates) is the script's
    lr_schedule(epoch + (i + 1) / updates_per_epoch), the first step included and the last at 0."""
    seen = []
    step = torch.optim.AdamW.step

    def record(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", record)
    recipe = RECIPE.replace(epochs=5, batch_size=50, batch_per_device=50)
    data = load_data("embedded:10")  # 100 training images: 2 updates an epoch
    spec = scale_spec(base("convmixer_256_8"), width_mult=0.125, depth_mult=0.25)
    train(lambda: build(spec, data.num_classes, img_size=32), data, recipe, seed=0)
    epochs, per_epoch = recipe.epochs, len(data.train) // recipe.batch_size
    script = lambda t: np.interp([t], [0, epochs * 2 // 5, epochs * 4 // 5, epochs],  # noqa: E731
                                 [0, recipe.lr, recipe.lr / 20.0, 0])[0]
    want = [script(e + (i + 1) / per_epoch) for e in range(epochs) for i in range(per_epoch)]
    assert len(seen) == len(want) == 10 and seen == pytest.approx(want, rel=1e-12, abs=1e-15)
    assert seen[-1] == 0.0 and max(seen) == recipe.lr  # the peak at 2/5 of the epochs


def test_the_train_transform_is_the_scripts():
    """The script: RandomResizedCrop(32, scale=(1, 1), ratio=(1, 1)), flip, RandAugment(2, 12),
    ColorJitter(0, 0, 0), ToTensor, Normalize, RandomErasing(p=0). Its crop and jitter change no
    pixel (checked here), so with them left out it must give our transform's tensors exactly."""
    ours, _ = image_transforms(RECIPE, 32)
    theirs = T.Compose([T.RandomHorizontalFlip(p=0.5), T.RandAugment(num_ops=2, magnitude=12), T.ToTensor(),
                        T.Normalize(CIFAR10_MEAN, CIFAR10_STD)])
    crop, jitter = T.RandomResizedCrop(32, scale=(1.0, 1.0), ratio=(1.0, 1.0)), T.ColorJitter(0, 0, 0)
    changed = 0
    for k, img in enumerate(_images()):
        assert np.array_equal(np.asarray(crop(img)), np.asarray(img))
        assert np.array_equal(np.asarray(jitter(img)), np.asarray(img))
        torch.manual_seed(k), random.seed(k)
        a = ours(img)
        torch.manual_seed(k), random.seed(k)
        b = theirs(img)
        assert torch.equal(a, b), k
        plain = T.Normalize(CIFAR10_MEAN, CIFAR10_STD)(T.ToTensor()(img))
        changed += not torch.equal(a, plain) and not torch.equal(a, plain.flip(-1))
    assert changed >= 12  # RandAugment ran (an identity op or magnitude-0 draw can leave an image alone)


def test_eval_is_the_scripts_and_the_rest_of_the_recipe_too():
    _, ours = image_transforms(RECIPE, 32)
    theirs = T.Compose([T.ToTensor(), T.Normalize(CIFAR10_MEAN, CIFAR10_STD)])
    for img in _images(4):
        assert torch.equal(ours(img), theirs(img))
    r = RECIPE
    assert (r.epochs, r.batch_size, r.opt, r.weight_decay, r.smoothing, r.reprob, r.mixup, r.cutmix) == \
        (25, 512, "adamw", 0.005, 0.0, 0.0, 0.0, 0.0)
    assert r.clip_grad is None and not r.ema and r.drop_path == 0.0


def test_weight_decay_reaches_every_parameter_as_in_the_script():
    """The trainer's optimizer for this recipe is the script's AdamW(model.parameters(), lr, wd):
    one group holding every parameter, BatchNorm and biases included, with the same settings."""
    model = build(base("convmixer_256_8"), num_classes=10)
    ours = optimizer(model, RECIPE)
    theirs = torch.optim.AdamW(model.parameters(), lr=RECIPE.lr, weight_decay=RECIPE.weight_decay)
    assert type(ours) is type(theirs)
    (group,), (their_group,) = ours.param_groups, theirs.param_groups
    assert group["params"] == their_group["params"] == list(model.parameters())
    settings = lambda g: {k: v for k, v in g.items() if k not in ("params", "initial_lr")}  # noqa: E731
    assert settings(group) == settings(their_group) and group["weight_decay"] == 0.005
    assert len(optimizer(model, RECIPE.replace(decay_norm_bias=False)).param_groups) == 2  # timm's rule


def test_the_convmixer_roadmap_trains_under_the_recipe(tmp_path):
    out = tmp_path / "cm"
    args = ["run", "--roadmap", "convmixer", "--recipe", "convmixer-cifar10", "--data", "embedded:10:10", "--seeds", "1",
            "--set", "epochs=1", "--set", "batch_size=50", "--set", "batch_per_device=50", "--set", "width_mult=0.125",
            "--set", "depth_mult=0.25", "--out", str(out), "--quiet", "--threads", "1"]
    assert main(args) == 0
    row = pd.read_csv(out / "results.csv").iloc[0]
    sets = [args[k + 1] for k, a in enumerate(args) if a == "--set"]
    assert row["status"] == "ok" and row["pipeline"] == Pipeline.PER_SAMPLE
    assert row["recipe_hash"] == load_recipe("convmixer-cifar10", sets).hash and row["recipe"] == "convmixer-cifar10"
    assert pipeline(load_data("embedded:10"), RECIPE) is Pipeline.PER_SAMPLE  # RandAugment has no batched path
