"""Object scale, polarity and background of a plane, estimated from the plane itself.

The threshold pseudo-mask derives its smoothing, seed spacing, smallest object and hole filling
from the typical object diameter estimated here, so that 12 px and 50 px nuclei are both cut
into one object each without a per-image setting.

- **Polarity**: fluorescence shows bright objects on a dark background and nothing compact
  darker than the background; phase contrast and many brightfield images show dark objects with
  a bright halo. After removing the slow background, the extreme tails on each side of the
  median are compared by their mass of thick structure (sum of the squared distance transform):
  objects are dark when the dark tail holds at least :data:`DARK_RATIO` of the bright tail's.
- **Background**: a grey opening (bright objects) with a square wider than the objects removes
  the objects and keeps every slope, ramp and vignetting of the background, which is then
  subtracted (a rolling-ball-like correction); for dark objects the halos are kept out of it.
- **Diameter**: a first foreground (Otsu threshold of the corrected plane, holes filled) is
  split into connected components; a compact component (solidity above :data:`SOLID`) is one
  object and gives its equivalent diameter, a clump of touching objects gives twice its largest
  inscribed radius. The median over components is the diameter, the spread is the
  interquartile range of the log-diameters. Rods (elongated objects, see :func:`rod_scale`)
  get a width as well, and their diameter is the area-weighted one of the rods.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from ..data._diameter import MIN_AREA
from ..data._normalize import NormalizationConfig, percentile_normalize

POLARITIES = ("auto", "bright", "dark")
DARK_RATIO = 0.2
SOLID = 0.85
MIN_DIAMETER = 3.0


@dataclass
class PlaneScale:
    """What :func:`analyse_plane` found in one plane.

    Attributes
    ----------
    diameter : float
        Typical object diameter in pixels.
    spread : float
        Interquartile range of the log-diameters of the first objects (0 = all alike).
    polarity : str
        ``"bright"`` or ``"dark"`` objects.
    corrected : numpy.ndarray of float32
        Shape ``(Y, X)``: the normalised plane, objects made bright, background subtracted.
    width : float or None
        Typical width of elongated objects (rods) in pixels; ``None`` for compact objects,
        as wide as their diameter.
    """

    diameter: float
    spread: float
    polarity: str
    corrected: np.ndarray
    width: float | None = None

    @property
    def thickness(self) -> float:
        """The width of rods, else the diameter: the scale of smoothing and background."""
        return self.diameter if self.width is None else self.width


def detect_polarity(x: np.ndarray) -> str:
    """``"bright"`` or ``"dark"`` objects in a normalised plane ``(Y, X)`` (see module notes)."""
    x = ndi.gaussian_filter(np.asarray(x, np.float32), 1.0)
    x = x - plane_trend(x)
    med = float(np.median(x))
    noise = 1.4826 * float(np.median(np.abs(x - med))) + 1e-6
    mass = []
    for sign in (1.0, -1.0):
        tail = sign * (x - med) > 4 * noise
        mass.append(float((ndi.distance_transform_edt(tail) ** 2).sum()))
    return "dark" if mass[1] > DARK_RATIO * mass[0] and mass[1] > 0 else "bright"


def plane_trend(x: np.ndarray) -> np.ndarray:
    """Plane-wide trend of ``x`` ``(Y, X)``: a Gaussian half the plane wide, on a coarse grid."""
    step = max(1, min(x.shape) // 32)
    coarse = ndi.gaussian_filter(x[::step, ::step], max(x.shape) / 2 / step, mode="nearest")
    zoom = (x.shape[0] / coarse.shape[0], x.shape[1] / coarse.shape[1])
    return ndi.zoom(coarse, zoom, order=1, mode="nearest", grid_mode=True)[
        : x.shape[0], : x.shape[1]
    ]


def subtract_background(x: np.ndarray, width: float, halos: bool = False) -> np.ndarray:
    """``x`` minus its grey opening by a ``width``-wide square, smoothed (bright objects).

    Parameters
    ----------
    x : numpy.ndarray
        Shape ``(Y, X)``, objects bright.
    width : float
        Side of the square in pixels: wider than the objects, narrower than the background's
        changes.
    halos : bool
        The objects were dark with bright halos (phase contrast): the halos, now darker than
        the background, are kept out of the background and the result is cut at 0.

    Returns
    -------
    numpy.ndarray of float32
        Shape ``(Y, X)``, background near 0.
    """
    x = np.asarray(x, np.float32)
    size = int(max(3, min(round(width), *x.shape)))
    smooth = ndi.gaussian_filter(x, 1.0)
    if halos:
        # Halos would pull the opening down around every object: they are lifted to the
        # slowly varying level first (a wide Gaussian keeps ramps) and cut at 0 after.
        smooth = np.maximum(smooth, ndi.gaussian_filter(smooth, size))
    background = ndi.maximum_filter(ndi.minimum_filter(smooth, size), size)
    background = ndi.gaussian_filter(background, size / 4)
    out = x - background
    return (np.maximum(out, 0) if halos else out).astype(np.float32)


def diameter_of_mask(mask: np.ndarray) -> tuple[float, float] | None:
    """Typical object diameter and log-spread of a first foreground ``(Y, X)`` (see notes).

    Returns ``None`` when the mask holds no object.
    """
    from skimage import measure

    mask = ndi.binary_fill_holes(ndi.binary_opening(mask))
    labels, n = ndi.label(mask)
    if n == 0:
        return None
    dist = ndi.distance_transform_edt(mask)
    radii = ndi.maximum(dist, labels, np.arange(1, n + 1))
    sizes: list[float] = []
    border: list[bool] = []
    for region, radius in zip(measure.regionprops(labels), radii):
        if region.area < 9:
            continue
        if region.solidity >= SOLID:
            sizes.append(2.0 * np.sqrt(region.area / np.pi))
        else:
            sizes.append(2.0 * float(radius))
        y0, x0, y1, x1 = region.bbox
        border.append(y0 == 0 or x0 == 0 or y1 == mask.shape[0] or x1 == mask.shape[1])
    if not sizes:
        return None
    d = np.asarray(sizes)
    inner = d[~np.asarray(border)]
    if inner.size >= 3:
        d = inner
    q1, q2, q3 = np.percentile(np.log(d), [25, 50, 75])
    return max(MIN_DIAMETER, float(np.exp(q2))), float(q3 - q1)


def rod_scale(first: np.ndarray, mask: np.ndarray) -> tuple[float, float] | None:
    """``(width, diameter)`` of rods in a first foreground, ``None`` when objects are compact.

    The cores of the objects (first-pass values above the Otsu threshold of the foreground's)
    keep the gaps between touching rods out; when they are elongated
    (:func:`~napari_selfsup_seg.inference._rods.object_shape`), their width is the rods' and
    the diameter is the area-weighted median equivalent diameter of the
    rods the cores grow into (area-weighted, so that specks of debris do not set it).
    """
    from skimage import filters
    from skimage.segmentation import watershed

    from ..inference._rods import object_shape, rod_seeds, weighted_median

    mask = ndi.binary_fill_holes(ndi.binary_opening(mask))
    if not mask.any() or np.ptp(first[mask]) == 0:
        return None
    core = mask & (first > filters.threshold_otsu(first[mask]))
    shape = object_shape(core)
    if shape is None or not shape.elongated:
        return None
    rods = watershed(-first, rod_seeds(core, shape.width, MIN_AREA), mask=mask)
    areas = np.bincount(rods.ravel())[1:].astype(float)
    areas = areas[areas >= MIN_AREA]
    if areas.size == 0:
        return None
    diameter = weighted_median(2.0 * np.sqrt(areas / np.pi), areas)
    return max(MIN_DIAMETER, shape.width), max(MIN_DIAMETER, diameter)


def analyse_plane(
    image: np.ndarray,
    diameter: float | None = None,
    polarity: str = "auto",
    width: float | None = None,
) -> PlaneScale:
    """Polarity, background-corrected plane and object diameter of one plane.

    Parameters
    ----------
    image : numpy.ndarray
        Shape ``(Y, X)``, any numeric dtype.
    diameter : float, optional
        Known object diameter in pixels (``None`` = estimate it).
    polarity : str
        ``"bright"``, ``"dark"`` or ``"auto"`` (detect it).
    width : float, optional
        Known width of elongated objects (with a known ``diameter``); estimated with the
        diameter when that is estimated, else the objects are compact.

    Returns
    -------
    PlaneScale
    """
    from skimage import filters

    x = percentile_normalize(image, NormalizationConfig(0.5, 99.9, clip=False))
    if polarity == "auto":
        polarity = detect_polarity(x)
    if polarity == "dark":
        x = -x
    spread = 0.0
    if diameter is None:
        # A first pass with a square a third of the plane wide (keeps large objects), then
        # the estimate.
        halos = polarity == "dark"
        first = ndi.gaussian_filter(subtract_background(x, min(x.shape) / 3, halos), 1.0)
        mask = first > filters.threshold_otsu(first)
        found = diameter_of_mask(mask)
        diameter, spread = found if found is not None else (float(min(x.shape)) / 10, 0.0)
        rods = rod_scale(first, mask)
        if rods is not None:
            width, diameter = rods
    if width is not None and width >= diameter:
        width = None
    scale = PlaneScale(float(diameter), spread, polarity, x, width)
    scale.corrected = subtract_background(x, 2.5 * scale.thickness, polarity == "dark")
    return scale
