"""An image with named axes (``TZCYX`` order), as :func:`~napari_selfsup_seg.io._image.read_image`
returns it: pixels, axes, the file, pixel size, Z spacing, channel names and scene.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._errors import InputError
from ._formats import image_stem
from ._tiff_meta import KNOWN_AXES


@dataclass
class ImageStack:
    """An image with named axes.

    Attributes
    ----------
    data : numpy.ndarray
        The pixels, shape given by ``axes``; always ends with ``(Y, X)``. A dask array when read
        with ``read_image(..., lazy=True)``.
    axes : str
        One letter per dimension of ``data`` from ``"TZCYX"`` in that order, e.g. ``"CYX"``.
    path : pathlib.Path or None
        The file it was read from.
    pixel_size : tuple of float or None
        ``(y, x)`` pixel size in micrometres when the file says so.
    channel_names : list of str
        Names of the channels when the file has them (empty otherwise).
    z_spacing : float or None
        Distance between Z planes in micrometres when the file says so.
    scene : str or None
        Name of the scene read from a file holding several (``None`` otherwise).
    """

    data: np.ndarray
    axes: str
    path: Path | None = None
    pixel_size: tuple[float, float] | None = None
    channel_names: list[str] = field(default_factory=list)
    z_spacing: float | None = None
    scene: str | None = None

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


def micrometres_to_pixels(
    micrometres: float, pixel_size: tuple[float, float] | None, name: str
) -> float:
    """A length in micrometres as pixels of an image with ``pixel_size`` ``(y, x)`` in µm.

    Anisotropic pixels use the mean of their two sides.

    Raises
    ------
    InputError
        The image has no pixel size (the message names ``name``, the file).
    """
    if not pixel_size or not all(s > 0 for s in pixel_size):
        raise InputError(
            f"{name}: a diameter of {micrometres:g} µm needs the file's pixel size, and the "
            "file has none; give the diameter in pixels instead"
        )
    return float(micrometres) / (float(pixel_size[0]) + float(pixel_size[1])) * 2.0
