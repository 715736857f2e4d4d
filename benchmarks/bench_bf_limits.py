"""What limits the brightfield recipe on the scratch assay: labels, frames, or the images.

Usage: python benchmarks/bench_bf_limits.py [--data DIR] [--device auto|cpu|cuda] [--steps N]

The recipe's training (``workflows.fluorescence_to_brightfield``'s normalisation, turns and
defaults) is repeated with one thing changed at a time and scored on the **brightfield** of the
frames it names against the nuclei labels (AP@0.5, pixel F1; one flip):

* the recipe itself on three seeds, and the three averaged (a seed's spread and an ensemble);
* the **hand-drawn labels** of frames 0-6 instead of the Hoechst masks (do better masks help?);
* other held-out splits of the ten frames (later frames against earlier ones, interleaved);
* **in-sample**: trained on all ten frames, scored on frames 7-9 that it trained on, with the
  Hoechst masks and with the hand-drawn labels (how well the network fits brightfield at all).
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


def _train(bf, masks, frames, steps, device, seed):
    from napari_selfsup_seg._config import TrainConfig
    from napari_selfsup_seg._progress import drain
    from napari_selfsup_seg.data._normalize import transmitted_light_normalization
    from napari_selfsup_seg.train._supervised import train_iter

    ms = [masks[i] for i in frames]
    cfg = TrainConfig(device=device, seed=seed, **({"steps": steps} if steps else {}))
    images = [bf[i][None].astype(np.float32) for i in frames]
    return drain(train_iter(images, ms, cfg, normalization=transmitted_light_normalization(ms)))


def _labels(models, bf, frames, device):
    """Instances from the class probabilities of ``models`` averaged (one flip)."""
    from napari_selfsup_seg._config import PredictConfig
    from napari_selfsup_seg.inference._input import (
        model_predict_config,
        prepare_input,
        segmenting_model,
    )
    from napari_selfsup_seg.inference._predict import predict_probabilities
    from napari_selfsup_seg.inference._seeded import plane_instances

    cfg = PredictConfig(device=device, flips=1)
    first = segmenting_model(models[0], device)
    out = []
    for i in frames:
        probs = np.mean([predict_probabilities(m, bf[i], cfg) for m in models], axis=0)
        x = prepare_input(first, bf[i], channels=None)
        out.append(plane_instances(first, probs, x, model_predict_config(first, cfg)))
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(SHARED_DATA / "scratch_assay"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=None, help="default: the recipe's")
    parser.add_argument("--no-report", action="store_true")
    args = parser.parse_args(argv)

    import tifffile
    import torch

    from napari_selfsup_seg.models._device import pick_device
    from napari_selfsup_seg.pseudo._threshold import threshold_pseudo_mask

    device = str(pick_device(args.device))
    if device == "cpu":
        torch.set_num_threads(1)
    folder = Path(args.data)
    hoechst = tifffile.imread(folder / "hoechst_TYX.tif")
    bf = tifffile.imread(folder / "oblique_brightfield_TYX.tif")
    truth = list(tifffile.imread(folder / "nuclei_labels_TYX.tif"))
    teacher = [threshold_pseudo_mask(p)[0] for p in hoechst]
    match, n = _match(), len(bf)
    early, late = list(range(7)), list(range(7, n))
    t0 = time.perf_counter()
    rows: dict[str, dict] = {}

    def row(name, models, frames):
        rows[name] = pooled_scores(
            _labels(models, bf, frames, device), [truth[i] for i in frames], match
        )

    seeds = [_train(bf, teacher, early, args.steps, device, s) for s in range(3)]
    for s, model in enumerate(seeds):
        row(f"recipe, seed {s}: Hoechst masks of 0–6 → 7–9", [model], late)
    row("recipe, the three seeds' probabilities averaged → 7–9", seeds, late)
    truth_model = _train(bf, truth, early, args.steps, device, 0)
    row("hand-drawn labels of 0–6 instead of the Hoechst masks → 7–9", [truth_model], late)
    splits = {
        "Hoechst masks of 3–9 → 0–2 (earlier frames)": (list(range(3, n)), list(range(3))),
        "Hoechst masks of even frames → odd frames": (list(range(0, n, 2)), list(range(1, n, 2))),
    }
    for name, (train_frames, test_frames) in splits.items():
        row(name, [_train(bf, teacher, train_frames, args.steps, device, 0)], test_frames)
    for name, masks in (("Hoechst masks", teacher), ("hand-drawn labels", truth)):
        model = _train(bf, masks, list(range(n)), args.steps, device, 0)
        row(f"in-sample: {name} of all 10 frames → 7–9 (trained on)", [model], late)
    seconds = time.perf_counter() - t0
    steps = int(seeds[0].log[-1]["step"]) if seeds[0].log else args.steps
    lines = [
        f"| {name} | {r['ap50']:.3f} | {r['pixel_f1']:.3f} | {r['tp']} / {r['fp']} / {r['fn']} |"
        for name, r in rows.items()
    ]
    md = (
        f"Scratch assay (`{folder.name}`), brightfield U-Net with the recipe's defaults "
        f"({steps} steps, turns {', '.join(seeds[0].config.symmetries or ['all eight'])}), one "
        f"flip at prediction, on `{device}` ({seconds:.0f} s for all rows, load average "
        f"{os.getloadavg()[1]:.1f}). Scored on the brightfield of the frames after the arrow "
        "against the nuclei labels.\n\n"
        "| trained on → scored on | AP@0.5 | pixel F1 | TP / FP / FN |\n"
        "|---|---|---|---|\n" + "\n".join(lines)
    )
    result = {"rows": rows, "device": device, "steps": steps, "seconds": round(seconds, 1)}
    if not args.no_report:
        report("bf_limits", "What limits the brightfield recipe (scratch assay)", command_line(),
               md, result)  # fmt: skip
    return result


if __name__ == "__main__":
    main()
