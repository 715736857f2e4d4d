"""Score PSM and Score-CAM on the napari sample data, run through the Pseudo-masks widget.

Opens each sample as File → Open Sample does, docks the Pseudo-masks widget with its defaults,
makes the job the "Make pseudo-masks" button would start and runs it to the end here, then
compares the result with the sample's hidden truth layer (``metrics.evaluate``: AP at IoU 0.5
and pixel F1). Prints one JSON line per run.

Run (a few minutes per run on a 2-core CPU)::

    xvfb-run -a .venv/bin/python scripts/measure_samples.py psm brightfield
    xvfb-run -a .venv/bin/python scripts/measure_samples.py psm fluorescence
    xvfb-run -a .venv/bin/python scripts/measure_samples.py scorecam fluorescence --cam-input 64
    xvfb-run -a .venv/bin/python scripts/measure_samples.py scorecam brightfield --cam-input 64

The source argument may be ``default`` (the layer the widget picks by itself).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("method", choices=["psm", "scorecam"])
    parser.add_argument("source", help="brightfield, fluorescence or default")
    parser.add_argument(
        "--cam-input", default="auto", help="Score-CAM 'Classifier input (px)': auto, 64, 128, ..."
    )
    args = parser.parse_args()

    import napari
    import torch

    from napari_selfsup_seg._napari.widgets.pseudo_masks import PseudoMasksWidget
    from napari_selfsup_seg._progress import drain
    from napari_selfsup_seg.evaluation._metrics import evaluate

    torch.set_num_threads(max(1, torch.get_num_threads()))
    viewer = napari.Viewer(show=False)
    key, truth_name = ("nuclei", "true labels")
    if args.method == "scorecam":
        key, truth_name = ("artifacts", "true artifacts")
    viewer.open_sample("napari-selfsup-seg", key)
    widget = PseudoMasksWidget(viewer)
    widget.method.value = args.method
    widget.cam_input.value = args.cam_input
    if args.source != "default":
        widget.source.value = args.source
    source = widget.source.value
    truth = np.asarray(viewer.layers[truth_name].data)
    if args.method == "scorecam":
        # Mark every frame as a user would: "has it" where debris is visible, else "has not".
        for k in range(truth.shape[0]):
            viewer.dims.set_current_step(0, k)
            widget.weak.mark(bool(truth[k].any()))
    t0 = time.perf_counter()
    job, context = widget.make_job()
    result = drain(job)
    labels = np.asarray(result.labels)
    seconds = time.perf_counter() - t0
    planes = context["planes"]
    truth = truth.reshape(-1, *truth.shape[-2:])[planes]
    scores = evaluate(list(labels), list(truth))
    out = {
        "sample": key,
        "method": args.method,
        "source": source,
        "cam_input": args.cam_input if args.method == "scorecam" else None,
        "ap50": round(scores["ap"]["0.5"], 3),
        "pixel_f1": round(scores["pixel_f1"], 3),
        "n_true": scores["n_true"],
        "n_pred": scores["n_pred"],
        "cuts": [round(float(t), 2) for t in result.thresholds],
        "seconds": round(seconds),
    }
    if args.method == "scorecam":
        has = truth.reshape(len(truth), -1).max(1) > 0
        out["empty_frames_left_empty"] = bool(not labels[~has].any())
    print(json.dumps(out))
    viewer.close()


if __name__ == "__main__":
    main()
