"""Generated sample data: paired fluorescence and brightfield images of nuclei with known masks.

The generator draws elliptical nuclei (some touching) with chromatin-like texture, then renders

* a *fluorescence* channel: bright nuclei on an uneven dark background, optical blur, Poisson
  shot noise and camera read noise;
* a *brightfield* channel of the same field: low contrast, slightly darker nuclei with a dark rim
  and a bright halo outside it, uneven illumination and noise.

It is used by ``demo``, the napari sample data and the tests, so every run has images whose true
instance masks are known.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi


@dataclass
class SampleData:
    """One generated field of view.

    Attributes
    ----------
    fluorescence : numpy.ndarray of uint16
        Shape ``(Y, X)``: nuclear stain.
    brightfield : numpy.ndarray of uint16
        Shape ``(Y, X)``: the same field in transmitted light.
    labels : numpy.ndarray of uint16
        Shape ``(Y, X)``: true instances, 0 = background.
    """

    fluorescence: np.ndarray
    brightfield: np.ndarray
    labels: np.ndarray

    def stack(self) -> np.ndarray:
        """Both channels as one ``(2, Y, X)`` array: channel 0 brightfield, 1 fluorescence."""
        return np.stack([self.brightfield, self.fluorescence])


BRIGHTFIELD_CHANNEL = 0
FLUORESCENCE_CHANNEL = 1


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Zero-mean, unit-std Gaussian-filtered noise."""
    n = ndi.gaussian_filter(rng.standard_normal(shape), sigma)
    return (n - n.mean()) / (n.std() + 1e-12)


