"""Teacher quality: the threshold pseudo-mask with default settings on every real data set.

For each set of the development suite (``../shared/data``: nuclei2d, the scratch assay's Hoechst
frames, hela_ctc, bacteria_phase) the threshold teacher runs with ``ThresholdConfig()`` (no
per-set setting: scale and polarity come from the image) and is scored plane by plane, pooled
over the planes of a set, with the matching of the independent ``score_instances.py`` (AP@0.5 =
TP/(TP+FP+FN), Hungarian matching at IoU >= 0.5). The estimated object diameter is compared with
the true median diameter (equivalent diameter of each reference object, median over the set).

Usage: python benchmarks/bench_teacher.py [--data DIR] [--no-report]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import ROOT, SHARED_DATA, command_line, report

SCORER = ROOT.parent / "shared" / "tools" / "score_instances.py"


def _match():
    """The independent scorer's ``match(gt, pred, thr) -> (tp, fp, fn)``."""
    spec = importlib.util.spec_from_file_location("score_instances", SCORER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.match


def stack(path: Path) -> list[np.ndarray]:
    """The ``(Y, X)`` planes of a TIFF file."""
    import tifffile

    data = tifffile.imread(path)
    return list(data.reshape(-1, *data.shape[-2:]))


def pooled_scores(preds: list[np.ndarray], truths: list[np.ndarray], match) -> dict:
    """AP@0.5 (with its TP/FP/FN), AP@0.75 and pixel F1, pooled over the planes."""
    out: dict = {}
    for thr in (0.5, 0.75):
        tp = fp = fn = 0
        for pred, gt in zip(preds, truths):
            a, b, c = match(gt, pred, thr)
            tp, fp, fn = tp + a, fp + b, fn + c
        out[f"ap{int(thr * 100)}"] = round(tp / max(tp + fp + fn, 1), 3)
        if thr == 0.5:
            out.update(tp=tp, fp=fp, fn=fn)
    inter = sum(int(((p > 0) & (g > 0)).sum()) for p, g in zip(preds, truths))
    total = sum(int((p > 0).sum() + (g > 0).sum()) for p, g in zip(preds, truths))
    out["pixel_f1"] = round(2 * inter / max(total, 1), 3)
    return out


def datasets(root: Path) -> dict[str, tuple[list[np.ndarray], list[np.ndarray]]]:
    """``{name: (planes, reference labels)}`` of every set found under ``root``."""

    def frames(folder: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
        images = sorted(folder.glob("t*_image.tif"))
        masks = [p.with_name(p.name.replace("_image", "_mask")) for p in images]
        return [x for p in images for x in stack(p)], [x for p in masks for x in stack(p)]

    sets = {}
    if (root / "nuclei2d_image.tif").exists():
        sets["nuclei2d"] = (stack(root / "nuclei2d_image.tif"), stack(root / "nuclei2d_mask.tif"))
    scratch = root / "scratch_assay"
    if (scratch / "hoechst_TYX.tif").exists():
        sets["scratch_hoechst"] = (
            stack(scratch / "hoechst_TYX.tif"),
            stack(scratch / "nuclei_labels_TYX.tif"),
        )
    for name in ("hela_ctc", "bacteria_phase"):
        if (root / name).is_dir():
            sets[name] = frames(root / name)
    return sets


def median_diameter(masks: list[np.ndarray]) -> float:
    """Median equivalent diameter ``2 sqrt(area / pi)`` of the reference objects."""
    areas = np.concatenate([np.bincount(m.ravel().astype(np.int64))[1:] for m in masks])
    areas = areas[areas > 0]
    return float(np.median(2 * np.sqrt(areas / np.pi)))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(SHARED_DATA), help="the development suite")
    parser.add_argument("--no-report", action="store_true")
    args = parser.parse_args(argv)

    from napari_selfsup_seg._progress import drain
    from napari_selfsup_seg.pseudo._threshold import ThresholdConfig, threshold_iter

    match = _match()
    figures: dict[str, dict] = {}
    for name, (planes, masks) in datasets(Path(args.data)).items():
        t0 = time.perf_counter()
        result = drain(threshold_iter(planes, ThresholdConfig()))
        seconds = time.perf_counter() - t0
        scores = pooled_scores(result.labels, masks, match)
        # Ablation: the global cut's own edges (no per-object edge).
        global_cut = drain(threshold_iter(planes, ThresholdConfig(edge_fraction=0.0)))
        ablation = pooled_scores(global_cut.labels, masks, match)
        tp, fp, fn = scores["tp"], scores["fp"], scores["fn"]
        estimates = [d for d in getattr(result, "diameters", []) if d is not None]
        estimate = float(np.median(estimates)) if estimates else None
        true = median_diameter(masks)
        figures[name] = {
            "planes": len(planes),
            "ap50": tp / max(tp + fp + fn, 1),
            "ap75": scores["ap75"],
            "global_cut_ap50": ablation["ap50"],
            "global_cut_ap75": ablation["ap75"],
            "tp": tp,
            "fp": fp,
            "fn": fn,
            "true_diameter": round(true, 1),
            "estimated_diameter": None if estimate is None else round(estimate, 1),
            "diameter_error": None if estimate is None else round(estimate / true - 1, 3),
            "polarity": [p for p in getattr(result, "polarities", [])][:1] or None,
            "seconds": round(seconds, 2),
        }
    rows = [
        "| set | planes | AP@0.5 | AP@0.75 | TP / FP / FN | global cut only: AP@0.5 / AP@0.75 "
        "| true diam. (px) | estimated (px) | error | s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, f in figures.items():
        est = "n/a" if f["estimated_diameter"] is None else f"{f['estimated_diameter']:.1f}"
        err = "n/a" if f["diameter_error"] is None else f"{100 * f['diameter_error']:+.0f} %"
        rows.append(
            f"| {name} | {f['planes']} | {f['ap50']:.3f} | {f['ap75']:.3f} | "
            f"{f['tp']} / {f['fp']} / {f['fn']} | "
            f"{f['global_cut_ap50']:.3f} / {f['global_cut_ap75']:.3f} | "
            f"{f['true_diameter']:.1f} | {est} | {err} | {f['seconds']:.1f} |"
        )
    markdown = (
        "The threshold teacher with default settings (`ThresholdConfig()`, the same as "
        "`pseudo-mask --method threshold` without flags) on every set of the development "
        "suite; AP@0.5 pooled over the planes of a set with the matching of "
        "`../shared/tools/score_instances.py`. Estimated diameter: median over the planes of "
        "the teacher's own estimate; true diameter: median equivalent diameter of the "
        "reference objects. Every object's edge lies 30 % of the way from the background around "
        "it to its peak (`edge_fraction`, pseudo/_edges.py); the *global cut only* columns are "
        "the same teacher with `edge_fraction=0` (the edges of one Otsu cut per plane). Seconds: "
        "the default run only.\n\n" + "\n".join(rows)
    )
    result = {"sets": figures}
    if not args.no_report:
        report("teacher", "Threshold teacher on the development suite", command_line(),
               markdown, result)  # fmt: skip
    else:
        import json

        print(json.dumps({"benchmark": "teacher", **result}, default=float))
    return result


if __name__ == "__main__":
    main()
