"""Few labels: does self-supervised pretraining on the unlabelled image help fine-tuning?

1. Pretrain the U-Net (restoration of corrupted tiles + InfoNCE) on the whole image, no labels.
2. Fine-tune on the real mask of only N reviewed 128×128 crops (every other pixel carries the
   ignore value 65535), once from scratch and once from the pretrained model, same recipe and
   steps, several seeds.
3. Score both on a held-out region: the crops are drawn from the left half of the image, the
   right half is never labelled and is where AP@0.5 is measured (the same region for every N,
   so the 1, 2, 4, 8-crop curve is comparable).

CPU only, a deliberately small model and budget (the machine is shared).

Usage: python benchmarks/bench_pretrain.py [IMAGE MASK] [--steps N] [--pretrain-steps N]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import DEFAULT_IMAGE, DEFAULT_MASK, ROOT, command_line, report

SCORER = ROOT.parent / "shared" / "tools" / "score_instances.py"
CROP = 128


def score_external(pred: np.ndarray, gt: np.ndarray) -> dict | None:
    """AP@0.5 etc. from the independent scorer, when it is there."""
    if not SCORER.exists():
        return None
    import tifffile

    with tempfile.TemporaryDirectory() as tmp:
        p, g = Path(tmp) / "pred.tif", Path(tmp) / "gt.tif"
        tifffile.imwrite(p, pred.astype(np.int32))
        tifffile.imwrite(g, gt.astype(np.int32))
        out = subprocess.run(
            [sys.executable, str(SCORER), str(p), str(g)], capture_output=True, text=True
        )
    return json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else None


def crop_grid(shape: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """Non-overlapping ``CROP``-sized boxes ``(y, x, h, w)`` tiling the left half."""
    h, w = shape
    return [
        (y, x, CROP, CROP)
        for y in range(0, h - CROP + 1, CROP)
        for x in range(0, w // 2 - CROP + 1, CROP)
    ]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", nargs="?", default=str(DEFAULT_IMAGE))
    parser.add_argument("mask", nargs="?", default=str(DEFAULT_MASK))
    parser.add_argument("--pretrain-steps", type=int, default=400)
    parser.add_argument("--pretrain-tile", type=int, default=96)
    parser.add_argument("--contrastive-weight", type=float, default=0.0)
    parser.add_argument("--steps", type=int, default=100, help="fine-tuning steps")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--tile-size", type=int, default=96)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--encoder-depth", type=int, default=3, choices=(3, 4, 5))
    parser.add_argument("--seeds", type=int, default=3, help="seeds of the 1-crop comparison")
    parser.add_argument("--curve", default="2,4,8", help="further crop counts")
    parser.add_argument("--curve-seeds", type=int, default=2)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1 is fastest on a busy machine)"
    )
    parser.add_argument(
        "--name", default="pretrain", help="report section (to keep variants side by side)"
    )
    parser.add_argument("--no-report", action="store_true")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)

    from napari_selfsup_seg._config import ModelConfig, PredictConfig, TrainConfig
    from napari_selfsup_seg.evaluation._metrics import evaluate
    from napari_selfsup_seg.inference._predict import predict_labels
    from napari_selfsup_seg.io._image import read_image
    from napari_selfsup_seg.train._pretrain import PretrainConfig, few_label_mask, pretrain
    from napari_selfsup_seg.train._supervised import train

    image = read_image(args.image).data
    gt = read_image(args.mask).data.astype(np.int64)
    half = image.shape[1] // 2
    boxes = crop_grid(image.shape)
    counts = sorted({1, *(int(c) for c in args.curve.split(",") if c)})
    if max(counts) > len(boxes):
        raise SystemExit(f"at most {len(boxes)} crops fit in the left half of the image")
    depth = args.encoder_depth
    mc = ModelConfig(encoder_depth=depth)
    pcfg = PredictConfig(device="cpu")

    def log_every_30s(prefix):
        last = [0.0]

        def cb(r):
            if time.perf_counter() - last[0] > 30:
                last[0] = time.perf_counter()
                print(f"{prefix} step {r.done}/{r.total} loss {r.loss:.4f}", file=sys.stderr)

        return cb

    t0 = time.perf_counter()
    pre_cfg = PretrainConfig(
        steps=args.pretrain_steps,
        batch_size=8,
        tile_size=args.pretrain_tile,
        contrastive_weight=args.contrastive_weight,
        seed=0,
        device="cpu",
    )
    pretrained = pretrain(
        [image], model_config=mc, config=pre_cfg, callback=log_every_30s("pretrain")
    )
    pretrain_s = time.perf_counter() - t0
    rec = [row["restoration"] for row in pretrained.log]
    nce = [row["contrastive"] for row in pretrained.log]

    def score(model) -> dict:
        pred = predict_labels(model, image, pcfg)
        s = evaluate([pred[:, half:]], [gt[:, half:]])
        return {
            "ap50": s["ap"]["0.5"],
            "f1_50": s["f1"]["0.5"],
            "pixel_f1": s["pixel_f1"],
            "n_pred": s["n_pred"],
            "n_true": s["n_true"],
            "_pred": pred[:, half:],
        }

    runs = []
    for n in counts:
        for seed in range(args.seeds if n == 1 else args.curve_seeds):
            order = np.random.default_rng(seed).permutation(len(boxes))
            chosen = [boxes[i] for i in order[:n]]
            mask = few_label_mask(gt, chosen)
            tc = TrainConfig(
                steps=args.steps,
                batch_size=args.batch_size,
                tile_size=args.tile_size,
                learning_rate=args.lr,
                seed=seed,
                device="cpu",
            )
            # Per-round held-out scores (the right half as a reviewed frame) for one pair of runs.
            watch = n == 1 and seed == 0
            extra = (
                {
                    "validation": ([image[:, half:]], [gt[:, half:]]),
                    "preview_every": args.steps // 5,
                }
                if watch
                else {}
            )
            for arm, init in (("scratch", None), ("pretrained", pretrained)):
                t1 = time.perf_counter()
                model = train(
                    [image],
                    [mask],
                    train_config=tc,
                    model_config=mc,
                    init=init,
                    callback=log_every_30s(f"{arm} n={n} seed={seed}"),
                    **extra,
                )
                train_s = time.perf_counter() - t1
                s = score(model)
                pred = s.pop("_pred")
                if watch:
                    s["val_ap50_by_step"] = {
                        int(r["step"]): round(r["val_ap50"], 4)
                        for r in model.log
                        if "val_ap50" in r
                    }
                    ext = score_external(pred, gt[:, half:])
                    s["score_instances_ap50"] = ext.get("ap50") if ext else None
                    s["score_instances"] = ext
                run = {"crops": n, "seed": seed, "arm": arm, **s, "train_s": round(train_s, 1)}
                print(json.dumps(run), file=sys.stderr)
                runs.append(run)

    def mean_ap(n, arm):
        vals = [r["ap50"] for r in runs if r["crops"] == n and r["arm"] == arm]
        return float(np.mean(vals)), float(np.std(vals)), len(vals)

    curve = {}
    for n in counts:
        sm, ss, k = mean_ap(n, "scratch")
        pm, ps, _ = mean_ap(n, "pretrained")
        curve[str(n)] = {
            "scratch_ap50": sm,
            "scratch_std": ss,
            "pretrained_ap50": pm,
            "pretrained_std": ps,
            "gain": pm - sm,
            "seeds": k,
        }
    gain1 = curve["1"]["gain"]
    result = {
        "gain_ap50_one_crop": gain1,
        "target_gain": 0.05,
        "target_met": bool(gain1 >= 0.05),
        "curve": curve,
        "runs": runs,
        "pretrain": {
            "seconds": round(pretrain_s, 1),
            "restoration_loss_first10": float(np.mean(rec[:10])),
            "restoration_loss_last10": float(np.mean(rec[-10:])),
            "contrastive_loss_first10": float(np.mean(nce[:10])),
            "contrastive_loss_last10": float(np.mean(nce[-10:])),
            "recipe": {k: v for k, v in pretrained.config.training.items() if k != "device"},
        },
        "finetune_recipe": {
            "steps": args.steps,
            "batch_size": args.batch_size,
            "tile_size": args.tile_size,
            "learning_rate": args.lr,
            "encoder": mc.encoder,
            "encoder_depth": depth,
            "decoder_channels": list(mc.decoder_channels),
        },
        "evaluation": "AP@0.5 on the right half of the image (never labelled); crops from the "
        "left half",
        "torch_threads": torch.get_num_threads(),
        "seconds_total": round(time.perf_counter() - t0, 1),
    }
    rows = "\n".join(
        f"| {n} | {c['seeds']} | {c['scratch_ap50']:.3f} ± {c['scratch_std']:.3f} | "
        f"{c['pretrained_ap50']:.3f} ± {c['pretrained_std']:.3f} | {c['gain']:+.3f} |"
        for n, c in curve.items()
    )
    ext = [r for r in runs if r.get("score_instances")]
    ext_line = "; ".join(
        f"{r['arm']} {r['ap50']:.3f} (score_instances {r['score_instances_ap50']:.3f})"
        for r in ext
        if r["score_instances_ap50"] is not None
    )
    watched = [r for r in runs if r.get("val_ap50_by_step")]
    val_steps = sorted({k for r in watched for k in r["val_ap50_by_step"]})
    val_rows = "\n".join(
        f"| {r['arm']} | "
        + " | ".join(f"{r['val_ap50_by_step'].get(k, float('nan')):.3f}" for k in val_steps)
        + " |"
        for r in watched
    )
    markdown = f"""
