"""Instance segmentation metrics: one-to-one matching at IoU thresholds, AP, F1, pixel F1.

Matching follows the Data Science Bowl 2018 / StarDist convention: predicted and true objects are
paired one to one by the Hungarian algorithm (maximising the number of pairs with IoU >= τ, then
their IoU), a pair counts as a true positive when its IoU >= τ, and
``AP@τ = TP / (TP + FP + FN)``. Figures over several images are *pooled*: TP, FP and FN are
summed over images before the ratios are taken.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)


def iou_matrix(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """IoU of every true object with every predicted object.

    Parameters
    ----------
    gt, pred : numpy.ndarray of int
        Label images of the same shape, 0 = background; labels are renumbered internally.

    Returns
    -------
    numpy.ndarray of float
        Shape ``(n_gt, n_pred)``.
    """
    from skimage.segmentation import relabel_sequential

    g = relabel_sequential(np.asarray(gt).astype(np.int64))[0]
    p = relabel_sequential(np.asarray(pred).astype(np.int64))[0]
    ng, npr = int(g.max()), int(p.max())
    overlap = np.zeros((ng + 1, npr + 1), np.int64)
    np.add.at(overlap, (g.ravel(), p.ravel()), 1)
    inter = overlap[1:, 1:]
    union = overlap.sum(1)[1:, None] + overlap.sum(0)[None, 1:] - inter
    return inter / np.maximum(union, 1)


def match_counts(iou: np.ndarray, threshold: float) -> tuple[int, int, int]:
    """TP, FP, FN of a one-to-one (Hungarian) matching at ``IoU >= threshold``."""
    from scipy.optimize import linear_sum_assignment

    ng, npr = iou.shape
    if ng == 0 or npr == 0:
        return 0, npr, ng
    cost = -(iou >= threshold).astype(float) - iou / (2 * max(ng, npr))
    rows, cols = linear_sum_assignment(cost)
    tp = int((iou[rows, cols] >= threshold).sum())
    return tp, npr - tp, ng - tp


def evaluate(
    preds: Sequence[np.ndarray] | np.ndarray,
    gts: Sequence[np.ndarray] | np.ndarray,
    thresholds: Sequence[float] = THRESHOLDS,
) -> dict:
    """Score predicted instance labels against true ones, pooled over images.

    Parameters
    ----------
    preds, gts : list of numpy.ndarray, or one numpy.ndarray
        Label images (2D, or stacks whose planes are scored separately), paired by position.
    thresholds : sequence of float
        IoU thresholds.

    Returns
    -------
    dict
        ``ap``, ``f1``, ``precision``, ``recall``, ``tp``, ``fp``, ``fn`` (each a dict keyed by
        threshold formatted like ``"0.5"``), ``pixel_f1``, ``n_images``, ``n_true``, ``n_pred``
        and ``pooled: True``.
    """
    if isinstance(preds, np.ndarray):
        preds = [preds]
    if isinstance(gts, np.ndarray):
        gts = [gts]
    if len(preds) != len(gts):
        raise ValueError(f"{len(preds)} predictions but {len(gts)} ground truths")
    planes: list[tuple[np.ndarray, np.ndarray]] = []
    for p, g in zip(preds, gts):
        p, g = np.squeeze(np.asarray(p)), np.squeeze(np.asarray(g))
        if p.shape != g.shape:
            raise ValueError(f"prediction shape {p.shape} differs from ground truth {g.shape}")
        if p.ndim == 2:
            planes.append((p, g))
        else:
            planes.extend(zip(p.reshape(-1, *p.shape[-2:]), g.reshape(-1, *g.shape[-2:])))
    counts = {t: [0, 0, 0] for t in thresholds}
    inter = total = n_true = n_pred = 0
    for p, g in planes:
        iou = iou_matrix(g, p)
        n_true += iou.shape[0]
        n_pred += iou.shape[1]
        for t in thresholds:
            for i, v in enumerate(match_counts(iou, t)):
                counts[t][i] += v
        inter += int(((g > 0) & (p > 0)).sum())
        total += int((g > 0).sum() + (p > 0).sum())
    out: dict = {k: {} for k in ("ap", "f1", "precision", "recall", "tp", "fp", "fn")}
    for t, (tp, fp, fn) in counts.items():
        key = f"{t:g}"
        out["ap"][key] = tp / max(tp + fp + fn, 1)
        out["f1"][key] = 2 * tp / max(2 * tp + fp + fn, 1)
        out["precision"][key] = tp / max(tp + fp, 1)
        out["recall"][key] = tp / max(tp + fn, 1)
        out["tp"][key], out["fp"][key], out["fn"][key] = tp, fp, fn
    out["pixel_f1"] = 2 * inter / max(total, 1)
    out["n_images"] = len(planes)
    out["n_true"] = n_true
    out["n_pred"] = n_pred
    out["pooled"] = True
    return out
