"""Train and evaluate one model with a recipe: timm's pieces, an epoch loop, exact resume.

The trainer knows nothing about architectures: it gets a module factory, data and a recipe.
Resume is exact on CPU: every epoch re-seeds all random generators from (seed, epoch, rank),
and checkpoints are written atomically at epoch ends and, every few minutes, inside an epoch
with the generators' state, so a killed run goes on bit for bit from its last save.
"""
from __future__ import annotations

import itertools
import os
import random
import resource
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from timm.data import Mixup
from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy
from timm.utils import ModelEmaV3, accuracy
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from roadmap.errors import RoadmapError
from roadmap.train import distributed
from roadmap.train.allocator import keep_freed_memory
from roadmap.train.batches import InMemoryBatches
from roadmap.train.data import DataSplits
from roadmap.train.loaders import PerSampleBatches
from roadmap.train.precision import Precision, for_precision, precision
from roadmap.train.recipe import Recipe
from roadmap.train.optim import lr_schedule, optimizer


class TrainingFailed(Exception):
    """The variant cannot go on (a NaN or inf loss); the message is the reason for the table."""


@dataclass
class TrainResult:
    top1: float
    top5: float
    val_loss: float
    epochs: int
    images_seen: int
    train_time_s: float
    train_img_s: float
    eval_img_s: float
    peak_mem_mb: float
    device: str
    history: list[dict] = field(default_factory=list)
    weights: dict = field(default_factory=dict, repr=False)  # the evaluated weights (EMA's if any), fp32 on CPU


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _rng_state(device: torch.device) -> dict:
    """The generators' state in plain Python (bytes, ints, lists): no tensor for torch.load's
    map_location to move to a GPU, and no numpy array to unpickle under another numpy."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"torch": torch.get_rng_state().numpy().tobytes(),
            "numpy": (name, keys.tolist(), int(pos), int(has_gauss), float(gauss)),
            "random": random.getstate(),
            "cuda": torch.cuda.get_rng_state(device).numpy().tobytes() if device.type == "cuda" else None}


def _set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(torch.frombuffer(bytearray(state["torch"]), dtype=torch.uint8))
    name, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, gauss))
    random.setstate(state["random"])
    if state["cuda"] is not None:
        torch.cuda.set_rng_state(torch.frombuffer(bytearray(state["cuda"]), dtype=torch.uint8), device)


def _epoch_seed(seed: int, epoch: int, rank: int) -> int:
    return (seed * 1_000_003 + epoch * 1_009 + rank) % 2**31


def _device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def _peak_mem_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _save_atomic(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def checkpoint_epochs(path: Path) -> float:
    """How many epochs a variant's checkpoint holds, a part of one included (0 without one): the run
    orders its queue by the work left. mmap reads the small fields without loading the tensors."""
    if not path.is_file():
        return 0.0
    try:
        state = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
        within = state.get("within") or {}
        part = within["step"] / within["steps"] if "steps" in within else 0  # the first such saves lacked steps
        return state["epoch"] + part
    except Exception:  # only an order: train() says what is wrong with the file when it gets there
        return 0.0


def _load_checkpoint(path: Path, device: torch.device, world: int) -> dict:
    try:
        state = torch.load(path, map_location=device, weights_only=False)
    except Exception as e:
        raise RoadmapError(f"checkpoint {path} cannot be read ({type(e).__name__}: {e}); delete it to train "
                           f"this variant from its start") from None
    saved_by = (state.get("within") or {}).get("world", 1)
    if state.get("within") and saved_by != world:
        raise RoadmapError(f"checkpoint {path} was saved inside epoch {state['epoch'] + 1} by {saved_by} "
                           f"process(es) and resumes only with as many (this run has {world}): run it with "
                           f"{saved_by}, or delete it to train this variant from its start")
    return state


class Pipeline(StrEnum):
    """How batches are made (a results column and part of the cache key: the values stay as written)."""
    IN_MEMORY = "in-memory batched"   # whole uint8 tensors augmented in a few ops (roadmap.train.batches)
    PER_SAMPLE = "per-sample PIL"     # timm's transforms per image in a DataLoader (roadmap.train.loaders)


def pipeline(data: DataSplits, recipe: Recipe) -> Pipeline:
    """In memory unless the data is not, or the recipe has RandAugment (it has no batched version)."""
    return Pipeline.IN_MEMORY if data.in_memory and not recipe.aa else Pipeline.PER_SAMPLE


def train(
    make_model: Callable[[], nn.Module],
    data: DataSplits,
    recipe: Recipe,
    seed: int,
    checkpoint: Path | None = None,
    progress=None,
    on_epoch: Callable[[dict], None] | None = None,
    emulate_bf16: bool = False,
    checkpoint_every_s: float = 600.0,
) -> TrainResult:
    """`on_epoch(record)` hears each finished epoch's row of `history` (TensorBoard, say);
    `emulate_bf16`: see roadmap.train.precision.precision.

    `checkpoint` is saved after every epoch and, with one process, also inside an epoch once
    `checkpoint_every_s` have passed since the last save, so a killed run loses minutes, not a long
    epoch. Resuming inside an epoch draws the same batches up to where it stopped, then restores the
    random state it had there: the run goes on as if never stopped. (Under DDP the ranks would have
    to agree on the moment, so they save at epoch ends only.)"""
    ctx = distributed.context()
    device = ctx.device
    if device.type == "cpu":
        keep_freed_memory()  # CPU steps 1.3-3.1x faster: roadmap/train/allocator.py
    res = recipe.res or data.image_size
    per_device, world = recipe.batch_per_device, ctx.world
    if recipe.batch_size % (per_device * world):
        raise RoadmapError(f"recipe {recipe.name}: batch_size {recipe.batch_size} is not a multiple of "
                           f"batch_per_device {per_device} x {world} processes")
    accum = recipe.batch_size // (per_device * world)
    if len(data.train) < recipe.batch_size:
        raise RoadmapError(f"data {data.name}: {len(data.train)} training images, fewer than one batch of "
                           f"{recipe.batch_size} (lower both: --set batch_size=N --set batch_per_device=N)")

    _seed_all(seed)  # the same initial weights on every rank and every resume
    model = make_model().to(device)
    mode = precision(recipe.amp, device, emulate_bf16)
    use_amp = mode is not Precision.FP32
    for_precision(model, mode)
    # channels_last: 1.5x faster BN convnets on CPU too (128 -> 82 ms/step for step0 at smoke
    # scale), neutral for the LayerNorm ones
    model = model.to(memory_format=torch.channels_last)
    net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None) \
        if world > 1 else model

    feed = InMemoryBatches if pipeline(data, recipe) is Pipeline.IN_MEMORY else PerSampleBatches
    train_batches = feed(data.train, per_device, device, recipe, res, train=True, rank=ctx.rank, world=world)
    val_batches = feed(data.val, per_device, device, recipe, res, train=False, rank=ctx.rank, world=world)

    opt = optimizer(model, recipe)
    sched = lr_schedule(opt, recipe, updates_per_epoch=max(1, len(train_batches) // accum))
    mixup = None
    if recipe.mixup > 0 or recipe.cutmix > 0:
        mixup = Mixup(mixup_alpha=recipe.mixup, cutmix_alpha=recipe.cutmix,
                      label_smoothing=recipe.smoothing, num_classes=data.num_classes)
        loss_fn = SoftTargetCrossEntropy()
    elif recipe.smoothing > 0:
        loss_fn = LabelSmoothingCrossEntropy(recipe.smoothing)
    else:
        loss_fn = nn.CrossEntropyLoss()
    ema = ModelEmaV3(model, decay=recipe.ema_decay) if recipe.ema else None

    start, num_updates, images_seen, train_time, history, within = 0, 0, 0, 0.0, [], None
    if checkpoint is not None and checkpoint.is_file():
        state = _load_checkpoint(checkpoint, device, world)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        if ema is not None and state.get("ema") is not None:
            ema.load_state_dict(state["ema"])
        start, num_updates = state["epoch"], state["num_updates"]
        images_seen, train_time, history = state["images_seen"], state["train_time"], state["history"]
        within = state.get("within")  # saved inside epoch `start`: where in it, and the state there
        sched.step_update(num_updates)
        if progress is not None and start < recipe.epochs:
            inside = f", step {within['step']}/{len(train_batches)}" if within else ""
            progress.say(f"resuming {progress.name} from epoch {start}/{recipe.epochs}{inside}")

    def snapshot(epochs_done: int, within: dict | None = None) -> dict:
        """What a resume needs; `within`: where inside the next epoch, for a save in the middle of it."""
        return {"model": model.state_dict(), "opt": opt.state_dict(),
                "ema": ema.state_dict() if ema is not None else None, "epoch": epochs_done,
                "num_updates": num_updates, "images_seen": images_seen, "train_time": train_time,
                "history": history, "within": within}

    eval_img_s = 0.0
    for epoch in range(start, recipe.epochs):
        _seed_all(_epoch_seed(seed, epoch, ctx.rank))
        net.train()
        t0, n_img, loss_sum, bad = time.time(), 0, torch.zeros((), device=device), torch.zeros((), dtype=torch.bool, device=device)
        steps = len(train_batches)
        batches = train_batches.epoch(order_seed=_epoch_seed(seed, epoch, 0), aug_seed=_epoch_seed(seed, epoch, ctx.rank))
        first = 0
        if within is not None:  # the batches already trained on are drawn again, unused
            first = within["step"]
            for _ in itertools.islice(batches, first):
                pass
            _set_rng_state(within["rng"], device)
            n_img, t0 = within["images"], time.time() - within["time"]
            loss_sum = torch.tensor(within["loss_sum"], dtype=loss_sum.dtype, device=device)
            within = None
        saved = time.time()
        for i, (x, y) in enumerate(batches, start=first):
            if mixup is not None:
                x, y = mixup(x, y)
            last_micro = (i + 1) % accum == 0
            sync = nullcontext() if (last_micro or world == 1) else net.no_sync()
            with sync, torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                loss = loss_fn(net(x), y)
                (loss / accum).backward()
            loss = loss.detach()
            bad |= ~torch.isfinite(loss)
            loss_sum += loss
            if last_micro:
                if recipe.clip_grad:
                    nn.utils.clip_grad_norm_(model.parameters(), recipe.clip_grad)
                opt.step()
                opt.zero_grad(set_to_none=True)
                num_updates += 1
                sched.step_update(num_updates)
                if ema is not None:
                    ema.update(model, step=num_updates)
            n_img += x.shape[0]
            if (last_micro and checkpoint is not None and world == 1 and i + 1 < steps
                    and time.time() - saved >= checkpoint_every_s and not bad.item()):
                saving = time.time()
                _save_atomic(snapshot(epoch, {"step": i + 1, "steps": steps, "world": world, "images": n_img,
                                              "loss_sum": float(loss_sum), "time": saving - t0,
                                              "rng": _rng_state(device)}), checkpoint)
                saved = time.time()
                t0 += saved - saving  # the epoch's time and speed are training's, not the saves'
            if progress is not None and (i % 10 == 0 or i == first or i == steps - 1):  # first: where it resumed
                if bad.item():  # syncs only every 10 steps
                    break
                progress.step(epoch, recipe.epochs, i, steps, loss.item(), n_img * world / (time.time() - t0))
        if bad.item():
            raise TrainingFailed(f"loss became {loss.item()} in epoch {epoch + 1}")
        opt.zero_grad(set_to_none=True)
        epoch_time = time.time() - t0
        images = int(distributed.all_sum([n_img], device)[0])
        images_seen, train_time = images_seen + images, train_time + epoch_time
        top1, top5, val_loss, eval_img_s = evaluate(ema.module if ema is not None else model, val_batches, device,
                                                    use_amp)
        history.append({"epoch": epoch + 1, "train_loss": float(loss_sum) / max(steps, 1), "val_loss": val_loss,
                        "top1": top1, "top5": top5, "lr": opt.param_groups[0]["lr"],
                        "img_s": images / epoch_time, "time_s": epoch_time})
        if progress is not None:
            progress.epoch(epoch, recipe.epochs, history[-1])
        if on_epoch is not None and ctx.main:
            on_epoch(history[-1])
        if checkpoint is not None and ctx.main:
            _save_atomic(snapshot(epoch + 1), checkpoint)
        distributed.barrier()

    if not eval_img_s:  # resumed after the last epoch: nothing trained, measure evaluation once
        eval_img_s = evaluate(model, val_batches, device, use_amp)[3]
    last = history[-1]
    evaluated = ema.module if ema is not None else model
    return TrainResult(
        top1=last["top1"], top5=last["top5"], val_loss=last["val_loss"], epochs=recipe.epochs,
        images_seen=images_seen, train_time_s=train_time, train_img_s=images_seen / max(train_time, 1e-9),
        eval_img_s=eval_img_s,
        peak_mem_mb=_peak_mem_mb(device), device=_device_name(device), history=history,
        # contiguous: channels_last tensors are not, and safetensors stores only contiguous ones
        weights={k: (v.float() if v.is_floating_point() else v).detach().cpu().contiguous()
                 for k, v in evaluated.state_dict().items()},
    )


@torch.inference_mode()
def evaluate(model: nn.Module, batches, device: torch.device, amp: bool) -> tuple[float, float, float, float]:
    """(top-1 %, top-5 %, mean loss, images/s) over the whole validation set, all ranks together.

    `batches`: InMemoryBatches / PerSampleBatches, or any iterable of (images, labels). Sums stay on
    the device until the end: one synchronisation per evaluation, not three per batch.
    """
    model.eval()
    sums = torch.zeros(4, dtype=torch.float64, device=device)  # top-1 hits, top-5 hits, loss, images
    t0 = time.time()
    for x, y in (batches.epoch() if hasattr(batches, "epoch") else batches):
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            logits = model(x).float()
        # timm's top-k, a batch's % correct, back to whole hits (rounded: the % carries float error)
        top1, top5 = accuracy(logits, y, topk=(1, min(5, logits.shape[1])))
        hits = (torch.stack([top1, top5]).double() * y.numel() / 100).round()
        sums += torch.cat([hits, torch.stack([nn.functional.cross_entropy(logits, y, reduction="sum").double(),
                                              torch.tensor(float(y.numel()), device=device, dtype=torch.float64)])])
    elapsed = time.time() - t0
    correct1, correct5, loss_sum, n = distributed.all_sum(sums.tolist(), device)
    return 100 * correct1 / n, 100 * correct5 / n, loss_sum / n, n / max(elapsed, 1e-9)
