"""A correction round on a 512² frame, idle and busy: where its time goes, and its throughput.

A student is trained once on threshold pseudo-masks of ``nuclei2d`` (uncertain pixels ignored;
``--student DIR`` keeps it between runs). A round is what the user waits for after accepting a
tile: a fine-tuning burst (:func:`~napari_selfsup_seg.workflows._fine_tune.fine_tune_iter`, its
defaults) with one reviewed 128² tile holding the true labels, the student's own labels elsewhere
(uncertain pixels ignored), then the prediction of the whole 512² plane. Its seconds are split
into tile sampling and augmentation, forward pass (with the loss), backward pass, optimiser step,
prediction, and the rest. Rounds alternate idle and busy (one CPU-bound process, a pure-Python
loop, runs beside the busy ones). Training throughput = FLOP of one step (counted with
``torch.utils.flop_counter.FlopCounterMode``) × steps ÷ training seconds, divided by the matmul
FLOP/s of a 1024² float32 ``torch.mm`` measured in the same run with the same threads. AP@0.5 of
the round's prediction against the true labels is given beside the student's.

Usage: python benchmarks/bench_round.py [--reps N] [--threads T] [--student DIR] [--no-report]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import DEFAULT_IMAGE, DEFAULT_MASK, command_line, report

BOX = (192, 192, 320, 320)
PARTS = ("sampling", "forward", "backward", "optimiser", "prediction", "other")


def load() -> float:
    """The 1-minute load average."""
    return os.getloadavg()[0]


@contextmanager
def timed_parts(seconds: dict[str, float]):
    """Add the seconds spent in sampling, forward, backward+step and optimiser to ``seconds``."""
    import torch

    from napari_selfsup_seg.data._augment import TileSampler
    from napari_selfsup_seg.train._optim import Precision
    from napari_selfsup_seg.train._supervised import _SegmentationObjective

    originals = [
        (TileSampler, "batch"),
        (_SegmentationObjective, "loss"),
        (Precision, "backward_and_step"),
        (torch.optim.AdamW, "step"),
    ]
    saved = [(cls, name, getattr(cls, name)) for cls, name in originals]

    def wrap(fn, key):
        def inner(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                seconds[key] += time.perf_counter() - t0

        return inner

    for (cls, name, fn), key in zip(saved, ("sampling", "loss", "backward_step", "optimiser")):
        setattr(cls, name, wrap(fn, key))
    try:
        yield
    finally:
        for cls, name, fn in saved:
            setattr(cls, name, fn)


def matmul_flops(seconds: float = 2.0) -> float:
    """FLOP/s of 1024² float32 matrix products on the CPU with torch's current threads."""
    import torch

    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    torch.mm(a, b)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        torch.mm(a, b)
        n += 1
    return 2 * 1024**3 * n / (time.perf_counter() - t0)


