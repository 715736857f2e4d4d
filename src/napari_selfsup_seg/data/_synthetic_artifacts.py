"""Generated fields with artifacts (debris, fibres) for image-level weak labels (Score-CAM).

Half of the fields of nuclei from :mod:`napari_selfsup_seg.data._synthetic` get an artifact
drawn into both channels, and the true artifact masks are kept, so a method that learns "has /
has not" labels can be scored against where the artifacts really are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from ._synthetic import _smooth_noise, make_sample


@dataclass
class ArtifactFields:
    """Fields of nuclei, some with an artifact (debris, fibres) and some without.

    Attributes
    ----------
    fluorescence, brightfield : numpy.ndarray of uint16
        Shape ``(N, Y, X)``: the fields in both channels; the artifacts show in both
        (autofluorescent and bright in fluorescence, absorbing and dark in brightfield).
    labels : numpy.ndarray of uint16
        Shape ``(N, Y, X)``: true nucleus instances.
    artifacts : numpy.ndarray of uint16
        Shape ``(N, Y, X)``: true artifact instances, 0 = none.
    has_artifact : numpy.ndarray of bool
        Shape ``(N,)``: which fields hold an artifact.
    """

    fluorescence: np.ndarray
    brightfield: np.ndarray
    labels: np.ndarray
    artifacts: np.ndarray
    has_artifact: np.ndarray


def _draw_fibre(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Footprint of one curved fibre: a smooth random walk, 5-8 px wide, 90-180 px long."""
    h, w = shape
    y, x = rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w
    angle, turn = rng.uniform(0, 2 * np.pi), 0.0
    line = np.zeros(shape, bool)
    for _ in range(int(rng.uniform(90, 180))):
        turn = 0.9 * turn + rng.normal(0, 0.02)
        angle += turn
        y, x = y + np.sin(angle), x + np.cos(angle)
        if not (0 <= y < h and 0 <= x < w):
            break
        line[int(y), int(x)] = True
    return ndi.distance_transform_edt(~line) <= rng.uniform(2.5, 4.0)


def _draw_clump(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Footprint of one debris clump: an irregular blob of radius 16-26 px."""
    h, w = shape
    r = rng.uniform(16, 26)
    cy, cx = rng.uniform(r, h - r), rng.uniform(r, w - r)
    yy, xx = np.mgrid[0:h, 0:w]
    ang = np.arctan2(yy - cy, xx - cx)
    edge = r * (
        1
        + sum(
            a * np.sin(k * ang + p)
            for k, a, p in zip((2, 3, 5, 7), rng.uniform(0.05, 0.2, 4), rng.uniform(0, 6.3, 4))
        )
    )
    return np.hypot(yy - cy, xx - cx) <= edge


def make_artifact_fields(
    n_fields: int = 8,
    shape: tuple[int, int] = (256, 256),
    seed: int = 0,
    **kwargs,
) -> ArtifactFields:
    """Fields of nuclei where every other one also holds one or two artifacts.

    Odd fields (1, 3, ...) get one or two artifacts each, each a curved fibre or an irregular
    debris clump (radius 16-26 px, larger than any nucleus) with speckled texture, brighter
    than the nuclei in fluorescence and darker than them in brightfield. The artifacts cover
    nuclei where they overlap, as debris on top of a sample does.

    Parameters
    ----------
    n_fields : int
        Number of fields (at least 2).
    shape : tuple of int
        ``(Y, X)`` of each field.
    seed : int
        Seed of the first field; field ``i`` uses ``seed + i``.
    **kwargs
        Passed to :func:`make_sample`.

    Returns
    -------
    ArtifactFields
    """
    rng = np.random.default_rng(seed + 10_000)
    fluo, bf, labels, arts = [], [], [], []
    has = np.arange(n_fields) % 2 == 1
    for i in range(n_fields):
        s = make_sample(shape, seed=seed + i, **kwargs)
        art = np.zeros(shape, np.uint16)
        if has[i]:
            for k in range(int(rng.integers(1, 3))):
                draw = _draw_fibre if rng.random() < 0.5 else _draw_clump
                art[draw(rng, shape) & (art == 0)] = k + 1
        fg = (art > 0).astype(np.float32)
        speckle = np.clip(1.0 + 0.35 * _smooth_noise(rng, shape, 1.5), 0.2, None)
        signal = ndi.gaussian_filter(fg * speckle * rng.uniform(1.6, 2.2), 1.2)
        f = s.fluorescence.astype(np.float32) * (1 - 0.7 * ndi.gaussian_filter(fg, 1.2))
        f += rng.poisson(signal * 400.0)
        absorb = ndi.gaussian_filter(fg * speckle, 1.0)
        b = s.brightfield.astype(np.float32) * (1 - 0.3 * np.clip(absorb, 0, 1.5))
        fluo.append(np.clip(f, 0, 65535).astype(np.uint16))
        bf.append(np.clip(b, 0, 65535).astype(np.uint16))
        labels.append(s.labels)
        arts.append(art)
    return ArtifactFields(
        fluorescence=np.stack(fluo),
        brightfield=np.stack(bf),
        labels=np.stack(labels),
        artifacts=np.stack(arts),
        has_artifact=has,
    )
