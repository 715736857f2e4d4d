"""Texture features of the PSM clustering and the per-plane choice of their window.

Brightfield objects differ from the flat background by their texture, at a scale that depends
on the image (fine granules of small nuclei, coarse patches of large spread cells, the rim and
halo of thin rods). No single window suits them all, and the object-scale estimate of
:mod:`._scale` (a few pixels on such images) does not predict it. So the window is chosen per
plane: the clustering is run at every candidate window and each resulting mask is scored by
how much of the plane's texture it explains, *at every candidate scale*: the mean over the
scales of the between-class variance fraction (Otsu's criterion, the quantity
:mod:`._sweep` uses on intensity) of the log local standard deviation, split by the mask. A
mask found at one window has to account for the texture seen at the others too, which also
rejects a k-means split that went wrong at one window.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ._scale import plane_trend

TEXTURE_SIGMAS = (1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)
"""Candidate texture windows (Gaussian sigma, pixels) when ``texture_sigma`` is ``None``;
those above :func:`max_sigma` are dropped."""

FIXED_SIGMA = 2.0
"""The window when no texture feature is clustered (the brightfield rule still uses it)."""

EVAL_SIGMAS = (1.0, 2.0, 4.0, 8.0)
"""Scales at which a candidate mask must explain the texture (octaves of the candidates)."""


def local_std(plane: np.ndarray, sigma: float) -> np.ndarray:
    """Local standard deviation of ``plane`` in a Gaussian window of ``sigma`` pixels."""
    mean = ndi.gaussian_filter(plane, sigma)
    return np.sqrt(np.clip(ndi.gaussian_filter(plane * plane, sigma) - mean**2, 0, None))


def log_roughness(plane: np.ndarray, sigma: float) -> np.ndarray:
    """Log local standard deviation (the log compresses a few very rough specks)."""
    return np.log(local_std(plane, sigma) + 1e-4)


def max_sigma(shape: tuple[int, ...]) -> float:
    """Widest texture window for a plane: a 32nd of its long side.

    The window's full width (about four sigmas) then stays below the illumination scale the
    brightfield intensity feature removes (a Gaussian over an eighth of the long side): a
    wider window measures uneven illumination (noise grows with brightness) as texture.
    """
    return max(shape) / 32


def candidate_sigmas(shape: tuple[int, ...]) -> list[float]:
    """The candidate windows that fit a plane of this shape (at least the smallest one)."""
    return [s for s in TEXTURE_SIGMAS if s <= max_sigma(shape)] or [TEXTURE_SIGMAS[0]]


def explained_fraction(feature: np.ndarray, mask: np.ndarray) -> float:
    """Between-class variance of ``feature`` split by ``mask``, as a fraction of its variance."""
    w = float(mask.mean())
    var = float(feature.var())
    if w in (0.0, 1.0) or var <= 0:
        return 0.0
    diff = float(feature[mask].mean() - feature[~mask].mean())
    return w * (1 - w) * diff * diff / var


def texture_scale_scores(plane: np.ndarray, masks: dict[float, np.ndarray]) -> dict[float, float]:
    """Score of each candidate window's mask: mean explained fraction over :data:`EVAL_SIGMAS`."""
    sigmas = [s for s in EVAL_SIGMAS if s <= max(max_sigma(plane.shape), EVAL_SIGMAS[0])]
    # Without their smooth trend (as the brightfield intensity feature): a mask that follows
    # uneven illumination (noise grows with brightness) must not explain the texture.
    feats = [_detrend(log_roughness(plane, s)) for s in sigmas]
    return {s: float(np.mean([explained_fraction(f, m) for f in feats])) for s, m in masks.items()}


def _detrend(feature: np.ndarray) -> np.ndarray:
    """``feature`` minus its plane-wide trend (:func:`._scale.plane_trend`)."""
    return feature - plane_trend(feature)
