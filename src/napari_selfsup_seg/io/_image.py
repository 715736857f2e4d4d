"""Reading images with their axes: TIFF/OME-TIFF, Zarr/OME-Zarr and, through bioio, ND2/CZI/LIF.

Axes are named with the letters ``T`` (time), ``Z`` (depth), ``C`` (channel), ``Y`` and ``X``;
every image this module returns ends with ``YX``. Writes go to a temporary file in the target
folder and are renamed into place, so an interrupted run never leaves a partly written output.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .._errors import InputError
from ._formats import TIFF_SUFFIXES, Scene, image_format, image_stem
from ._lazy import LazyImage, open_lazy, tiff_series
from ._size_guard import check_image_size, image_memory_limit
from ._stack import ImageStack

__all__ = ["TIFF_SUFFIXES", "ImageStack", "image_memory_limit", "image_stem", "read_image"]
from ._tiff_meta import KNOWN_AXES, tiff_axes, tiff_channel_names, tiff_pixel_size, tiff_z_spacing


def _squeeze_to_known(data: np.ndarray, axes: str) -> tuple[np.ndarray, str]:
    """Merge repeated axis letters and drop singleton T/Z axes, keep ``TZCYX`` order."""
    # Drop length-1 axes other than Y and X (a 1-plane stack is a 2D image).
    keep = [i for i, (a, n) in enumerate(zip(axes, data.shape)) if n > 1 or a in "YX"]
    data = data.reshape([data.shape[i] for i in keep])
    axes = "".join(axes[i] for i in keep)
    # Repeated letters (e.g. two unknown axes) are merged into one.
    while len(set(axes)) < len(axes):
        for i in range(len(axes) - 1):
            if axes[i] == axes[i + 1]:
                shape = list(data.shape)
                shape[i : i + 2] = [shape[i] * shape[i + 1]]
                data = data.reshape(shape)
                axes = axes[:i] + axes[i + 1 :]
                break
        else:
            raise InputError(f"cannot interpret axes {axes!r}")
    order = sorted(range(len(axes)), key=lambda i: KNOWN_AXES.index(axes[i]))
    return np.transpose(data, order), "".join(axes[i] for i in order)


def read_image(
    path: str | os.PathLike,
    axes: str | None = None,
    *,
    scene: Scene | None = None,
    lazy: bool | Literal["auto"] = False,
) -> ImageStack:
    """Read an image file with its axes, channel names, pixel size and scene.

    TIFF/OME-TIFF files and Zarr/OME-Zarr folders are always read; ND2, CZI and LIF files are
    read through bioio when the ``[formats]`` extra is installed
    (``pip install "napari-selfsup-seg[formats]"``).

    Parameters
    ----------
    path : str or path-like
        The file (or ``.zarr`` folder).
    axes : str, optional
        Override the axes the file declares, e.g. ``"CYX"`` for a 2-channel image written without
        metadata.
    scene : int or str, optional
        Which image of a file holding several (OME-TIFF series, LIF/CZI/ND2 scenes or
        positions, bioformats2raw OME-Zarr images), by index or name; the first by default.
    lazy : bool or "auto"
        ``True``: the pixels stay on disk, :attr:`ImageStack.data` is a dask array read as it is
        indexed (no memory limit applies). ``"auto"``: lazy only when the image does not fit in
        the memory limit. ``False`` (default): a NumPy array.

    Returns
    -------
    ImageStack
        The pixels with axes in ``TZCYX`` order (singleton axes dropped), pixel size, Z spacing,
        channel names and scene name when the file has them.

    Raises
    ------
    InputError
        The file is missing or unreadable, has no such scene, needs the ``[formats]`` extra
        (the message says how to install it), has no 2D image in it, needs more memory than the
        limit (see :mod:`napari_selfsup_seg.io._size_guard`), or holds float values beyond the
        float32 range.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if image_format(path) == "tiff" and lazy is False:
        data, found = _read_tiff(path, scene)
    else:
        found = open_lazy(path, scene)
        data = _pixels(path, found, lazy)
    if data.ndim < 2 or min(data.shape[-2:]) < 2:
        raise InputError(f"{path}: no 2D image in the file (shape {data.shape})")
    if data.dtype == bool:
        data = data.astype(np.uint8)
    elif data.dtype.kind == "c":
        raise InputError(f"{path}: complex pixel values are not supported")
    if isinstance(data, np.ndarray):
        _check_float_range(path, data)
    file_axes = found.axes
    if axes is not None:
        axes = axes.upper()
        if len(axes) != data.ndim:
            raise InputError(f"{path}: axes {axes!r} do not match shape {data.shape}")
        file_axes = axes
    if file_axes[-2:] != "YX":
        # RGB(A) samples last: move the channel axis in front of Y, X.
        if file_axes.endswith("YXC"):
            data = np.moveaxis(data, -1, -3)
            file_axes = file_axes[:-3] + "CYX"
        else:
            raise InputError(f"{path}: axes {file_axes!r} do not end with Y, X")
    data, file_axes = _squeeze_to_known(data, file_axes)
    return ImageStack(
        data=data,
        axes=file_axes,
        path=path,
        pixel_size=found.pixel_size,
        channel_names=found.channel_names,
        z_spacing=found.z_spacing if "Z" in file_axes else None,
        scene=found.scene,
    )


def _read_tiff(path: Path, scene: Scene | None) -> tuple[np.ndarray, LazyImage]:
    """All pixels of one series of a TIFF file, and its metadata (``array`` left empty)."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            series = tiff_series(tif, path, scene)
            check_image_size(path, series.shape, series.dtype)
            data = series.asarray()
            index = tif.series.index(series)
            found = LazyImage(
                None,
                tiff_axes(series.axes, series.shape),
                path.name,
                tiff_pixel_size(tif, index),
                tiff_channel_names(tif, index),
                tiff_z_spacing(tif, index),
                (series.name or f"Image:{index}") if len(tif.series) > 1 else None,
            )
    except InputError:
        raise
    except Exception as exc:  # tifffile raises many types for bad files
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{path}: not a readable TIFF image ({reason})") from None
    return data, found


def _pixels(path: Path, found: LazyImage, lazy: bool | str) -> Any:
    """The pixels of a lazily opened image: read now (NumPy) or left on disk (dask)."""
    import dask.array as da

    array = found.array
    if lazy == "auto":
        try:
            check_image_size(path, array.shape, array.dtype)
            lazy = False
        except InputError:
            lazy = True
    if lazy:
        return array if isinstance(array, da.Array) else da.from_zarr(array)
    try:
        check_image_size(path, array.shape, array.dtype)
        return np.asarray(array[...])
    finally:
        found.close()


def _check_float_range(path: Path, data: np.ndarray) -> None:
    """Refuse float pixel values beyond the float32 range that processing works in."""
    if data.dtype.kind != "f" or data.dtype.itemsize <= 4 or not data.size:
        return
    top = float(np.nanmax(np.abs(data), initial=0.0, where=np.isfinite(data)))
    if top > float(np.finfo(np.float32).max):
        raise InputError(
            f"{path}: pixel values reach {top:.3g}, beyond the float32 range (3.4e38) used for "
            "processing; rescale the image"
        )