def step_flops(model, batch_size: int, tile: int) -> float:
    """FLOP of one training step's forward and backward pass (the optimiser is not counted)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from napari_selfsup_seg.models._losses import segmentation_loss

    net = model.net
    x = torch.randn(batch_size, model.config.model.in_channels, tile, tile)
    y = torch.randint(0, 3, (batch_size, tile, tile))
    net.train()
    with FlopCounterMode(display=False) as counter:
        segmentation_loss(net(x), y, 1.0).backward()
    net.zero_grad(set_to_none=True)
    net.eval()
    return float(counter.get_total_flops())


def student(image, steps: int, where: str | None):
    """The student the rounds start from (loaded from ``where`` when it holds one)."""
    from napari_selfsup_seg._config import TrainConfig
    from napari_selfsup_seg._progress import drain
    from napari_selfsup_seg.models._factory import load_model
    from napari_selfsup_seg.pseudo._threshold import ThresholdConfig, threshold_iter
    from napari_selfsup_seg.train._supervised import train
    from napari_selfsup_seg.workflows._self_training import SelfTrainingConfig, _targets

    if where and (Path(where) / "config.json").exists():
        return load_model(where, device="cpu"), 0.0
    t0 = time.perf_counter()
    teacher = drain(threshold_iter([image], ThresholdConfig()))
    tc = TrainConfig(device="cpu", steps=steps)
    mask = _targets(teacher.labels[0], teacher.maps[0], SelfTrainingConfig(), tc.ignore_value)
    model = train([image], [mask], train_config=tc, provenance={"pseudo_mask": "threshold"})
    if where:
        model.save(where)
    return model, time.perf_counter() - t0


def one_round(model, image, truth, fine_tune_config) -> dict:
    """One timed round: burst on the reviewed tile, then the prediction of the whole plane."""
    from napari_selfsup_seg._config import PredictConfig
    from napari_selfsup_seg._progress import drain
    from napari_selfsup_seg.evaluation._metrics import evaluate
    from napari_selfsup_seg.inference._input import model_predict_config
    from napari_selfsup_seg.inference._postprocess import probabilities_to_instances
    from napari_selfsup_seg.inference._predict import predict_probabilities
    from napari_selfsup_seg.workflows._fine_tune import fine_tune_iter

    post = model_predict_config(model, PredictConfig(device="cpu"))
    probs = predict_probabilities(model, image, post)
    masks = probabilities_to_instances(probs, post).astype(np.uint32)
    y0, x0, y1, x1 = BOX
    tile = truth[y0:y1, x0:x1].astype(np.uint32)
    masks[y0:y1, x0:x1] = np.where(tile > 0, tile + masks.max() + 1, 0)
    parts: dict[str, float] = defaultdict(float)
    load0, t0 = load(), time.perf_counter()
    with timed_parts(parts):
        new = drain(fine_tune_iter(model, [image], [masks], [BOX], maps=[probs[1] + probs[2]],
                                   config=fine_tune_config))  # fmt: skip
        burst = time.perf_counter() - t0
        t1 = time.perf_counter()
        labels = probabilities_to_instances(predict_probabilities(new, image, post), post)
    parts["prediction"] = time.perf_counter() - t1
    total = time.perf_counter() - t0
    parts["forward"] = parts.pop("loss") - parts["sampling"]
    parts["backward"] = parts.pop("backward_step") - parts["optimiser"]
    parts["other"] = total - sum(parts[p] for p in PARTS if p != "other")
    ended = new.config.provenance["fine_tune"][-1]
    return {
        "seconds": round(total, 2),
        "burst_seconds": round(burst, 2),
        "steps": ended["steps"],
        "reason": ended["reason"],
        "ap50": round(float(evaluate(labels, truth)["ap"]["0.5"]), 3),
        "parts": {p: round(parts[p], 2) for p in PARTS},
        "load": round((load0 + load()) / 2, 2),
    }


def busy_process() -> subprocess.Popen:
    """One CPU-bound process (a pure-Python loop) for the busy rounds."""
    return subprocess.Popen([sys.executable, "-c", "while True:\n    pass"])


def summarise(rounds: list[dict]) -> dict:
    return {
        "seconds": round(float(np.median([r["seconds"] for r in rounds])), 2),
        "steps": round(float(np.median([r["steps"] for r in rounds])), 1),
        "ap50": round(float(np.median([r["ap50"] for r in rounds])), 3),
        "load": round(float(np.mean([r["load"] for r in rounds])), 2),
        "parts": {p: round(float(np.median([r["parts"][p] for r in rounds])), 2) for p in PARTS},
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default=str(DEFAULT_IMAGE))
    parser.add_argument("--mask", default=str(DEFAULT_MASK))
    parser.add_argument("--reps", type=int, default=2, help="idle and busy rounds each")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: as set)")
    parser.add_argument("--student-steps", type=int, default=100)
    parser.add_argument("--student", default=None, help="folder to keep the student in")
    parser.add_argument("--max-steps", type=int, default=None, help="FineTuneConfig.max_steps")
    parser.add_argument("--patience", type=int, default=None, help="FineTuneConfig.patience")
    parser.add_argument("--no-report", action="store_true")
    args = parser.parse_args(argv)

    import tifffile
    import torch

    from napari_selfsup_seg.evaluation._metrics import evaluate
    from napari_selfsup_seg.inference._predict import predict_labels
    from napari_selfsup_seg.workflows._fine_tune import FineTuneConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    image, truth = tifffile.imread(args.image), tifffile.imread(args.mask)
    model, student_s = student(image, args.student_steps, args.student)
    student_ap = float(evaluate(predict_labels(model, image), truth)["ap"]["0.5"])
    changes = {k: getattr(args, k) for k in ("max_steps", "patience") if getattr(args, k)}
    ftc = FineTuneConfig(**changes)
    tc = model.config.training
    batch = ftc.batch_size or tc["batch_size"]
    flops = step_flops(model, batch, tc["tile_size"])
    rounds: dict[str, list] = {"idle": [], "busy": []}
    matmul: dict[str, list] = {"idle": [], "busy": []}
    for rep in range(args.reps):
        for kind in ("idle", "busy"):
            proc = busy_process() if kind == "busy" else None
            try:
                matmul[kind].append(matmul_flops())
                rounds[kind].append(one_round(model, image, truth, ftc))
            finally:
                if proc is not None:
                    proc.kill()
                    proc.wait()
            print(f"{kind} {rep}: {rounds[kind][-1]}", file=sys.stderr)
    figures = {k: summarise(v) for k, v in rounds.items()}
    for kind, fig in figures.items():
        train_s = sum(fig["parts"][p] for p in ("sampling", "forward", "backward", "optimiser"))
        fig["train_flop_per_s"] = flops * fig["steps"] / max(train_s, 1e-9)
        fig["matmul_flop_per_s"] = float(np.median(matmul[kind]))
        fig["flop_ratio"] = round(fig["train_flop_per_s"] / fig["matmul_flop_per_s"], 3)
    slowdown = figures["busy"]["seconds"] / figures["idle"]["seconds"]
    result = {
        "fine_tune_config": ftc.to_dict(),
        "student_ap50": round(student_ap, 3),
        "student_seconds": round(student_s, 1),
        "step_gflop": round(flops / 1e9, 2),
        "batch_size": batch,
        "tile_size": tc["tile_size"],
        "threads": torch.get_num_threads(),
        **figures,
        "busy_slowdown": round(slowdown, 2),
        "rounds": rounds,
        "target_seconds": 20.0,
        "passed": figures["idle"]["seconds"] <= 20.0 and slowdown <= 2.0,
    }
    rows = "\n".join(
        f"| {k} | {f['seconds']:.1f} | {f['steps']:.0f} | {f['ap50']:.3f} | "
        + " | ".join(f"{f['parts'][p]:.1f}" for p in PARTS)
        + f" | {f['flop_ratio']:.3f} | {f['load']:.1f} |"
        for k, f in figures.items()
    )
    md = f"""
One round = fine-tuning burst with one reviewed 128² tile (true labels) + prediction of the 512²
plane of nuclei2d; student: {args.student_steps} steps on threshold pseudo-masks, AP@0.5
{student_ap:.3f}. Median of {args.reps} rounds each, idle and busy alternated (busy: one
CPU-bound process beside it); torch threads {torch.get_num_threads()}; batch
{batch} × {tc["tile_size"]}², {flops / 1e9:.1f} GFLOP per step (forward + backward).
Load = 1-minute load average during the rounds (the machine is shared).

| | s | steps | AP@0.5 | {" | ".join(PARTS)} | FLOP/s ÷ matmul | load |
|---|---|---|---|{"---|" * len(PARTS)}---|---|
{rows}

Busy ÷ idle: **{slowdown:.2f}** (target ≤ 2). Round target ≤ 20 s idle.
"""
    if args.no_report:
        print(result)
    else:
        report("round", "Correction round (burst + prediction)", command_line(), md, result)
    return result


if __name__ == "__main__":
    main()
