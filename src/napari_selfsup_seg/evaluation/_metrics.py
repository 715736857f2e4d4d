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


def overlap_pairs(gt: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, ...]:
    """IoU of every overlapping (true, predicted) pair, in memory linear in the pixels.

    Parameters
    ----------
    gt, pred : numpy.ndarray of int
        Label images of the same shape, 0 = background, no negative labels.

    Returns
    -------
    tuple of numpy.ndarray
        ``(gt_index, pred_index, iou, n_gt, n_pred)``: for each pair of objects that share at
        least one pixel, the object indices (labels in increasing order, from 0) and their IoU;
        then the number of true and of predicted objects (as 0-d arrays).
    """
    g, p = np.asarray(gt).ravel(), np.asarray(pred).ravel()
    g_labels, g_area = np.unique(g[g > 0], return_counts=True)
    p_labels, p_area = np.unique(p[p > 0], return_counts=True)
    both = (g > 0) & (p > 0)
    gi = np.searchsorted(g_labels, g[both]).astype(np.int64)
    pi = np.searchsorted(p_labels, p[both]).astype(np.int64)
    keys, inter = np.unique(gi * max(len(p_labels), 1) + pi, return_counts=True)
    gi, pi = np.divmod(keys, max(len(p_labels), 1))
    union = g_area[gi] + p_area[pi] - inter
    iou = inter / np.maximum(union, 1)
    return gi, pi, iou, np.asarray(len(g_labels)), np.asarray(len(p_labels))


def sparse_match_counts(
    gi: np.ndarray, pi: np.ndarray, iou: np.ndarray, n_gt: int, n_pred: int, threshold: float
) -> tuple[int, int, int]:
    """TP, FP, FN of a one-to-one matching at ``IoU >= threshold`` from :func:`overlap_pairs`.

    The number of true positives is the size of a maximum matching of the pairs above the
    threshold (Hopcroft-Karp on the sparse graph), the same count the Hungarian matching of
    :func:`match_counts` finds, without a dense ``n_gt x n_pred`` matrix.
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import maximum_bipartite_matching

    n_gt, n_pred = int(n_gt), int(n_pred)
    keep = iou >= threshold
    if n_gt == 0 or n_pred == 0 or not keep.any():
        return 0, n_pred, n_gt
    graph = csr_matrix(
        (np.ones(int(keep.sum()), np.int8), (gi[keep], pi[keep])), shape=(n_gt, n_pred)
    )
    tp = int((maximum_bipartite_matching(graph, perm_type="column") >= 0).sum())
    return tp, n_pred - tp, n_gt - tp


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
        if (p.size and p.min() < 0) or (g.size and g.min() < 0):
            raise ValueError("label images must not hold negative labels")
        if p.ndim == 2:
            planes.append((p, g))
        else:
            planes.extend(zip(p.reshape(-1, *p.shape[-2:]), g.reshape(-1, *g.shape[-2:])))
    counts = {t: [0, 0, 0] for t in thresholds}
    inter = total = n_true = n_pred = 0
    for p, g in planes:
        gi, pi, iou, ng, npr = overlap_pairs(g, p)
        n_true += int(ng)
        n_pred += int(npr)
        for t in thresholds:
            for i, v in enumerate(sparse_match_counts(gi, pi, iou, int(ng), int(npr), t)):
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
