"""Fluorescence-to-brightfield recipe on real oblique brightfield (the scratch assay).

Usage: python benchmarks/bench_bf_real.py [--data DIR] [--steps N] [--train-frames K]
[--symmetry auto|all|none] [--encoder-depth D]

Pseudo-masks from the Hoechst channel of the first ``K`` frames (default 7) train a U-Net whose
input is the oblique-brightfield channel of the same frames
(``workflows.fluorescence_to_brightfield``, default settings: the brightfield is flattened for
transmitted light, i.e. divided by a wide background and put to local contrast at widths sized
from the nuclei of the masks, before the percentiles). The model then segments the
**brightfield** of the remaining frames (7-9), scored against the hand-drawn nuclei labels with
the shared scorer, with and without test-time flips. Reference rows: the Hoechst teacher on the
same held-out frames (what the model learned from) and a threshold of the brightfield channel
(no learning).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import SHARED_DATA, command_line, report
from bench_teacher import _match, pooled_scores


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(SHARED_DATA / "scratch_assay"))
    parser.add_argument(
        "--steps", type=int, default=None, help="training steps (default: recipe's)"
    )
    parser.add_argument("--train-frames", type=int, default=7)
    parser.add_argument("--symmetry", default=None, help="TrainConfig.symmetry (default: auto)")
    parser.add_argument("--encoder-depth", type=int, default=None, help="default: the model's")
    parser.add_argument("--no-report", action="store_true")
    args = parser.parse_args(argv)

    import tifffile
    import torch

    from napari_selfsup_seg._config import ModelConfig, PredictConfig, TrainConfig
    from napari_selfsup_seg.inference._predict import flip_views, predict_labels
    from napari_selfsup_seg.pseudo._threshold import threshold_pseudo_mask
    from napari_selfsup_seg.workflows._recipes import fluorescence_to_brightfield

    torch.set_num_threads(1)
    folder = Path(args.data)
    hoechst = tifffile.imread(folder / "hoechst_TYX.tif")
    bf = tifffile.imread(folder / "oblique_brightfield_TYX.tif")
    truth = tifffile.imread(folder / "nuclei_labels_TYX.tif")
    k = args.train_frames
    planes = np.stack([bf, hoechst], 1)  # (T, C, Y, X): 0 brightfield, 1 Hoechst
    chosen = {"steps": args.steps, "symmetry": args.symmetry}
    recipe = TrainConfig(device="cpu", **{k: v for k, v in chosen.items() if v is not None})
    net = (
        ModelConfig()
        if args.encoder_depth is None
        else ModelConfig(encoder_depth=args.encoder_depth)
    )
    t0 = time.perf_counter()
    model = fluorescence_to_brightfield(planes[:k], 1, 0, train_config=recipe, model_config=net)
    train_s = time.perf_counter() - t0
    match, gts = _match(), list(truth[k:])
    rows, seconds = {}, {}
    for flips in (1, 4):
        t = time.perf_counter()
        cfg = PredictConfig(device="cpu", flips=flips)
        pred = [predict_labels(model, plane, cfg) for plane in bf[k:]]
        seconds[flips] = time.perf_counter() - t
        views = len(flip_views(model, flips))
        rows[f"brightfield U-Net (recipe), {flips} flip(s) asked, {views} used"] = pooled_scores(
            pred, gts, match
        )
    rows["teacher: Hoechst threshold on the same frames"] = pooled_scores(
        [threshold_pseudo_mask(p)[0] for p in hoechst[k:]], gts, match
    )
    rows["threshold of the brightfield (no learning)"] = pooled_scores(
        [threshold_pseudo_mask(p)[0] for p in bf[k:]], gts, match
    )
    n_true = sum(len(np.unique(g)) - 1 for g in gts)
    norm = model.config.normalization
    steps = int(model.log[-1]["step"]) if model.log else recipe.steps
    lines = [
        f"| {name} | {r['ap50']:.3f} | {r['ap75']:.3f} | {r['pixel_f1']:.3f} | "
        f"{r['tp']} / {r['fp']} / {r['fn']} |"
        for name, r in rows.items()
    ]
    md = (
        f"Scratch assay (`{folder.name}`): Hoechst pseudo-masks of frames 0–{k - 1} train a "
        f"brightfield U-Net ({net.encoder}, {net.encoder_depth} encoder stages, input flattened "
        f"with a {norm.background_sigma:g} px background and {norm.contrast_sigma:g} px local "
        f"contrast, tiles turned by {', '.join(model.config.symmetries or ['all eight'])} "
        f"(symmetry {recipe.symmetry}), {steps} steps, CPU, one torch thread, "
        f"{train_s:.0f} s for masks + training); scored on the **brightfield** of frames "
        f"{k}–{len(bf) - 1} against the nuclei labels ({n_true} nuclei). Prediction of the "
        f"{len(bf) - k} held-out frames took {seconds[1]:.1f} s with one flip and "
        f"{seconds[4]:.1f} s with four (load average {os.getloadavg()[1]:.1f} over the last "
        "5 minutes of the run; other jobs slow the seconds, not the scores).\n\n"
        "| on the held-out frames | AP@0.5 | AP@0.75 | pixel F1 | TP / FP / FN |\n"
        "|---|---|---|---|---|\n" + "\n".join(lines) + "\n\n"
        "Target: AP@0.5 ≥ 0.60 and pixel F1 ≥ 0.80 for the brightfield model."
    )
    result = {"rows": rows, "train_seconds": round(train_s, 1), "steps": steps,
              "symmetries": model.config.symmetries, "encoder_depth": net.encoder_depth,
              "predict_seconds": {str(f): round(s, 2) for f, s in seconds.items()}}  # fmt: skip
    if not args.no_report:
        report("bf_real", "Fluorescence-to-brightfield on real oblique brightfield", command_line(),
               md, result)  # fmt: skip
    return result


if __name__ == "__main__":
    main()