Pretraining: {args.pretrain_steps} steps of 8×{args.pretrain_tile}² tiles on the image (no
labels), restoration + InfoNCE (weight {args.contrastive_weight}), {pretrain_s:.0f} s; restoration
loss {result["pretrain"]["restoration_loss_first10"]:.4f} → \
{result["pretrain"]["restoration_loss_last10"]:.4f} (mean of first/last 10 steps).
Fine-tuning: U-Net {mc.encoder} depth {depth}, {args.steps} steps of {args.batch_size}×\
{args.tile_size}² tiles, lr {args.lr}, on the true mask of N 128×128 crops from the left half
(everything else = ignore value). AP@0.5 on the right half of the image (never labelled), mean ±
std over seeds (the seed picks the crops and the training randomness; both arms see the same
crops).

| crops | seeds | from scratch AP@0.5 | pretrained AP@0.5 | gain |
|---|---|---|---|---|
{rows}

Target: pretraining adds ≥ 0.05 AP@0.5 with one crop: **{"met" if gain1 >= 0.05 else "missed"}**
(gain {gain1:+.4f}). Seed 0, one crop, checked with the independent scorer: {ext_line or "n/a"}.

Held-out AP@0.5 during fine-tuning (seed 0, one crop; `train_iter(validation=...)`), by step
(the validation predicts the right half on its own, so its last value can differ slightly from
the final score, predicted within the whole image):

| step | {" | ".join(str(k) for k in val_steps)} |
|---|{"---|" * len(val_steps)}
{val_rows}
"""
    if not args.no_report:
        title = "Few labels: self-supervised pretraining"
        if args.name != "pretrain":
            title += f" ({args.name})"
        report(args.name, title, command_line(), markdown, result)
    else:
        print(json.dumps({"benchmark": args.name, **result}, default=float))
    return result


if __name__ == "__main__":
    main()