def _draw_nuclei(
    rng: np.random.Generator,
    shape: tuple[int, int],
    n_nuclei: int,
    radius: tuple[float, float],
    touching: float,
) -> np.ndarray:
    """Instance labels of randomly placed ellipses; touching ones share a clean border."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    depth = np.zeros(shape, np.float32)
    labels = np.zeros(shape, np.uint16)
    centres: list[tuple[float, float, float]] = []
    attempts = 0
    while len(centres) < n_nuclei and attempts < n_nuclei * 50:
        attempts += 1
        r = rng.uniform(*radius)
        if centres and rng.random() < touching:
            # Put this nucleus against an existing one, so that the two touch.
            py, px, pr = centres[rng.integers(len(centres))]
            angle = rng.uniform(0, 2 * np.pi)
            dist = rng.uniform(0.75, 0.9) * (r + pr)
            cy, cx = py + dist * np.sin(angle), px + dist * np.cos(angle)
            min_gap = 0.7
        else:
            cy, cx = rng.uniform(r, h - r), rng.uniform(r, w - r)
            min_gap = 1.0
        if not (r <= cy <= h - r and r <= cx <= w - r):
            continue
        if any(np.hypot(cy - y, cx - x) < min_gap * (r + rr) - 0.5 for y, x, rr in centres):
            continue
        centres.append((cy, cx, r))
        aspect = rng.uniform(0.65, 1.0)
        theta = rng.uniform(0, np.pi)
        a, b = r, r * aspect
        # Only the box around the ellipse can change (wobble stays below 1.1).
        y0, y1 = max(0, int(cy - 1.15 * r) - 1), min(h, int(cy + 1.15 * r) + 2)
        x0, x1 = max(0, int(cx - 1.15 * r) - 1), min(w, int(cx + 1.15 * r) + 2)
        box = (slice(y0, y1), slice(x0, x1))
        dy, dx = yy[box] - cy, xx[box] - cx
        u = (dx * np.cos(theta) + dy * np.sin(theta)) / a
        v = (-dx * np.sin(theta) + dy * np.cos(theta)) / b
        # Slightly irregular outline: radial wobble.
        ang = np.arctan2(v, u)
        wobble = (
            1.0
            + 0.06 * np.sin(3 * ang + rng.uniform(0, 6.3))
            + 0.04 * np.sin(5 * ang + rng.uniform(0, 6.3))
        )
        d = 1.0 - np.sqrt(u**2 + v**2) / wobble
        take = (d > 0) & (d > depth[box])
        depth[box][take] = d[take]
        labels[box][take] = len(centres)
    # Drop slivers left by neighbours overlapping, then number consecutively.
    out = np.zeros_like(labels)
    k = 0
    for i in range(1, len(centres) + 1):
        m = labels == i
        if m.sum() >= 0.4 * np.pi * radius[0] ** 2:
            k += 1
            out[m] = k
    return out


def make_sample(
    shape: tuple[int, int] = (256, 256),
    n_nuclei: int | None = None,
    radius: tuple[float, float] = (7.0, 13.0),
    touching: float = 0.3,
    seed: int = 0,
) -> SampleData:
    """Generate one paired fluorescence/brightfield field of nuclei.

    Parameters
    ----------
    shape : tuple of int
        ``(Y, X)`` size.
    n_nuclei : int, optional
        How many nuclei to try to place; defaults to a density of about one per 40×40 pixels.
    radius : tuple of float
        Range of nucleus radii in pixels.
    touching : float
        Fraction of nuclei placed against an existing one so that the two touch (0 = none).
    seed : int
        Random seed; the same seed gives the same images.

    Returns
    -------
    SampleData
        Fluorescence, brightfield and true labels.
    """
    rng = np.random.default_rng(seed)
    h, w = shape
    if n_nuclei is None:
        n_nuclei = max(1, int(h * w / 1600))
    labels = _draw_nuclei(rng, shape, n_nuclei, radius, touching)
    fg = labels > 0

    # Per-nucleus brightness and chromatin texture.
    n = int(labels.max())
    brightness = np.concatenate([[0.0], rng.uniform(0.45, 1.0, n)]).astype(np.float32)
    texture = 1.0 + 0.18 * _smooth_noise(rng, shape, 1.2)
    edt = ndi.distance_transform_edt(fg)
    profile = np.clip(edt / 3.0, 0, 1) ** 0.5  # dimmer rim
    nuclei = brightness[labels] * texture * (0.6 + 0.4 * profile) * fg

    # Fluorescence: blur, uneven background, shot and read noise.
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    gx, gy = rng.uniform(-1, 1, 2)
    background = 0.06 + 0.04 * (gx * xx + gy * yy) + 0.02 * _smooth_noise(rng, shape, h / 6)
    signal = ndi.gaussian_filter(nuclei, 1.2) + np.clip(background, 0.01, None)
    photons = rng.poisson(signal * 400.0).astype(np.float32)
    fluo = photons + rng.normal(100.0, 3.0, shape)
    fluorescence = np.clip(fluo, 0, 65535).astype(np.uint16)

    # Brightfield: nuclei slightly darker with a dark rim and a bright halo outside.
    inside_rim = fg & (edt <= 2.0)
    outside = ndi.distance_transform_edt(~fg)
    halo = np.exp(-(((outside - 2.5) / 1.8) ** 2)) * (~fg)
    bf = (
        1.0
        - 0.05 * fg * (0.8 + 0.2 * texture)
        - 0.06 * inside_rim
        + 0.07 * halo
        + 0.03 * _smooth_noise(rng, shape, 3.0) * 0.3
    )
    bf = ndi.gaussian_filter(bf, 0.8)
    illumination = 1.0 + 0.15 * (gy * xx - gx * yy) + 0.05 * _smooth_noise(rng, shape, h / 5)
    bf = bf * illumination + rng.normal(0.0, 0.015, shape)
    brightfield = np.clip(bf * 20000.0, 0, 65535).astype(np.uint16)
    return SampleData(fluorescence=fluorescence, brightfield=brightfield, labels=labels)


def make_sample_stack(
    n_planes: int = 3,
    shape: tuple[int, int] = (256, 256),
    seed: int = 0,
    **kwargs,
) -> tuple[np.ndarray, np.ndarray]:
    """A stack of independent fields, as a ``(Z, C, Y, X)`` image and ``(Z, Y, X)`` labels.

    Channel 0 is brightfield and channel 1 fluorescence (see :data:`BRIGHTFIELD_CHANNEL`).

    Parameters
    ----------
    n_planes : int
        Number of planes.
    shape : tuple of int
        ``(Y, X)`` of each plane.
    seed : int
        Seed of the first plane; plane ``i`` uses ``seed + i``.
    **kwargs
        Passed to :func:`make_sample`.

    Returns
    -------
    image : numpy.ndarray of uint16
        Shape ``(Z, 2, Y, X)``.
    labels : numpy.ndarray of uint16
        Shape ``(Z, Y, X)``.
    """
    samples = [make_sample(shape, seed=seed + i, **kwargs) for i in range(n_planes)]
    image = np.stack([s.stack() for s in samples])
    labels = np.stack([s.labels for s in samples])
    return image, labels
