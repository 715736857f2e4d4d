"""Percentile normalisation, with its parameters stored beside each model.

Training and prediction call the same function with the same
:class:`~napari_selfsup_seg._config.NormalizationConfig` (saved in the model's ``config.json``),
so a model sees the same intensity scale in both. For transmitted light the config can ask for
a flattening first (:func:`flatten_planes`): division by a wide background and local contrast,
at widths derived from the object diameter (:func:`transmitted_light_normalization`).
"""

from __future__ import annotations

import numpy as np

from .._config import NormalizationConfig
from .._errors import InputError

__all__ = [
    "NormalizationConfig",
    "check_finite",
    "flatten_planes",
    "normalization_for_masks",
    "percentile_normalize",
    "transmitted_light_normalization",
]

#: Local contrast divides by the local standard deviation plus this fraction of its median,
#: so flat, empty regions (pure camera noise) are not blown up to the objects' contrast.
CONTRAST_FLOOR = 0.5
#: Widths of the flattening of :func:`transmitted_light_normalization`, in object diameters.
BACKGROUND_DIAMETERS = 4.0
CONTRAST_DIAMETERS = 2.0


def check_finite(image: np.ndarray, name: str = "image") -> None:
    """Raise :class:`InputError` when ``image`` holds NaN or infinite values."""
    if image.dtype.kind == "f" and not np.isfinite(image).all():
        raise InputError(f"{name}: contains NaN or infinite values")


def percentile_normalize(
    image: np.ndarray,
    config: NormalizationConfig | None = None,
    name: str = "image",
) -> np.ndarray:
    """Scale each channel of each plane so its percentiles map to 0 and 1.

    Parameters
    ----------
    image : numpy.ndarray
        Shape ``(Y, X)``, ``(C, Y, X)`` or ``(N, C, Y, X)``; normalised over the last two axes.
    config : NormalizationConfig, optional
        Percentiles and clipping; defaults to 1 and 99.8 percent.
    name : str
        Used in error messages (usually the file name).

    Returns
    -------
    numpy.ndarray of float32
        Same shape as ``image``.

    Raises
    ------
    InputError
        The image holds NaN/inf values, or a plane is constant.
    """
    config = config or NormalizationConfig()
    check_finite(image, name)
    x = np.asarray(image)
    # float32 keeps 24 bits: wider types (e.g. int64 with a large offset) are scaled in float64.
    wide = x.dtype.itemsize > 2 and x.dtype != np.float32
    x = x.astype(np.float64 if wide else np.float32, copy=False)
    if config.flattens:
        x = flatten_planes(x, config)
    flat = x.reshape(-1, x.shape[-2] * x.shape[-1])
    lo, span = percentile_range(flat, config, name)
    return scale_to_range(flat, lo, span, config).reshape(x.shape).astype(np.float32, copy=False)


