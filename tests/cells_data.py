"""Generated whole cells for the cell tests: nuclei discs inside larger touching cells.

Cell centres sit on a jittered grid; each cell is the part of the centres' Voronoi diagram
within a reach of its centre (so most cells touch their neighbours and some border the
background). The cytoplasm channel is bright in the cells, a little darker on the borders
between two cells; the nuclear channel has a bright disc at every centre.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi


def make_cells(
    n_side: int = 4, spacing: int = 30, nucleus: int = 6, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(cytoplasm, nuclei, truth)``, each ``(Y, X)`` with ``Y = X = n_side * spacing``.

    ``cytoplasm`` and ``nuclei`` are uint16 images, ``truth`` the cells' instance labels
    (0 = background).
    """
    rng = np.random.default_rng(seed)
    size = n_side * spacing
    grid = (np.arange(n_side) + 0.5) * spacing
    centres = np.array([(y, x) for y in grid for x in grid])
    centres += rng.uniform(-spacing / 6, spacing / 6, centres.shape)
    yy, xx = np.indices((size, size))
    dist = np.hypot(yy[..., None] - centres[:, 0], xx[..., None] - centres[:, 1])
    nearest = dist.argmin(-1)
    truth = np.where(dist.min(-1) <= 0.55 * spacing, nearest + 1, 0).astype(np.int32)
    borders = ndi.morphological_gradient(truth, size=4) > 0
    brightness = rng.uniform(0.8, 1.2, len(centres) + 1)
    brightness[0] = 0
    cyto = 100 + 300 * brightness[truth] - 220 * (borders & (truth > 0))
    cyto = ndi.gaussian_filter(cyto, 1.0) + rng.normal(0, 12, cyto.shape)
    discs = (dist.min(-1) <= nucleus).astype(float)
    nuc = 100 + 900 * ndi.gaussian_filter(discs, 1.0) + rng.normal(0, 12, discs.shape)
    return (
        cyto.clip(0, 65535).astype(np.uint16),
        nuc.clip(0, 65535).astype(np.uint16),
        truth,
    )


def mean_best_iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean over the true cells of their best IoU with a predicted cell."""
    ious = []
    for k in np.unique(truth)[1:]:
        t = truth == k
        ids = np.unique(pred[t])
        best = 0.0
        for j in ids[ids > 0]:
            p = pred == j
            best = max(best, (t & p).sum() / (t | p).sum())
        ious.append(best)
    return float(np.mean(ious))
