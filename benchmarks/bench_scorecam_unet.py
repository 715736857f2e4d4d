"""A U-Net trained on Score-CAM masks (the ArtSeg recipe) on real images with inserted artifacts.

Usage: python benchmarks/bench_scorecam_unet.py [--data DIR] [--tiles N] [--steps N]

The weak-label task of ``bench_scorecam.py --artifacts`` (tiles of the HeLa frames, half with an
inserted fibre or debris clump, labelled only "has / has not"). The pipeline's defaults, as
``pseudo-mask --method scorecam`` then ``train --masks`` run them: a classifier on the weak
labels (with its held-out check), Score-CAM masks and maps of the positive tiles (negative tiles
get empty masks), then the instance U-Net trained on those masks with the maps' uncertain pixels
ignored and its self-training rounds. Both are scored on **new tiles** cut with another seed
(half with artifacts, labels unseen by either): Score-CAM needs the weak label of a tile to make
its mask, the U-Net does not, so it is scored on every new tile (its false pixels on artifact-free
tiles count) and on the positive ones alone, as Score-CAM is.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import SHARED_DATA, command_line, report
from _scorecam_artifacts import load, make_task, pixel_f1


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(SHARED_DATA / "hela_ctc"))
    parser.add_argument("--tiles", type=int, default=40)
    parser.add_argument("--steps", type=int, default=None, help="U-Net steps (default: recipe's)")
    parser.add_argument("--refine", default=None, help="ScoreCAMConfig.refine (default: its own)")
    parser.add_argument("--no-report", action="store_true")
    args = parser.parse_args(argv)

    import torch

    from napari_selfsup_seg._config import PredictConfig, TrainConfig
    from napari_selfsup_seg._progress import drain
    from napari_selfsup_seg.inference._predict import predict_labels
    from napari_selfsup_seg.pseudo._scorecam import ScoreCAMConfig, scorecam_map_iter
    from napari_selfsup_seg.pseudo._weak import train_weak_classifier_iter
    from napari_selfsup_seg.workflows._self_training import self_train_iter

    torch.set_num_threads(1)
    start_load = load()
    folder = Path(args.data)
    images, labels, truth = make_task(folder, args.tiles, seed=0)
    new_images, new_labels, new_truth = make_task(folder, args.tiles, seed=7)
    cfg = ScoreCAMConfig() if args.refine is None else ScoreCAMConfig(refine=args.refine)

    t0 = time.perf_counter()
    fit = drain(train_weak_classifier_iter(images, labels, cfg))
    pseudo = drain(scorecam_map_iter(fit, images, cfg, positive=[y == 1 for y in labels]))
    cam_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    tc = TrainConfig() if args.steps is None else TrainConfig(steps=args.steps)
    result = drain(self_train_iter(images, pseudo.labels, pseudo.maps, train_config=tc))
    unet_s = time.perf_counter() - t0

    pos = [i for i, y in enumerate(new_labels) if y == 1]
    neg = [i for i, y in enumerate(new_labels) if y == 0]
    t0 = time.perf_counter()
    new_cam = drain(scorecam_map_iter(fit, [new_images[i] for i in pos], cfg))
    cam_masks = [m > 0 for m in new_cam.labels]
    unet = [predict_labels(result.model, im, PredictConfig()) > 0 for im in new_images]
    predict_s = time.perf_counter() - t0

    truth_pos = [new_truth[i] for i in pos]
    neg_fp = float(np.mean([unet[i].mean() for i in neg]))
    train_pos = [i for i, y in enumerate(labels) if y == 1]
    rows = {
        "Score-CAM masks of the training tiles (what the U-Net learns from)": {
            "pixel_f1_positive": pixel_f1(
                [pseudo.labels[i] > 0 for i in train_pos], [truth[i] for i in train_pos]
            ),
            "pixel_f1_all": None,
            "false_fraction_negative": None,
        },
        "Score-CAM masks of the new tiles (needs each tile's weak label)": {
            "pixel_f1_positive": pixel_f1(cam_masks, truth_pos),
            "pixel_f1_all": None,
            "false_fraction_negative": None,
        },
        "U-Net trained on the Score-CAM masks": {
            "pixel_f1_positive": pixel_f1([unet[i] for i in pos], truth_pos),
            "pixel_f1_all": pixel_f1(unet, new_truth),
            "false_fraction_negative": neg_fp,
        },
    }

    def cell(v, digits=3):
        return "n/a" if v is None else f"{v:.{digits}f}"

    table = "\n".join(
        f"| {name} | {cell(r['pixel_f1_positive'])} | {cell(r['pixel_f1_all'])} | "
        f"{cell(None if r['false_fraction_negative'] is None else 100 * r['false_fraction_negative'], 2)} |"  # noqa: E501
        for name, r in rows.items()
    )
    check = fit.check.summary() if fit.check else "no held-out check"
    md = f"""
The weak-label task of `bench_scorecam.py --artifacts` ({args.tiles} tiles of 128×128 from the
HeLa frames, half with an inserted fibre or debris clump, labelled only "has / has not"), with
the defaults of `pseudo-mask --method scorecam` (map refinement `{cfg.refine}`) and then
`train --masks` (uncertain pixels of the maps ignored, {tc.steps} steps and the self-training
rounds): classifier {check}; Score-CAM masks of the training tiles and classifier in
{cam_s:.0f} s, U-Net in {unet_s:.0f} s (CPU, one torch thread, load average {start_load} at
the start, {load()} at the end).

Scored on {len(new_images)} **new** tiles cut with another seed ({len(pos)} with an artifact),
against the drawn artifacts, pixel F1 pooled (first row: the training tiles themselves):

| masks | pixel F1, tiles with artifact | pixel F1, all new tiles | % of clean tile marked |
|---|---|---|---|
{table}

Score-CAM makes a mask only where the weak label says there is an artifact; the U-Net needs no
label, so it is also scored over all new tiles, where what it marks on artifact-free tiles
counts against it. Target: U-Net pixel F1 ≥ 0.75.
"""
    figures = {
        "tiles": args.tiles,
        "new_tiles": len(new_images),
        "classifier_check": check,
        "unet_steps": tc.steps,
        "rows": rows,
        "seconds": {"scorecam": cam_s, "unet": unet_s, "predict": predict_s},
    }
    if not args.no_report:
        report(
            "scorecam_unet", "U-Net trained on Score-CAM masks (real images, inserted artifacts)",
            command_line(), md, figures,
        )  # fmt: skip
    else:
        print(md)
    return figures


if __name__ == "__main__":
    main()
