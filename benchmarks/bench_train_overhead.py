"""Training loop overhead: steps/s of ``train_iter`` ÷ steps/s of a bare PyTorch loop.

Both loops train the same network (same seed, batch, tile size, optimiser) on the same image in
memory, in one process. The bare loop feeds pre-cut tiles with plain cross-entropy; ours samples
foreground-preferring tiles, augments them, builds 3-class targets with an ignore class,
computes CE + Dice, schedules the learning rate and yields a progress record every step. The two
are stepped alternately (one step of each in turn) so that load from other processes on a shared
machine hits both alike.

Usage: python benchmarks/bench_train_overhead.py [IMAGE] [--steps N] [--batch-size B]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import DEFAULT_IMAGE, command_line, report


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", nargs="?", default=str(DEFAULT_IMAGE))
    parser.add_argument("--steps", type=int, default=12, help="timed steps of each loop")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--tile-size", type=int, default=128)
    parser.add_argument("--no-report", action="store_true")
    args = parser.parse_args(argv)

    import torch
    import torch.nn.functional as F

    from napari_selfsup_seg._config import ModelConfig, TrainConfig
    from napari_selfsup_seg.data._normalize import percentile_normalize
    from napari_selfsup_seg.data._targets import make_targets
    from napari_selfsup_seg.io._image import read_image
    from napari_selfsup_seg.models._factory import build_model
    from napari_selfsup_seg.pseudo._threshold import threshold_pseudo_mask
    from napari_selfsup_seg.train._optim import make_optimizer
    from napari_selfsup_seg.train._supervised import train_iter

    image = read_image(args.image).data
    masks, _ = threshold_pseudo_mask(image)
    total = args.warmup + args.steps
    mc = ModelConfig.tiny()
    tc = TrainConfig(
        steps=total, batch_size=args.batch_size, tile_size=args.tile_size, device="cpu"
    )

    # Bare loop: same network and optimiser, fixed tiles already in memory as tensors.
    torch.manual_seed(0)
    net = build_model(mc)
    opt = make_optimizer(net, tc, torch.device("cpu"))
    x = percentile_normalize(image)[None]
    y = make_targets(masks).astype(np.int64)
    rng = np.random.default_rng(0)
    b, t = args.batch_size, args.tile_size
    corners = rng.integers(0, image.shape[0] - t, (b, 2))
    xb = torch.from_numpy(np.stack([x[:, r : r + t, c : c + t] for r, c in corners]))
    yb = torch.from_numpy(np.stack([y[r : r + t, c : c + t] for r, c in corners]))
    net.train()

    def bare_step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(xb), yb)
        loss.backward()
        opt.step()
        float(loss.detach())

    ours = train_iter([image], [masks], tc, mc)
    bare_times, our_times = [], []
    for i in range(total):
        t0 = time.perf_counter()
        next(ours)
        t1 = time.perf_counter()
        bare_step()
        t2 = time.perf_counter()
        if i >= args.warmup:
            our_times.append(t1 - t0)
            bare_times.append(t2 - t1)
    ours.close()
    ours_sps = len(our_times) / sum(our_times)
    bare_sps = len(bare_times) / sum(bare_times)
    ratio = ours_sps / bare_sps
    result = {
        "ratio": ratio,
        "ours_steps_per_s": ours_sps,
        "bare_steps_per_s": bare_sps,
        "median_ratio": float(np.median(bare_times) / np.median(our_times)),
        "steps": args.steps,
        "batch_size": b,
        "tile_size": t,
        "model": f"{mc.encoder} depth {mc.encoder_depth}",
        "target": 0.90,
        "passed": ratio >= 0.90,
    }
    md = f"""
Network: U-Net {mc.encoder}, depth {mc.encoder_depth}; batch {b} × {t}² tiles; CPU; both loops
use the same AdamW (multi-tensor update); {args.steps} timed steps each after {args.warmup}
warm-up steps, stepped alternately.

| loop | steps/s |
|---|---|
| bare PyTorch (fixed tiles, cross-entropy) | {bare_sps:.3f} |
| `train_iter` (sampling, augmentation, targets, CE + Dice, schedule, progress) | {ours_sps:.3f} |

**Ratio {ratio:.3f}** (target ≥ 0.90; ratio of median step times {result["median_ratio"]:.3f}).
"""
    if args.no_report:
        print(result)
    else:
        report("train_overhead", "Training loop overhead", command_line(), md, result)
    return result


if __name__ == "__main__":
    main()
