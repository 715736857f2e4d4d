"""The label-free pipeline with default settings on every set of the development suite.

For each set of ``../shared/data`` the pipeline a user runs without any label: threshold
pseudo-masks (scale, polarity and background estimated from each plane), a U-Net trained on them
with uncertain pixels ignored, self-training rounds (``SelfTrainingConfig()``), then the student
segments frames it was not trained on. Nothing is set per set: every config is the default one.

Splits: ``nuclei2d`` is a single image, so the student is trained and scored on the same image
(no label is used for training either way); the time series are split into training frames and
scored frames (scratch assay: frames 0-6 / 7-9; hela_ctc and bacteria_phase: t00, t04 / t06,
t09 train, the last two frames scored). ``scratch_cells`` is the whole-cell task of the scratch
assay: Hoechst nuclei seed cells grown over the oblique brightfield channel
(``ThresholdConfig(target="cells")``), the student sees both channels, scored against the
whole-cell labels. The teacher is scored on the same scored frames. All scores come from the
matching of ``../shared/tools/score_instances.py`` (AP = TP/(TP+FP+FN), Hungarian matching at
IoU >= 0.5 or 0.75), pooled over the scored frames; pixel F1 is the Dice of the foreground,
pooled.

Usage: python benchmarks/bench_suite.py [--data DIR] [--sets NAME...] [--rounds N] [--jobs N]
[--no-report]

``--jobs N`` runs N sets at a time, each in its own process with its share of the CPU cores as
torch threads (the sets are independent; the figures do not depend on it beyond thread count).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import SHARED_DATA, command_line, report
from bench_teacher import _match, median_diameter, pooled_scores, stack


def suite(root: Path) -> dict[str, dict]:
    """``{name: {"train": planes, "test": planes, "truth": labels}}`` of every set found."""
    sets: dict[str, dict] = {}
    if (root / "nuclei2d_image.tif").exists():
        image = stack(root / "nuclei2d_image.tif")
        sets["nuclei2d"] = {
            "train": image,
            "test": image,
            "truth": stack(root / "nuclei2d_mask.tif"),
            "split": "trained and scored on the one image",
        }
    scratch = root / "scratch_assay"
    if (scratch / "hoechst_TYX.tif").exists():
        hoechst = stack(scratch / "hoechst_TYX.tif")
        sets["scratch_hoechst"] = {
            "train": hoechst[:7],
            "test": hoechst[7:],
            "truth": stack(scratch / "nuclei_labels_TYX.tif")[7:],
            "split": "frames 0-6 / 7-9",
        }
        bf = stack(scratch / "oblique_brightfield_TYX.tif")
        if len(bf) == len(hoechst) and (scratch / "cyto_labels_TYX.tif").exists():
            # Whole cells: Hoechst nuclei seed cells grown over the brightfield channel; the
            # student sees both channels.
            pairs = [np.stack([b, h]) for b, h in zip(bf, hoechst)]
            sets["scratch_cells"] = {
                "train": pairs[:7],
                "test": pairs[7:],
                "truth": stack(scratch / "cyto_labels_TYX.tif")[7:],
                "split": "frames 0-6 / 7-9",
                "cells": True,
            }
    for name in ("hela_ctc", "bacteria_phase"):
        images = sorted((root / name).glob("t*_image.tif"))
        if len(images) < 2:
            continue
        half = len(images) // 2
        masks = [p.with_name(p.name.replace("_image", "_mask")) for p in images[half:]]
        sets[name] = {
            "train": [x for p in images[:half] for x in stack(p)],
            "test": [x for p in images[half:] for x in stack(p)],
            "truth": [x for p in masks for x in stack(p)],
            "split": f"{', '.join(p.name[:3] for p in images[:half])} / "
            f"{', '.join(p.name[:3] for p in images[half:])}",
        }
    return sets


def run_set(data: dict, rounds: int | None, match) -> dict:
    """Teacher, student after every round, diameters and seconds of one set."""
    from napari_selfsup_seg._config import PredictConfig
    from napari_selfsup_seg._progress import RoundProgress, drain
    from napari_selfsup_seg.data._diameter import diameter_of_labels
    from napari_selfsup_seg.inference._predict import predict_labels
    from napari_selfsup_seg.pseudo._cells import cell_pseudo_masks
    from napari_selfsup_seg.pseudo._threshold import ThresholdConfig, threshold_iter
    from napari_selfsup_seg.workflows._label_free import label_free_iter
    from napari_selfsup_seg.workflows._self_training import SelfTrainingConfig, self_train_iter

    CELLS = ThresholdConfig(target="cells")

    cells = data.get("cells", False)
    if cells:
        # Channel 0: the cell channel (brightfield), channel 1: the seeds (Hoechst).
        test_cells = [p[0] for p in data["test"]]
        teacher = cell_pseudo_masks(test_cells, [p[1] for p in data["test"]], CELLS)
    else:
        teacher = drain(threshold_iter(data["test"], ThresholdConfig()))
    per_round: list[dict] = []
    predict_s = [0.0, 0.0]  # last round's prediction, all scoring predictions

    def on_record(record) -> None:
        if isinstance(record, RoundProgress):
            t = time.perf_counter()
            preds = [predict_labels(record.model, p, PredictConfig()) for p in data["test"]]
            predict_s[0] = time.perf_counter() - t
            predict_s[1] += predict_s[0]
            per_round.append({**record.record, **pooled_scores(preds, data["truth"], match)})
            print(f"  {record.message}: AP@0.5 {per_round[-1]['ap50']:.3f}", file=sys.stderr)
        elif record.total and record.done % 100 == 0:
            print(f"  {record.stage} {record.done}/{record.total}", file=sys.stderr)

    config = SelfTrainingConfig() if rounds is None else SelfTrainingConfig(rounds=rounds)
    t0 = time.perf_counter()
    if cells:
        pseudo = cell_pseudo_masks([p[0] for p in data["train"]], [p[1] for p in data["train"]],
                                   CELLS)  # fmt: skip
        # The Hoechst channel (network input 1) seeded the cells: the model records it, so its
        # predictions grow cells from the nuclei of that channel.
        seeding = {"seed_channel": 1, "seed_diameter": diameter_of_labels(pseudo.seeds)}
        result = drain(self_train_iter(data["train"], pseudo.labels, pseudo.maps, config=config,
                                       provenance={"pseudo_mask": "cells"},
                                       train_kwargs=seeding), on_record)  # fmt: skip
        result.teacher = pseudo
    else:
        result = drain(label_free_iter(data["train"], config=config), on_record)
    seconds = time.perf_counter() - t0 - predict_s[1]
    estimate = float(np.median(result.teacher.diameters))
    true = median_diameter(data["truth"])
    return {
        "split": data["split"],
        "train_planes": len(data["train"]),
        "test_planes": len(data["test"]),
        "teacher": pooled_scores(teacher.labels, data["truth"], match),
        "student": per_round[-1],
        "rounds": per_round,
        "true_diameter": round(true, 1),
        "estimated_diameter": round(estimate, 1),
        "diameter_error": round(estimate / true - 1, 3),
        "polarity": sorted(set(result.teacher.polarities)),
        "seconds": round(seconds, 1),
        "predict_seconds": round(predict_s[0], 1),
    }


def table(figures: dict) -> str:
    rows = [
        "| set | split (train / scored) | teacher AP@0.5 | student AP@0.5 | student AP@0.75 | "
        "student pixel F1 | diameter est. / true (px) | s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, f in figures.items():
        t, s = f["teacher"], f["student"]
        rows.append(
            f"| {name} | {f['split']} | {t['ap50']:.3f} | **{s['ap50']:.3f}** | "
            f"{s['ap75']:.3f} | {s['pixel_f1']:.3f} | {f['estimated_diameter']:.1f} / "
            f"{f['true_diameter']:.1f} ({100 * f['diameter_error']:+.0f} %) | "
            f"{f['seconds']:.0f} |"
        )
    rounds = ["", "Student AP@0.5 after each round (round 0 = trained on the pseudo-masks):", ""]
    for name, f in figures.items():
        cells = ", ".join(
            f"round {r['round']}: {r['ap50']:.3f} (score {r['score']:.3f})" for r in f["rounds"]
        )
        rounds.append(f"- {name}: {cells}")
    return "\n".join(rows + rounds)


def _run_named(job: tuple) -> tuple[str, dict]:
    """One set of the suite (a process of ``--jobs``): ``(name, figures)``."""
    name, data, rounds, threads = job
    import torch

    if threads:
        torch.set_num_threads(threads)
    print(f"{name}:", file=sys.stderr)
    return name, run_set(data, rounds, _match())


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(SHARED_DATA), help="the development suite")
    parser.add_argument("--sets", nargs="*", default=None, help="only these sets")
    parser.add_argument("--rounds", type=int, default=None, help="self-training rounds")
    parser.add_argument("--jobs", type=int, default=1, help="sets run at a time (processes)")
    parser.add_argument("--no-report", action="store_true")
    args = parser.parse_args(argv)

    import torch

    t0 = time.perf_counter()
    chosen = {n: d for n, d in suite(Path(args.data)).items() if not args.sets or n in args.sets}
    threads = max(1, (os.cpu_count() or 1) // args.jobs) if args.jobs > 1 else 0
    jobs = [(name, data, args.rounds, threads) for name, data in chosen.items()]
    if args.jobs > 1:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(args.jobs, mp_context=context) as pool:
            done = dict(pool.map(_run_named, jobs))
    else:
        done = dict(_run_named(job) for job in jobs)
    figures = {name: done[name] for name in chosen}
    result = {
        "sets": figures,
        "total_seconds": round(time.perf_counter() - t0, 1),
        "torch_threads": threads or torch.get_num_threads(),
        "jobs": args.jobs,
    }
    markdown = (
        "The label-free pipeline with default settings on every set of the development suite "
        "(threshold pseudo-masks with uncertain pixels ignored → U-Net → self-training → "
        "segment frames not trained on); no setting depends on the set. Teacher = the "
        "threshold pseudo-mask of the scored frames. Scores with the matching of "
        "`../shared/tools/score_instances.py`, pooled over the scored frames. Diameter: "
        "median of the teacher's per-plane estimates on the training frames vs the median "
        "equivalent diameter of the reference objects. Seconds: pseudo-masks + training + "
        f"self-training on the CPU. Whole run: {result['total_seconds'] / 60:.1f} min, "
        f"{args.jobs} set(s) at a time.\n\n" + table(figures)
    )
    if args.no_report or args.sets:
        import json

        print(json.dumps({"benchmark": "suite", **result}, default=float))
    else:
        report("suite", "Label-free pipeline on the development suite", command_line(),
               markdown, result)  # fmt: skip
    return result


if __name__ == "__main__":
    main()