def percentile_range(
    flat: np.ndarray, config: NormalizationConfig, name: str = "image"
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row ``(lo, span)``: the lower percentile and the distance to the upper one.

    Parameters
    ----------
    flat : numpy.ndarray of float
        Shape ``(N, P)``: the ``P`` pixel values (or a subsample of them) of ``N`` channels.
    config : NormalizationConfig
    name : str
        Used in error messages.

    Returns
    -------
    lo, span : numpy.ndarray
        Shape ``(N,)``; a row whose percentiles are equal (a sparse image) falls back to its
        full range.

    Raises
    ------
    InputError
        A row is constant.
    """
    lo, hi = np.percentile(flat, [config.lower_percentile, config.upper_percentile], axis=1)
    span = hi - lo
    full_span = flat.max(axis=1) - flat.min(axis=1)
    if np.any(full_span <= 0):
        raise InputError(f"{name}: image is constant (every pixel has the same value)")
    # A sparse image can have equal percentiles; fall back to its full range then.
    small = span <= 1e-12 * np.maximum(1.0, np.abs(hi))
    lo = np.where(small, flat.min(axis=1), lo)
    span = np.where(small, full_span, span)
    return lo, span


def scale_to_range(
    x: np.ndarray, lo: np.ndarray, span: np.ndarray, config: NormalizationConfig
) -> np.ndarray:
    """``(x - lo) / span`` along the first axis of ``x``, clipped as ``config`` says.

    Parameters
    ----------
    x : numpy.ndarray of float
        Shape ``(N, ...)``.
    lo, span : numpy.ndarray
        Shape ``(N,)``, from :func:`percentile_range`.
    config : NormalizationConfig

    Returns
    -------
    numpy.ndarray
        Same shape as ``x``.
    """
    shape = (-1,) + (1,) * (x.ndim - 1)
    out = (x - lo.reshape(shape)) / span.reshape(shape)
    if config.clip:
        np.clip(out, -config.clip_margin, 1.0 + config.clip_margin, out=out)
    return out


def normalization_for_masks(
    masks: list[np.ndarray], base: NormalizationConfig | None = None
) -> NormalizationConfig:
    """``base`` with percentiles that fall inside the objects of sparse planes.

    A percentile only maps the objects to the same value in every plane when they hold more
    of each plane's pixels than it leaves out: dark cells covering 0.3 % of one plane lie far
    below its 1st percentile (the background), while in a crowded plane of the same series
    they set it, so a network trained on the first sees the second at another intensity. The
    lower and upper percentiles are therefore moved to at most a quarter of the smallest
    share of object pixels among the ``masks`` (planes without objects left out); planes
    whose objects cover 4 % or more keep ``base``.

    Parameters
    ----------
    masks : list of numpy.ndarray
        Instance or binary masks ``(Y, X)``, 0 = background.
    base : NormalizationConfig, optional
        The normalisation to adapt (default ``NormalizationConfig()``).

    Returns
    -------
    NormalizationConfig
    """
    import dataclasses

    base = base or NormalizationConfig()
    shares = [float((np.asarray(m) > 0).mean()) for m in masks if np.any(m)]
    if not shares:
        return base
    q = 100.0 * min(shares) / 4
    lower = min(base.lower_percentile, q)
    upper = max(base.upper_percentile, 100.0 - q)
    if lower == base.lower_percentile and upper == base.upper_percentile:
        return base
    return dataclasses.replace(
        base, lower_percentile=round(lower, 4), upper_percentile=round(upper, 4)
    )


def flatten_planes(image: np.ndarray, config: NormalizationConfig) -> np.ndarray:
    """Background division and local contrast of each ``(Y, X)`` plane, as ``config`` says.

    Parameters
    ----------
    image : numpy.ndarray of float
        Shape ``(..., Y, X)``.
    config : NormalizationConfig
        ``background_sigma``: divide by the Gaussian blur of that width (flat field);
        ``contrast_sigma``: subtract the local mean and divide by the local standard deviation
        (plus :data:`CONTRAST_FLOOR` times its median) at that width. 0 skips a step.

    Returns
    -------
    numpy.ndarray of float32
        Same shape; unchanged values when neither width is set.
    """
    from scipy import ndimage as ndi

    x = np.asarray(image, np.float32)
    planes = x.reshape(-1, *x.shape[-2:])
    out = np.empty_like(planes)
    for i, p in enumerate(planes):
        if config.background_sigma > 0:
            background = ndi.gaussian_filter(p, config.background_sigma, mode="reflect")
            floor = 1e-6 * max(float(np.abs(background).max()), 1e-30)
            p = p / np.maximum(background, floor)
        if config.contrast_sigma > 0:
            residual = p - ndi.gaussian_filter(p, config.contrast_sigma, mode="reflect")
            spread = np.sqrt(ndi.gaussian_filter(residual * residual, config.contrast_sigma))
            floor = CONTRAST_FLOOR * float(np.median(spread)) + 1e-12
            p = residual / (spread + floor)
        out[i] = p
    return out.reshape(x.shape)


def transmitted_light_normalization(
    masks: list[np.ndarray], base: NormalizationConfig | None = None
) -> NormalizationConfig:
    """``base`` with the flattening for transmitted light sized from the objects of ``masks``.

    The background is a Gaussian :data:`BACKGROUND_DIAMETERS` object diameters wide (wider
    than any object, so objects do not dim themselves) and the local contrast
    :data:`CONTRAST_DIAMETERS` diameters wide (an object and its surroundings).

    Parameters
    ----------
    masks : list of numpy.ndarray
        Instance masks ``(Y, X)`` of the training planes.
    base : NormalizationConfig, optional
        Percentiles and clipping to keep (default ``NormalizationConfig()``).

    Returns
    -------
    NormalizationConfig
        ``base`` unchanged when the masks hold no object.
    """
    import dataclasses

    from ._diameter import diameter_of_labels

    base = base or NormalizationConfig()
    diameter = diameter_of_labels(masks)
    if diameter is None:
        return base
    return dataclasses.replace(
        base,
        background_sigma=round(BACKGROUND_DIAMETERS * diameter, 2),
        contrast_sigma=round(CONTRAST_DIAMETERS * diameter, 2),
    )
