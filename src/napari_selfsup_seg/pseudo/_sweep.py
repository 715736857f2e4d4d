"""Choosing the cut on a probability map without ground truth.

Every threshold of a sweep turns the map into a binary mask; the mask is scored against the
image itself by how much of the (smoothed) intensity it explains. Two scores are offered:

* ``"variance"`` (default): the fraction of intensity variance explained by the mask,
  ``η = σ²_between / σ²_total`` (the quantity Otsu's method maximises). A cut that is too low
  pulls background into the objects and lowers the objects' mean; one that is too high does the
  opposite; both lower η.
* ``"nmi"``: normalised mutual information between the mask and the intensity quantised into
  equally populated levels. It is biased towards masks nearer half the image: a mask that adds
  a ring of blurred edge pixels is still a function of the quantised intensity but has more
  entropy, so on blurred images it prefers cuts that are too low (measured on synthetic blobs:
  Dice 0.76 at its choice vs 1.0 at the variance score's).

The score needs no labels, so the best threshold is chosen automatically and the whole curve can
be shown to the user.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from .._errors import InputError
from ..data._normalize import check_finite

DEFAULT_THRESHOLDS = np.round(np.arange(0.05, 0.96, 0.05), 2)
SCORES = ("variance", "nmi")


@dataclass
class SweepResult:
    """Outcome of :func:`threshold_sweep`.

    Attributes
    ----------
    thresholds : numpy.ndarray of float
        Shape ``(T,)``: the cuts tried.
    scores : numpy.ndarray of float
        Shape ``(T,)``: normalised mutual information of each mask with the quantised image, in
        [0, 1] (0 for an empty or full mask).
    foreground_fraction : numpy.ndarray of float
        Shape ``(T,)``: fraction of pixels above each cut.
    best_threshold : float
        The cut with the highest score.
    best_score : float
        Its score.
    score : str
        Which score was used (``"variance"`` or ``"nmi"``).
    """

    thresholds: np.ndarray
    scores: np.ndarray
    foreground_fraction: np.ndarray
    best_threshold: float
    best_score: float
    score: str = "variance"

    def to_dict(self) -> dict:
        """JSON-friendly form (lists of floats)."""
        return {
            "thresholds": [float(t) for t in self.thresholds],
            "scores": [float(s) for s in self.scores],
            "foreground_fraction": [float(f) for f in self.foreground_fraction],
            "best_threshold": float(self.best_threshold),
            "best_score": float(self.best_score),
            "score": self.score,
        }


def quantise_intensity(image: np.ndarray, levels: int = 16, sigma: float = 1.0) -> np.ndarray:
    """Quantise an image into ``levels`` equally populated intensity bins.

    Parameters
    ----------
    image : numpy.ndarray
        Shape ``(Y, X)``.
    levels : int
        Number of bins.
    sigma : float
        Gaussian smoothing before quantising (reduces the effect of pixel noise).

    Returns
    -------
    numpy.ndarray of int
        Shape ``(Y, X)``, values in ``0 .. levels - 1``.
    """
    x = np.asarray(image, dtype=np.float32)
    if sigma > 0:
        x = ndi.gaussian_filter(x, sigma)
    edges = np.unique(np.quantile(x, np.linspace(0, 1, levels + 1)[1:-1]))
    return np.searchsorted(edges, x, side="right").astype(np.int32)


def normalized_mutual_information(mask: np.ndarray, quantised: np.ndarray) -> float:
    """Normalised mutual information ``2 I(M; Q) / (H(M) + H(Q))`` of a mask and a quantisation.

    Parameters
    ----------
    mask : numpy.ndarray of bool
        Shape ``(Y, X)``.
    quantised : numpy.ndarray of int
        Shape ``(Y, X)``, non-negative integer levels.

    Returns
    -------
    float
        In [0, 1]; 0 when the mask is empty or full.
    """
    m = np.asarray(mask, dtype=bool).ravel()
    q = np.asarray(quantised).ravel()
    n_levels = int(q.max()) + 1
    counts = np.bincount(m.astype(np.int64) * n_levels + q, minlength=2 * n_levels)
    joint = counts.reshape(2, n_levels).astype(np.float64) / m.size
    pm, pq = joint.sum(1), joint.sum(0)

    def entropy(p: np.ndarray) -> float:
        p = p[p > 0]
        return float(-(p * np.log(p)).sum())

    hm, hq = entropy(pm), entropy(pq)
    if hm <= 0 or hq <= 0:
        return 0.0
    mi = hm + hq - entropy(joint.ravel())
    return float(max(0.0, 2.0 * mi / (hm + hq)))


def explained_variance(mask: np.ndarray, image: np.ndarray) -> float:
    """Fraction of the variance of ``image`` explained by splitting it with ``mask``.

    Parameters
    ----------
    mask : numpy.ndarray of bool
        Shape ``(Y, X)``.
    image : numpy.ndarray
        Shape ``(Y, X)``.

    Returns
    -------
    float
        ``σ²_between / σ²_total`` in [0, 1]; 0 when the mask is empty or full.
    """
    m = np.asarray(mask, dtype=bool)
    x = np.asarray(image, dtype=np.float64)
    w1 = m.mean()
    total = x.var()
    if w1 <= 0 or w1 >= 1 or total <= 0:
        return 0.0
    mu1, mu0 = x[m].mean(), x[~m].mean()
    return float(w1 * (1 - w1) * (mu1 - mu0) ** 2 / total)


def threshold_sweep(
    prob_map: np.ndarray,
    image: np.ndarray,
    thresholds: Sequence[float] | np.ndarray = DEFAULT_THRESHOLDS,
    levels: int = 16,
    sigma: float = 1.0,
    name: str = "image",
    score: str = "variance",
) -> SweepResult:
    """Score masks ``prob_map >= t`` against the image for every ``t`` and pick the best.

    Parameters
    ----------
    prob_map : numpy.ndarray
        Shape ``(Y, X)``, a foreground probability (or any map scaled to [0, 1]).
    image : numpy.ndarray
        Shape ``(Y, X)``, the intensity image the map was made from.
    thresholds : sequence of float
        Cuts to try (default 0.05, 0.10, ..., 0.95).
    levels : int
        Intensity bins of the quantised image.
    sigma : float
        Gaussian smoothing of the image before quantising.
    name : str
        Used in error messages (usually the file name).
    score : str
        ``"variance"`` (explained intensity variance) or ``"nmi"`` (see the module notes).

    Returns
    -------
    SweepResult
        Scores of every cut and the best one.

    Raises
    ------
    InputError
        The map or image is not 2D, their shapes differ, either holds NaN, the map is constant
        (no cut separates anything) or the image is constant.
    """
    prob = np.asarray(prob_map, dtype=np.float32)
    img = np.asarray(image)
    if prob.ndim != 2 or img.ndim != 2:
        raise InputError(f"{name}: threshold sweep needs 2D planes, got {prob.shape}, {img.shape}")
    if prob.shape != img.shape:
        raise InputError(f"{name}: map shape {prob.shape} differs from image shape {img.shape}")
    check_finite(prob, f"{name} (probability map)")
    check_finite(img, name)
    if float(prob.max() - prob.min()) <= 1e-6:
        raise InputError(f"{name}: probability map is constant, no threshold separates anything")
    if float(img.max()) == float(img.min()):
        raise InputError(f"{name}: image is constant (every pixel has the same value)")
    ts = np.asarray(thresholds, dtype=np.float64)
    if ts.ndim != 1 or ts.size == 0:
        raise InputError("thresholds must be a non-empty 1D sequence")
    if score not in SCORES:
        raise InputError(f"score must be one of {', '.join(SCORES)}, got {score!r}")
    smooth = ndi.gaussian_filter(img.astype(np.float64), sigma) if sigma > 0 else img
    quant = quantise_intensity(img, levels, sigma) if score == "nmi" else None
    scores = np.empty(ts.size)
    fractions = np.empty(ts.size)
    for i, t in enumerate(ts):
        mask = prob >= t
        fractions[i] = mask.mean()
        if quant is not None:
            scores[i] = normalized_mutual_information(mask, quant)
        else:
            scores[i] = explained_variance(mask, smooth)
    best = int(np.argmax(scores))
    return SweepResult(
        thresholds=ts,
        scores=scores,
        foreground_fraction=fractions,
        best_threshold=float(ts[best]),
        best_score=float(scores[best]),
        score=score,
    )
