"""Images read region by region: TIFF through ``tifffile``'s Zarr view, Zarr and OME-Zarr folders.

Nothing but the region asked for is read into memory, so images larger than memory can be
processed block by block (see :mod:`napari_selfsup_seg.inference._blockwise`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import InputError
from ._tiff_meta import KNOWN_AXES, tiff_axes, tiff_channel_names, tiff_pixel_size


@dataclass
class LazyImage:
    """An image read region by region.

    Attributes
    ----------
    array : zarr-like
        Supports NumPy-style slicing; only the requested region is read.
    axes : str
        One letter per dimension of ``array`` from ``"TZCYX"`` (``C`` may come last for RGB).
    name : str
        File name, for messages.
    pixel_size : tuple of float or None
        ``(y, x)`` in micrometres.
    channel_names : list of str
        Names of the channels when the file has them (empty otherwise).
    """

    array: Any
    axes: str
    name: str
    pixel_size: tuple[float, float] | None = None
    channel_names: list[str] = field(default_factory=list)
    _keep: Any = field(default=None, repr=False)

    @property
    def shape_yx(self) -> tuple[int, int]:
        """``(Y, X)`` of a plane."""
        return self.array.shape[self.axes.index("Y")], self.array.shape[self.axes.index("X")]

    @property
    def n_channels(self) -> int:
        """Number of channels (1 without a channel axis)."""
        return self.array.shape[self.axes.index("C")] if "C" in self.axes else 1

    @property
    def plane_dims(self) -> list[int]:
        """Dimensions (T, Z) of length above 1, iterated plane by plane."""
        return [i for i, a in enumerate(self.axes) if a in "TZ" and self.array.shape[i] > 1]

    @property
    def plane_shape(self) -> tuple[int, ...]:
        """Shape of the plane dimensions."""
        return tuple(self.array.shape[i] for i in self.plane_dims)

    @property
    def plane_axes(self) -> str:
        """Letters of the plane dimensions, e.g. ``"Z"`` (empty for a single plane)."""
        return "".join(self.axes[i] for i in self.plane_dims)

    def read(self, plane: tuple[int, ...], ys: slice, xs: slice) -> np.ndarray:
        """One region of one plane, all channels, shape ``(C, h, w)``."""
        index: list[Any] = []
        where = dict(zip(self.plane_dims, plane))
        for i, a in enumerate(self.axes):
            if a == "Y":
                index.append(ys)
            elif a == "X":
                index.append(xs)
            elif a == "C":
                index.append(slice(None))
            else:
                index.append(where.get(i, 0))
        block = np.asarray(self.array[tuple(index)])
        kept = [a for i, a in enumerate(self.axes) if a in "CYX"]
        if "C" not in kept:
            return block[np.newaxis]
        return np.moveaxis(block, kept.index("C"), 0)

    def close(self) -> None:
        """Close the file held open for reading (a TIFF), if any."""
        if self._keep is not None:
            self._keep.close()


def open_lazy(path: str | os.PathLike) -> LazyImage:
    """Open a TIFF or a Zarr/OME-Zarr image without reading its pixels.

    Raises
    ------
    InputError
        Unreadable file, or axes that cannot be mapped onto ``TZCYX``.
    """
    path = Path(path)
    try:
        if path.is_dir():
            return _open_zarr(path)
        return _open_tiff(path)
    except InputError:
        raise
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{path}: cannot open for block-wise reading ({reason})") from None


def tiff_plane_shape(path: str | os.PathLike) -> tuple[int, int]:
    """``(Y, X)`` of the planes of a TIFF file, read from its header only.

    Raises
    ------
    InputError
        The file cannot be opened as a TIFF or holds no 2D image.
    """
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            shape, axes = series.shape, series.axes.upper()
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{path}: not a readable TIFF image ({reason})") from None
    if len(shape) < 2:
        raise InputError(f"{path}: no 2D image in the file (shape {shape})")
    if axes.endswith("YXS") and len(shape) >= 3:
        return shape[-3], shape[-2]
    return shape[-2], shape[-1]


def _open_tiff(path: Path) -> LazyImage:
    import tifffile
    import zarr

    tif = tifffile.TiffFile(path)
    series = tif.series[0]
    axes = tiff_axes(series.axes, series.shape)
    array = zarr.open(series.aszarr(level=0), mode="r")
    names = tiff_channel_names(tif)
    image = LazyImage(array, axes, path.name, tiff_pixel_size(tif), names, _keep=tif)
    _check_axes(image)
    return image


def _open_zarr(path: Path) -> LazyImage:
    import zarr

    node: Any = zarr.open(str(path), mode="r")
    pixel_size = None
    array: Any
    names = None
    channel_names: list[str] = []
    if isinstance(node, zarr.Group):
        attrs: dict[str, Any] = dict(node.attrs)
        omero = attrs.get("omero") or attrs.get("ome", {}).get("omero") or {}
        channel_names = [str(ch.get("label", "")) for ch in omero.get("channels", [])]
        multiscales = attrs.get("multiscales") or attrs.get("ome", {}).get("multiscales")
        if multiscales:
            ms = multiscales[0]
            dataset = ms["datasets"][0]
            names = "".join(
                (a["name"] if isinstance(a, dict) else a)[0].upper() for a in ms.get("axes", [])
            )
            for t in dataset.get("coordinateTransformations", []):
                if t.get("type") == "scale" and len(t.get("scale", [])) >= 2:
                    pixel_size = (float(t["scale"][-2]), float(t["scale"][-1]))
            array = node[dataset["path"]]
        elif "0" in node:
            array = node["0"]
        else:
            raise InputError(f"{path}: zarr group holds no image (no multiscales, no array '0')")
    else:
        array = node
    if not names or len(names) != array.ndim:
        names = _guess_axes(array.shape)
    image = LazyImage(array, names, path.name, pixel_size, channel_names)
    _check_axes(image)
    return image


def _guess_axes(shape: tuple[int, ...]) -> str:
    """Axes of an array without metadata: ``YX``, ``CYX`` (short third-last axis), ``ZYX``..."""
    tail = "CYX" if len(shape) >= 3 and shape[-3] <= 8 else "YX"
    lead = len(shape) - len(tail)
    return "TZ"[2 - lead :] + tail if 0 <= lead <= 2 else ""


def _check_axes(image: LazyImage) -> None:
    axes = image.axes
    if len(axes) != image.array.ndim or "Y" not in axes or "X" not in axes:
        raise InputError(f"{image.name}: cannot find the Y and X axes (axes {axes!r})")
    if len(set(axes)) != len(axes) or any(a not in KNOWN_AXES for a in axes):
        raise InputError(f"{image.name}: unsupported axes {axes!r} for block-wise reading")
