"""Check that ``evaluate`` agrees with the independent scorer on the real image.

Scores three predictions of ``nuclei2d_image.tif`` (threshold pseudo-masks at three cuts) with
``napari_selfsup_seg.evaluation._metrics.evaluate`` and with
``../shared/tools/score_instances.py`` and
reports both. Usage: ``python benchmarks/bench_evaluate_agreement.py [IMAGE MASK [SCORER]]``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import tifffile

from _report import DEFAULT_IMAGE, DEFAULT_MASK, SHARED_DATA, command_line, report
from napari_selfsup_seg.evaluation._metrics import evaluate
from napari_selfsup_seg.pseudo._threshold import ThresholdConfig, threshold_pseudo_mask


def main(argv: list[str]) -> None:
    image = Path(argv[0]) if argv else DEFAULT_IMAGE
    mask = Path(argv[1]) if len(argv) > 1 else DEFAULT_MASK
    scorer = Path(argv[2]) if len(argv) > 2 else SHARED_DATA.parent / "tools" / "score_instances.py"
    img, gt = tifffile.imread(image), tifffile.imread(mask)
    rows, worst = [], 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for cut in (0.3, 0.5, 0.7):
            pred, _ = threshold_pseudo_mask(img, ThresholdConfig(threshold=cut))
            path = Path(tmp) / f"pred_{cut}.tif"
            tifffile.imwrite(path, pred.astype(np.uint16))
            ours = evaluate([pred], [gt])
            ref = json.loads(
                subprocess.run(
                    [sys.executable, str(scorer), str(path), str(mask)],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
            )
            diff = max(
                abs(ours["ap"]["0.5"] - ref["ap50"]),
                abs(ours["f1"]["0.5"] - ref["f1_50"]),
                abs(ours["pixel_f1"] - ref["pixel_f1"]),
            )
            worst = max(worst, diff)
            rows.append((cut, ours, ref))
    table = "| cut | AP@0.5 ours / scorer | F1@0.5 ours / scorer | pixel F1 ours / scorer |\n"
    table += "|---|---|---|---|\n"
    for cut, o, r in rows:
        table += (
            f"| {cut} | {o['ap']['0.5']:.4f} / {r['ap50']:.4f} | {o['f1']['0.5']:.4f} / "
            f"{r['f1_50']:.4f} | {o['pixel_f1']:.4f} / {r['pixel_f1']:.4f} |\n"
        )
    verdict = "agree" if worst < 1e-4 else "DISAGREE"
    report(
        "evaluate_agreement",
        "`evaluate` against the independent scorer",
        command_line(),
        f"{table}\nLargest difference {worst:.2e}: the two scorers {verdict} (rounding at 1e-4).",
        {"max_abs_difference": worst, "agree": worst < 1e-4},
    )


if __name__ == "__main__":
    main(sys.argv[1:])
