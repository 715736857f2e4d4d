"""Reading TIFF/OME-TIFF stacks with their axes, and writing label images and float maps safely.

Axes are named with the letters ``T`` (time), ``Z`` (depth), ``C`` (channel), ``Y`` and ``X``;
every image this module returns ends with ``YX``. Writes go to a temporary file in the target
folder and are renamed into place, so an interrupted run never leaves a partly written output.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._errors import InputError
from ._size_guard import check_image_size, image_memory_limit  # noqa: F401 (re-export)
from ._tiff_meta import KNOWN_AXES, tiff_axes, tiff_channel_names, tiff_pixel_size

TIFF_SUFFIXES = (".tif", ".tiff", ".ome.tif", ".ome.tiff")


@dataclass
class ImageStack:
    """An image with named axes.

    Attributes
    ----------
    data : numpy.ndarray
        The pixels, shape given by ``axes``; always ends with ``(Y, X)``.
    axes : str
        One letter per dimension of ``data`` from ``"TZCYX"`` in that order, e.g. ``"CYX"``.
    path : pathlib.Path or None
        The file it was read from.
    pixel_size : tuple of float or None
        ``(y, x)`` pixel size in micrometres when the file says so.
    channel_names : list of str
        Names of the channels when the file has them (empty otherwise).
    """

    data: np.ndarray
    axes: str
    path: Path | None = None
    pixel_size: tuple[float, float] | None = None
    channel_names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.axes) != self.data.ndim:
            raise InputError(f"{self.name}: axes {self.axes!r} do not match shape {self.shape}")
        if not self.axes.endswith("YX") or any(a not in KNOWN_AXES for a in self.axes):
            raise InputError(f"{self.name}: unsupported axes {self.axes!r} (expected e.g. 'TZCYX')")
        if [KNOWN_AXES.index(a) for a in self.axes] != sorted(
            KNOWN_AXES.index(a) for a in self.axes
        ):
            raise InputError(f"{self.name}: axes {self.axes!r} must be in the order T, Z, C, Y, X")

    @property
    def name(self) -> str:
        """The file name, or ``"<array>"`` for an image made in memory."""
        return self.path.name if self.path is not None else "<array>"

    @property
    def stem(self) -> str:
        """The file name without ``.tif``/``.ome.tif``, used to name outputs."""
        return image_stem(self.path) if self.path is not None else "image"

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of :attr:`data`."""
        return tuple(self.data.shape)

    @property
    def n_channels(self) -> int:
        """Number of channels (1 when there is no channel axis)."""
        return self.data.shape[self.axes.index("C")] if "C" in self.axes else 1

    @property
    def plane_axes(self) -> str:
        """The axes that are iterated over plane by plane (``T`` and ``Z``), e.g. ``"TZ"``."""
        return "".join(a for a in self.axes if a in "TZ")

    @property
    def plane_shape(self) -> tuple[int, ...]:
        """Shape of the plane axes, e.g. ``(5, 12)`` for 5 time points of 12 slices."""
        return tuple(self.data.shape[self.axes.index(a)] for a in self.plane_axes)

    def channel(self, index: int | None) -> np.ndarray:
        """Return one channel with the channel axis dropped.

        Parameters
        ----------
        index : int or None
            Channel index (negative counts from the end). ``None`` is allowed only for an image
            with a single channel.

        Returns
        -------
        numpy.ndarray
            Shape ``(*plane_shape, Y, X)``.
        """
        if "C" not in self.axes:
            if index not in (None, 0, -1):
                raise InputError(
                    f"{self.name}: channel {index} requested but the image has no channel axis"
                )
            return self.data
        n = self.n_channels
        if index is None:
            if n == 1:
                index = 0
            else:
                raise InputError(f"{self.name}: has {n} channels; choose one with --channel")
        if not -n <= index < n:
            raise InputError(f"{self.name}: channel {index} out of range (image has {n} channels)")
        return np.take(self.data, index, axis=self.axes.index("C"))

    def planes(self, channels: int | list[int] | None = None) -> np.ndarray:
        """All 2D planes as one array with a channel axis.

        Parameters
        ----------
        channels : int, list of int or None
            Channel(s) to keep. ``None`` keeps all channels.

        Returns
        -------
        numpy.ndarray
            Shape ``(N, C, Y, X)`` with ``N = prod(plane_shape)``.
        """
        data = self.data if "C" in self.axes else self.data[..., np.newaxis, :, :]
        axes = self.axes if "C" in self.axes else self.axes[:-2] + "CYX"
        if channels is not None:
            idx = [channels] if isinstance(channels, int) else list(channels)
            n = data.shape[axes.index("C")]
            for c in idx:
                if not -n <= c < n:
                    raise InputError(
                        f"{self.name}: channel {c} out of range (image has {n} channels)"
                    )
            data = np.take(data, idx, axis=axes.index("C"))
        y, x = data.shape[-2:]
        return data.reshape(-1, data.shape[-3], y, x)

    def restack(self, planes: np.ndarray) -> np.ndarray:
        """Put per-plane results back into the stack's plane layout.

        Parameters
        ----------
        planes : numpy.ndarray
            Shape ``(N, Y, X)``, one result per plane from :meth:`planes`.

        Returns
        -------
        numpy.ndarray
            Shape ``(*plane_shape, Y, X)``: the stack without its channel axis.
        """
        return planes.reshape(*self.plane_shape, *planes.shape[-2:])


def image_stem(path: str | os.PathLike) -> str:
    """File name without its TIFF suffix (``a.ome.tif`` -> ``a``)."""
    name = Path(path).name
    for suffix in sorted(TIFF_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(path).stem


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


def read_image(path: str | os.PathLike, axes: str | None = None) -> ImageStack:
    """Read a TIFF or OME-TIFF file with its axes.

    Parameters
    ----------
    path : str or path-like
        The file.
    axes : str, optional
        Override the axes the file declares, e.g. ``"CYX"`` for a 2-channel image written without
        metadata.

    Returns
    -------
    ImageStack
        The pixels with axes in ``TZCYX`` order (singleton axes dropped), pixel size and channel
        names when the file has them.

    Raises
    ------
    InputError
        The file is missing, not a TIFF, truncated, has no 2D image in it, needs more memory
        than the limit (see :mod:`napari_selfsup_seg.io._size_guard`), or holds float values
        beyond the float32 range.
    """
    import tifffile

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not an image")
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            check_image_size(path, series.shape, series.dtype)
            data = series.asarray()
            file_axes = series.axes
            pixel_size = tiff_pixel_size(tif)
            channel_names = tiff_channel_names(tif)
    except InputError:
        raise
    except Exception as exc:  # tifffile raises many types for bad files
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{path}: not a readable TIFF image ({reason})") from None
    if data.ndim < 2 or min(data.shape[-2:]) < 2:
        raise InputError(f"{path}: no 2D image in the file (shape {data.shape})")
    if data.dtype == bool:
        data = data.astype(np.uint8)
    elif data.dtype.kind == "c":
        raise InputError(f"{path}: complex pixel values are not supported")
    _check_float_range(path, data)
    if axes is not None:
        axes = axes.upper()
        if len(axes) != data.ndim:
            raise InputError(f"{path}: axes {axes!r} do not match shape {data.shape}")
        file_axes = axes
    else:
        file_axes = tiff_axes(file_axes, data.shape)
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
        pixel_size=pixel_size,
        channel_names=channel_names,
    )


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
