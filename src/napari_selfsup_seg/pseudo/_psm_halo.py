"""Halos in brightfield PSM: which foreground clusters are the objects' halo, not the objects.

Phase contrast and defocused brightfield show each object on one side of the background
(usually darker) ringed by a halo on the other side; oblique brightfield and DIC show relief:
every object has a light flank and a dark flank, displaced along the shear direction. k-means
on ``[map, intensity, texture]`` gives, besides the flat background, a cluster darker and one
lighter than the background in both cases. The roughness rule of :mod:`._psm_cluster` keeps
the rougher (for relief: both flanks, right) and fills rings: on halo planes that gives the
objects plus their halo, two to four times the objects' area (on phase-contrast bacteria the
halo alone was foreground and the filling brought the cells back inside it).

A halo plane is told by two signs, both needed:

* **symmetry**: the cross-correlation of the plane's dark part with its light part (each the
  intensity's excess below/above the median) over shifts up to :data:`HALO_REACH` pixels is
  symmetric for a halo (light all around the dark) and lopsided for relief (light on one side):
  its antisymmetric part over its symmetric part, :func:`shading_asymmetry`, is below
  :data:`HALO_ASYMMETRY`. Measured on the benchmark sets' planes: 0.02-0.06 on phase-contrast
  bacteria and generated brightfield, 0.17-0.24 on an oblique-brightfield scratch assay.
  Fine texture inside objects (light and dark grains mixed) is symmetric too, hence:
* **enclosure**: in the filled foreground, the pixels of one side lie on average at least
  :data:`HALO_DEPTH` times deeper (farther from the background) than the other side's (median
  over the texture windows; measured 2.0-6.8 on bacteria and generated halos, 0.7-1.4 on
  textured objects and relief).

Then the enclosed side's clusters are the foreground at every window and the enclosing side's
join the background.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

HALO_REACH = 16
"""Largest shift (pixels) at which dark and light structure are compared (twice the widest
texture window)."""

HALO_ASYMMETRY = 0.1
"""Below this :func:`shading_asymmetry` the plane's light structure is a halo, not relief."""

HALO_DEPTH = 1.5
"""The enclosed side's pixels lie at least this many times deeper in the foreground than the
enclosing side's (halfway between 1, dark and light intermixed as in texture or relief, and 2,
the least for an object ringed by a thin band)."""


def shading_asymmetry(inten: np.ndarray, reach: int = HALO_REACH) -> float:
    """Antisymmetric over symmetric part of the dark-light cross-correlation of a plane.

    Parameters
    ----------
    inten : numpy.ndarray
        Intensity ``(Y, X)`` with its smooth background removed.
    reach : int
        Largest shift in pixels (capped at a quarter of the plane's short side).

    Returns
    -------
    float
        0 for light structure placed symmetrically around the dark (halos), larger when light
        sits on one side of the dark (oblique illumination, DIC); 0 when a side is empty.
    """
    r = max(1, min(reach, min(inten.shape) // 4))
    med = float(np.median(inten))
    dark = np.maximum(med - inten, 0).astype(np.float64)
    light = np.maximum(inten - med, 0).astype(np.float64)
    pad = (inten.shape[0] + r, inten.shape[1] + r)  # no wrap-around within the reach
    spec = np.conj(np.fft.rfft2(dark, pad)) * np.fft.rfft2(light, pad)
    corr = np.fft.irfft2(spec, pad)
    corr = np.roll(corr, (r, r), (0, 1))[: 2 * r + 1, : 2 * r + 1]  # shifts -r..r
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    disk = np.hypot(yy, xx) <= r
    flipped = corr[::-1, ::-1]
    sym = float((corr + flipped)[disk].sum()) / 2
    anti = float(np.abs(corr - flipped)[disk].sum()) / 2
    return anti / sym if sym > 0 else 0.0


def halo_sides(
    nearest: np.ndarray, inten: np.ndarray, roughness: np.ndarray
) -> tuple[list[int], list[int], float] | None:
    """The dark and light foreground clusters of one clustering, and how deep the dark lie.

    Parameters
    ----------
    nearest : numpy.ndarray
        Cluster index of every pixel, shape ``(Y, X)``.
    inten : numpy.ndarray
        Intensity ``(Y, X)`` with its smooth background removed.
    roughness : numpy.ndarray
        Local standard deviation ``(Y, X)``: the cluster with the lowest mean is the flat
        background.

    Returns
    -------
    (dark, light, depth) or None
        The clusters darker than the background by more than the noise, those lighter by
        more than the noise, and the mean depth (distance to the outside of the filled
        foreground) of the dark clusters' pixels over the light clusters': above 1 when the
        light side encloses the dark. ``None`` when a side is empty.
    """
    present = [int(c) for c in np.unique(nearest)]
    flat = min(present, key=lambda c: float(roughness[nearest == c].mean()))
    level = float(inten[nearest == flat].mean())
    med = float(np.median(inten))
    noise = 1.4826 * float(np.median(np.abs(inten - med)))
    means = {c: float(inten[nearest == c].mean()) for c in present if c != flat}
    dark = [c for c, m in means.items() if m < level - noise]
    light = [c for c, m in means.items() if m > level + noise]
    if not dark or not light:
        return None
    depth = ndi.distance_transform_edt(ndi.binary_fill_holes(np.isin(nearest, dark + light)))
    ratio = float(
        depth[np.isin(nearest, dark)].mean() / max(depth[np.isin(nearest, light)].mean(), 1e-6)
    )
    return dark, light, ratio
