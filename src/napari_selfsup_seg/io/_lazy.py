"""Images read region by region: TIFF through ``tifffile``'s Zarr view, Zarr and OME-Zarr folders,
ND2/CZI/LIF through bioio's dask arrays (with the ``[formats]`` extra).

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
from ._formats import Scene, choose_scene, image_format
from ._tiff_meta import KNOWN_AXES, tiff_axes, tiff_channel_names, tiff_pixel_size, tiff_z_spacing


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
    z_spacing : float or None
        Distance between Z planes in micrometres.
    scene : str or None
        Name of the scene opened, for a file with several (``None`` otherwise).
    """

    array: Any
    axes: str
    name: str
    pixel_size: tuple[float, float] | None = None
    channel_names: list[str] = field(default_factory=list)
    z_spacing: float | None = None
    scene: str | None = None
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


def open_lazy(path: str | os.PathLike, scene: Scene | None = None) -> LazyImage:
    """Open an image without reading its pixels: TIFF, Zarr/OME-Zarr, or ND2/CZI/LIF (bioio).

    Parameters
    ----------
    path : path-like
        The file or Zarr folder.
    scene : int, str or None
        The scene (series, position) to open, by index or name; ``None``: the first.

    Raises
    ------
    InputError
        Unreadable file, no such scene, a format whose reader is not installed, or axes that
        cannot be mapped onto ``TZCYX``.
    """
    path = Path(path)
    try:
        kind = image_format(path)
        if kind == "zarr":
            return _open_zarr(path, scene)
        if kind == "bioio":
            return _open_bioio(path, scene)
        return _open_tiff(path, scene)
    except InputError:
        raise
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{path}: cannot open for block-wise reading ({reason})") from None


def plane_shape(path: str | os.PathLike, scene: Scene | None = None) -> tuple[int, int]:
    """``(Y, X)`` of the planes of an image file, read from its header only.

    Raises
    ------
    InputError
        The file cannot be opened or holds no 2D image.
    """
    if image_format(path) != "tiff":
        image = open_lazy(path, scene)
        try:
            return image.shape_yx
        finally:
            image.close()
    return tiff_plane_shape(path, scene)


def tiff_plane_shape(path: str | os.PathLike, scene: Scene | None = None) -> tuple[int, int]:
    """``(Y, X)`` of the planes of a TIFF file, read from its header only.

    Raises
    ------
    InputError
        The file cannot be opened as a TIFF, holds no 2D image, or has no such scene.
    """
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            series = tiff_series(tif, path, scene)
            shape, axes = series.shape, series.axes.upper()
    except InputError:
        raise
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{path}: not a readable TIFF image ({reason})") from None
    if len(shape) < 2:
        raise InputError(f"{path}: no 2D image in the file (shape {shape})")
    if axes.endswith("YXS") and len(shape) >= 3:
        return shape[-3], shape[-2]
    return shape[-2], shape[-1]


def tiff_series(tif, path: str | os.PathLike, scene: Scene | None) -> Any:
    """The series of an open ``tifffile.TiffFile`` that is ``scene`` (the first by default)."""
    names = [s.name or f"Image:{i}" for i, s in enumerate(tif.series)]
    return tif.series[choose_scene(path, names, scene)]


def _open_tiff(path: Path, scene: Scene | None) -> LazyImage:
    import tifffile
    import zarr

    tif = tifffile.TiffFile(path)
    try:
        series = tiff_series(tif, path, scene)
    except BaseException:
        tif.close()
        raise
    index = tif.series.index(series)
    axes = tiff_axes(series.axes, series.shape)
    array = zarr.open(series.aszarr(level=0), mode="r")
    names = tiff_channel_names(tif, index)
    size, z = tiff_pixel_size(tif, index), tiff_z_spacing(tif, index)
    name = (series.name or f"Image:{index}") if len(tif.series) > 1 else None
    image = LazyImage(array, axes, path.name, size, names, z, name, _keep=tif)
    _check_axes(image)
    return image


def _open_bioio(path: Path, scene: Scene | None) -> LazyImage:
    from ._bioio import read_bioio

    found = read_bioio(path, scene)
    image = LazyImage(
        found.data,
        found.axes,
        path.name,
        found.pixel_size,
        found.channel_names,
        found.z_spacing,
        found.scene,
    )
    _check_axes(image)
    return image


def _open_zarr(path: Path, scene: Scene | None = None) -> LazyImage:
    import zarr

    node: Any = zarr.open(str(path), mode="r")
    pixel_size = z_spacing = scene_name = None
    array: Any
    names = None
    channel_names: list[str] = []
    if isinstance(node, zarr.Group) and "bioformats2raw.layout" in node.attrs:
        # One OME-Zarr image per scene, in groups named 0, 1, ...
        scenes = sorted((k for k in node.group_keys() if k.isdigit()), key=int)
        index = choose_scene(path, scenes, scene)
        node, scene_name = node[scenes[index]], scenes[index] if len(scenes) > 1 else None
    else:
        choose_scene(path, [path.name], scene)
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
                    if "Z" in names and len(t["scale"]) == len(names):
                        z_spacing = float(t["scale"][names.index("Z")])
            array = node[dataset["path"]]
        elif "0" in node:
            array = node["0"]
        else:
            raise InputError(f"{path}: zarr group holds no image (no multiscales, no array '0')")
    else:
        array = node
    if not names or len(names) != array.ndim:
        names = _guess_axes(array.shape)
    image = LazyImage(array, names, path.name, pixel_size, channel_names, z_spacing, scene_name)
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
