"""``napari-selfsup-seg evaluate``: score predicted labels against ground truth."""

from __future__ import annotations

import argparse

from .._errors import InputError
from ..io._image import read_image


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "evaluate",
        help="AP and F1 at IoU 0.5…0.9, precision, recall and pixel F1 (pooled over images)",
        description=(
            "Match predicted and true instances one to one (Hungarian) at IoU thresholds "
            "0.5, 0.6, 0.7, 0.8, 0.9; AP = TP/(TP+FP+FN). Figures are pooled over all images."
        ),
    )
    p.add_argument("--pred", nargs="+", required=True, metavar="P", help="predicted label images")
    p.add_argument("--gt", nargs="+", required=True, metavar="G", help="true label images")
    p.set_defaults(run=run)
    return p


def check_label_image(path: str, data) -> None:
    """Refuse a float image or negative labels (one line naming the file)."""
    if data.dtype.kind == "f":
        raise InputError(f"{path}: expected an integer label image, got floating point")
    if data.dtype.kind == "i" and data.size and data.min() < 0:
        raise InputError(
            f"{path}: holds negative labels (down to {data.min()}); labels are 0 for background "
            "and positive numbers for objects"
        )


def run(args: argparse.Namespace) -> dict:
    from ..evaluation._metrics import evaluate

    if len(args.pred) != len(args.gt):
        raise InputError(f"{len(args.pred)} --pred files but {len(args.gt)} --gt files")
    preds, gts = [], []
    for p, g in zip(args.pred, args.gt):
        pr, gt = read_image(p), read_image(g)
        if pr.shape != gt.shape:
            raise InputError(f"{p}: shape {pr.shape} differs from {g}: {gt.shape}")
        for path, stack in ((p, pr), (g, gt)):
            check_label_image(path, stack.data)
        preds.append(pr.data)
        gts.append(gt.data)
    scores = evaluate(preds, gts)
    print("IoU   AP     F1     precision recall")
    for t in scores["ap"]:
        print(
            f"{t:<5} {scores['ap'][t]:.3f}  {scores['f1'][t]:.3f}  "
            f"{scores['precision'][t]:.3f}     {scores['recall'][t]:.3f}"
        )
    print(f"pixel F1 {scores['pixel_f1']:.3f} over {scores['n_images']} plane(s), pooled")
    return {"command": "evaluate", **scores, "failed": []}
