"""End-to-end training throughput: our trainer against the plain timm loop a user would write.

Both sides train the same architecture on the same data with the same recipe: model, batch size,
augmentation semantics (random-resized-crop, flip, erasing, label smoothing), timm's AdamW and
scheduler-free steps, channels_last. Ours is `roadmap.train.loop.train` itself, so its number is
the `train_img_s` the runner writes. The peer is a plain loop: timm's `create_transform`, a
`DataLoader`, timm's AdamW and label smoothing, taken at the best of fp32 / bf16 autocast and of
0 / 1 loader workers. Each side trains two epochs and the second is timed, so start-up (worker
processes, first-call kernel selection) counts for neither. Both sides run in this process with
the trainer's process-wide `keep_freed_memory()` (roadmap.train.allocator), whichever runs first.
"""
from __future__ import annotations

import time

import pandas as pd
import torch
from timm.loss import LabelSmoothingCrossEntropy
from timm.optim import create_optimizer_v2
from torch.utils.data import DataLoader

from roadmap.arch.network import build
from roadmap.arch.scale import scale_spec
from roadmap.arch.steps import Roadmap
from roadmap.train.allocator import keep_freed_memory
from roadmap.train.augment import image_transforms
from roadmap.train.data import load_data
from roadmap.train.loop import pipeline, train
from roadmap.train.precision import precision
from roadmap.train.recipe import check_emulation, load_recipe


def plain_loop(model: torch.nn.Module, split, recipe: dict, res: int, amp: bool, workers: int,
               epochs: int = 2) -> float:
    """Images/s of the last of `epochs` epochs of the plain timm loop."""
    split.transform = image_transforms(recipe, res)[0]
    loader = DataLoader(split, batch_size=recipe.batch_size, shuffle=True, drop_last=True, num_workers=workers,
                        persistent_workers=workers > 0)
    model = model.to(memory_format=torch.channels_last).train()
    opt = create_optimizer_v2(model, opt=recipe.opt, lr=recipe.lr,
                              weight_decay=recipe.weight_decay)
    loss_fn = LabelSmoothingCrossEntropy(recipe.smoothing)
    for _ in range(epochs):
        t0, n = time.perf_counter(), 0
        for x, y in loader:
            x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
                loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            n += x.shape[0]
        img_s = n / (time.perf_counter() - t0)
    return img_s


def bench_pipeline(rm: Roadmap, step_ids: list[str], recipe_name: str = "smoke", data_source: str = "embedded",
                   overrides: list[str] | None = None, epochs: int = 2, report=print,
                   emulate_bf16: bool = False) -> pd.DataFrame:
    recipe = load_recipe(recipe_name, [*(overrides or []), f"epochs={epochs}", "warmup_epochs=0"])
    check_emulation(recipe.amp, emulate_bf16, recipe.name)
    data = load_data(data_source)
    res = recipe.res or data.image_size
    device = torch.device("cpu")
    keep_freed_memory()  # before either side, whichever runs first
    rows = []
    for sid in step_ids:
        st = rm.step(sid)
        spec = scale_spec(st.spec, **vars(recipe.scaling))

        def make():
            torch.manual_seed(0)
            return build(spec, data.num_classes, img_size=res)

        ours = train(make, data, recipe, seed=0, emulate_bf16=emulate_bf16)
        row = {"step": sid, "recipe": recipe_name, "data": data.name, "batch": recipe.batch_size, "res": res,
               "threads": torch.get_num_threads(), "ours_img_s": ours.history[-1]["img_s"],
               "ours_precision": precision(recipe.amp, device, emulate_bf16), "ours_pipeline": pipeline(data, recipe)}
        for amp in (False, True):
            for workers in (0, 1):
                row[f"plain_{'bf16' if amp else 'fp32'}_w{workers}_img_s"] = plain_loop(
                    make(), data.train, recipe, res, amp, workers, epochs)
        peers = {k: v for k, v in row.items() if k.startswith("plain_")}
        best = max(peers, key=peers.get)
        row.update(plain_best=best.removeprefix("plain_").removesuffix("_img_s"), plain_best_img_s=peers[best],
                   ratio=row["ours_img_s"] / peers[best])
        rows.append(row)
        report(f"{sid:>16}  ours {row['ours_img_s']:7.0f} img/s   plain timm loop {peers[best]:7.0f} img/s "
               f"(best: {row['plain_best']})   ratio {row['ratio']:.2f}x")
    return pd.DataFrame(rows)
