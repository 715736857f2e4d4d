"""Writing label images and float maps atomically (temporary file, then rename)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .._errors import InputError
from ._atomic import atomic_write


def labels_dtype(labels: np.ndarray) -> np.dtype:
    """``uint16`` when the labels fit, ``uint32`` past 65,535 objects."""
    top = int(labels.max()) if labels.size else 0
    if top < 0:
        raise InputError("labels must not be negative")
    return np.dtype(np.uint16) if top <= 65535 else np.dtype(np.uint32)


def write_labels(
    path: str | os.PathLike,
    labels: np.ndarray,
    axes: str | None = None,
    pixel_size: tuple[float, float] | None = None,
) -> Path:
    """Write an instance label image (0 = background) atomically.

    Parameters
    ----------
    path : str or path-like
        Target ``.tif`` file.
    labels : numpy.ndarray of int
        Shape ``(..., Y, X)``.
    axes : str, optional
        Axes of ``labels``, e.g. ``"ZYX"``; stored in the file's ImageJ metadata.
    pixel_size : tuple of float, optional
        ``(y, x)`` in micrometres, stored as resolution.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    out = np.ascontiguousarray(labels, dtype=labels_dtype(labels))
    return _write_tiff(path, out, axes, pixel_size)


def write_float(
    path: str | os.PathLike,
    image: np.ndarray,
    axes: str | None = None,
    pixel_size: tuple[float, float] | None = None,
) -> Path:
    """Write a float32 map (e.g. a probability map in [0, 1]) atomically.

    Parameters
    ----------
    path : str or path-like
        Target ``.tif`` file.
    image : numpy.ndarray
        Shape ``(..., Y, X)``; converted to float32.
    axes, pixel_size
        As for :func:`write_labels`.
    """
    return _write_tiff(path, np.ascontiguousarray(image, dtype=np.float32), axes, pixel_size)


def write_image(
    path: str | os.PathLike,
    image: np.ndarray,
    axes: str | None = None,
    pixel_size: tuple[float, float] | None = None,
    channel_names: list[str] | None = None,
) -> Path:
    """Write an image with its own dtype atomically (used for sample data and exports).

    ``channel_names`` (one per channel of a ``C`` axis) are stored as OME channel names.
    """
    return _write_tiff(path, np.ascontiguousarray(image), axes, pixel_size, channel_names)


def _write_tiff(path, data: np.ndarray, axes: str | None, pixel_size, channel_names=None) -> Path:
    import tifffile

    path = Path(path)
    axes = axes or ("YX" if data.ndim == 2 else None)
    kwargs: dict = {}
    if axes is not None:
        if len(axes) != data.ndim:
            raise InputError(f"{path}: axes {axes!r} do not match shape {data.shape}")
        kwargs["metadata"] = {"axes": axes}
        kwargs["imagej"] = data.dtype in (np.uint8, np.uint16, np.float32) and axes in (
            "YX",
            "ZYX",
            "CYX",
            "TYX",
            "ZCYX",
            "TZYX",
            "TCYX",
            "TZCYX",
        )
        if channel_names:
            if "C" not in axes or len(channel_names) != data.shape[axes.index("C")]:
                raise InputError(f"{path}: need one channel name per channel of axes {axes!r}")
            kwargs["imagej"] = False
            kwargs["metadata"]["Channel"] = {"Name": [str(n) for n in channel_names]}
        if not kwargs["imagej"]:
            kwargs["ome"] = True
    if pixel_size is not None:
        kwargs["resolution"] = (1.0 / pixel_size[1], 1.0 / pixel_size[0])
        if kwargs.get("imagej"):
            kwargs["metadata"]["unit"] = "um"
        elif kwargs.get("ome"):
            kwargs["metadata"]["PhysicalSizeX"] = pixel_size[1]
            kwargs["metadata"]["PhysicalSizeY"] = pixel_size[0]

    def write(tmp: str) -> None:
        tifffile.imwrite(tmp, data, **kwargs)

    return atomic_write(path, write)
