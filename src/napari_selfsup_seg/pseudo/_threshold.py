"""Classical pseudo-masks from a fluorescent channel: smoothing, global threshold, watershed.

The probability-like map is a logistic function of the smoothed, normalised intensity centred on
the automatic threshold, so that ``0.5`` on the map is exactly the Otsu (or Li, triangle)
threshold and other values move the cut up or down in a way that is comparable across images.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from .._config import ConfigBase, _check_range
from .._errors import InputError
from .._progress import Progress, Stage
from ..data._normalize import NormalizationConfig, percentile_normalize
from ..inference._postprocess import clean_mask, split_touching
from ._result import PseudoMaskResult, cut_plane, plane_names

METHODS = ("otsu", "li", "triangle")


@dataclass
class ThresholdConfig(ConfigBase):
    """Parameters of the threshold pseudo-mask.

    Attributes
    ----------
    method : str
        Automatic threshold: ``"otsu"``, ``"li"`` or ``"triangle"``.
    sigma : float
        Gaussian smoothing before thresholding, in pixels.
    threshold : float or None
        Cut on the probability-like map (0.5 = the automatic threshold itself); ``None``
        chooses it per plane with :func:`~napari_selfsup_seg.pseudo._sweep.threshold_sweep`.
    min_size : int
        Objects smaller than this many pixels are removed.
    min_distance : int
        Minimum distance between centres of touching objects split by the watershed.
    softness : float
        Width of the logistic map, as a fraction of the normalised intensity range.
    bright_objects : bool
        Objects are brighter than the background (fluorescence); ``False`` for dark objects.
    """

    method: str = "otsu"
    sigma: float = 1.0
    threshold: float | None = 0.5
    min_size: int = 16
    min_distance: int = 4
    softness: float = 0.05
    bright_objects: bool = True

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InputError(f"threshold method must be one of {', '.join(METHODS)}")
        _check_range("sigma", self.sigma, 0.0, 50.0)
        if self.threshold is not None:
            _check_range("threshold", self.threshold, 0.0, 1.0)
        _check_range("min_size", self.min_size, 0, 10**9)
        _check_range("min_distance", self.min_distance, 1, 1000)
        _check_range("softness", self.softness, 1e-4, 1.0)


def threshold_probability(image: np.ndarray, config: ThresholdConfig | None = None) -> np.ndarray:
    """Probability-like foreground map of one plane.

    Parameters
    ----------
    image : numpy.ndarray
        Shape ``(Y, X)``, any numeric dtype.
    config : ThresholdConfig, optional

    Returns
    -------
    numpy.ndarray of float32
        Shape ``(Y, X)`` in [0, 1]; 0.5 at the automatic threshold.
    """
    from skimage import filters

    config = config or ThresholdConfig()
    x = percentile_normalize(image, NormalizationConfig(0.5, 99.9, clip=False))
    if config.sigma > 0:
        x = ndi.gaussian_filter(x, config.sigma)
    if not config.bright_objects:
        x = -x
    fns: dict[str, Callable[..., Any]] = {
        "otsu": filters.threshold_otsu,
        "li": filters.threshold_li,
        "triangle": filters.threshold_triangle,
    }
    t = float(fns[config.method](x))
    z = np.clip((x - t) / config.softness, -50, 50)
    return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)


def threshold_pseudo_mask(
    image: np.ndarray, config: ThresholdConfig | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Instance pseudo-mask of one plane by threshold and distance-transform watershed.

    Parameters
    ----------
    image : numpy.ndarray
        Shape ``(Y, X)``.
    config : ThresholdConfig, optional

    Returns
    -------
    labels : numpy.ndarray of int32
        Shape ``(Y, X)``, 0 = background.
    probability : numpy.ndarray of float32
        Shape ``(Y, X)`` in [0, 1].
    """
    config = config or ThresholdConfig()
    if np.ndim(image) != 2:
        raise InputError(f"expected one 2D plane, got shape {np.shape(image)}")
    prob = threshold_probability(image, config)
    labels, _cut, _sweep = cut_plane(prob, image, config.threshold, split_recut, config, "image")
    return labels, prob


def threshold_iter(
    planes: np.ndarray | Sequence[np.ndarray],
    config: ThresholdConfig | None = None,
    *,
    stop: Callable[[], bool] | None = None,
    sweeps: bool = False,
    names: Sequence[str] | None = None,
) -> Generator[Progress, None, PseudoMaskResult]:
    """Threshold pseudo-masks plane by plane (progress generator).

    Parameters
    ----------
    planes : numpy.ndarray or sequence of numpy.ndarray
        One plane ``(Y, X)``, a stack ``(N, Y, X)`` or a list of planes ``(Y, X)``.
    config : ThresholdConfig, optional
        ``config.threshold = None`` chooses every plane's cut by the sweep.
    stop : callable, optional
        Checked before every plane; when it returns True the job ends with the planes done.
    sweeps : bool
        Also sweep planes whose cut is fixed (for the curve in the widget).
    names : sequence of str, optional
        One name per plane for error messages (default ``"plane <i>"``).

    Yields
    ------
    Progress
        ``threshold`` records, one per plane.

    Returns
    -------
    PseudoMaskResult
    """
    config = config or ThresholdConfig()
    planes = as_plane_list(planes)
    names = plane_names(len(planes), names)
    out = PseudoMaskResult("threshold", config, split_recut)
    for i, plane in enumerate(planes):
        if stop is not None and stop():
            break
        if plane.ndim != 2:
            raise InputError(f"{names[i]}: expected one 2D plane, got shape {plane.shape}")
        prob = threshold_probability(plane, config)
        labels, cut, sweep = cut_plane(
            prob, plane, config.threshold, split_recut, config, names[i], sweeps
        )
        out.add(plane, labels, prob, cut, sweep)
        yield Progress(Stage.THRESHOLD, i + 1, len(planes), f"plane {i + 1}")
    return out


def as_plane_list(planes: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    """A plane ``(Y, X)``, a stack ``(..., Y, X)`` or a list of planes as a list of planes."""
    if isinstance(planes, np.ndarray):
        if planes.ndim < 2:
            raise InputError(f"expected 2D planes, got shape {planes.shape}")
        return list(planes.reshape(-1, *planes.shape[-2:]))
    return [np.asarray(p) for p in planes]


def split_recut(prob: np.ndarray, _plane: np.ndarray, cut: float, config: Any) -> np.ndarray:
    """Labels of ``prob >= cut`` by :func:`mask_to_instances` with the config's sizes.

    The labelling of the threshold and Score-CAM methods (``config`` needs ``min_size`` and
    ``min_distance``).
    """
    return mask_to_instances(prob >= cut, config.min_size, config.min_distance)


def mask_to_instances(mask: np.ndarray, min_size: int = 16, min_distance: int = 4) -> np.ndarray:
    """Clean a binary mask and split touching objects into instances (0 = background)."""
    return split_touching(
        clean_mask(mask, min_size=min_size, max_hole=min_size), min_distance, min_size
    )
