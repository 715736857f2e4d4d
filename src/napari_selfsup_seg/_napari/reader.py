"""napari reader: TIFF/OME-TIFF, OME-Zarr and (with the ``[formats]`` extra) ND2/CZI/LIF images
with channels split into layers.

Each channel becomes its own Image layer named ``"<stem> [ch i]"`` (or ``"<stem> <channel name>"``
when the file names its channels), with ``metadata["channel"]`` (its index in the file, ``None``
for a single-channel file) and ``metadata["channel_name"]`` (``None`` when the file names no
channels); T/Z axes are kept and the pixel size (and Z spacing) becomes the layer scale. The
first scene of a file holding several is opened (``metadata["scene"]`` names it). An image that
does not fit in memory opens as a dask array read as napari shows it.
Integer images whose name ends in ``_labels``, ``_pseudo`` or ``_mask`` open as Labels layers.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import InputError
from ..io._formats import is_image_name
from ..io._image import ImageStack, image_stem, read_image

LayerData = tuple[np.ndarray, dict[str, Any], str]
LABEL_SUFFIXES = ("_labels", "_pseudo", "_mask", "_masks")
_CHANNEL_COLORMAPS = ("gray", "green", "magenta", "cyan", "yellow")


def _accepts(path: str) -> bool:
    return is_image_name(path)


def napari_get_reader(path: str | list[str]) -> Callable[[Any], list[LayerData]] | None:
    """Return :func:`read_layers` when ``path`` (or every path in a list) is an image this
    package reads: TIFF, a ``.zarr`` folder, ND2, CZI or LIF."""
    paths = [path] if isinstance(path, str | Path) else list(path)
    if not paths or not all(_accepts(str(p)) for p in paths):
        return None
    return read_layers


def _scale(stack: ImageStack, axes: str) -> list[float]:
    """Layer scale for ``axes`` (channel axis removed): pixel size on Y/X, the Z spacing on Z
    when the file gives both, 1 elsewhere."""
    scale = [1.0] * len(axes)
    if stack.pixel_size is not None:
        scale[-2], scale[-1] = (float(s) for s in stack.pixel_size)
        if stack.z_spacing and "Z" in axes:
            scale[axes.index("Z")] = float(stack.z_spacing)
    return scale


def is_label_file(stack: ImageStack) -> bool:
    """True for an integer, single-channel image named like a label image."""
    stem = image_stem(stack.path).lower() if stack.path is not None else ""
    return stack.data.dtype.kind in "ui" and "C" not in stack.axes and stem.endswith(LABEL_SUFFIXES)


def stack_to_layers(stack: ImageStack) -> list[LayerData]:
    """Turn an :class:`~napari_selfsup_seg.io._image.ImageStack` into napari layer data tuples.

    Parameters
    ----------
    stack : ImageStack
        Data with axes in ``TZCYX`` order.

    Returns
    -------
    list of (data, kwargs, layer_type)
        One Image layer per channel (data shape ``(*plane_shape, Y, X)``), or one Labels layer.
    """
    plane_axes = stack.axes.replace("C", "")
    meta: dict[str, Any] = {
        "path": str(stack.path) if stack.path is not None else None,
        "axes": plane_axes,
        "pixel_size": stack.pixel_size,
        "scene": stack.scene,
    }
    kwargs_common: dict[str, Any] = {"scale": _scale(stack, plane_axes)}
    if is_label_file(stack):
        kwargs = {**kwargs_common, "name": stack.stem, "metadata": dict(meta)}
        return [(stack.data, kwargs, "labels")]
    layers: list[LayerData] = []
    n = stack.n_channels
    named = len(stack.channel_names) == n
    for i in range(n):
        channel_name = (stack.channel_names[i] or None) if named else None
        if channel_name:
            name = f"{stack.stem} {channel_name}"
        elif n > 1:
            name = f"{stack.stem} [ch {i}]"
        else:
            name = stack.stem
        kwargs = {
            **kwargs_common,
            "name": name,
            "metadata": {**meta, "channel": i if n > 1 else None, "channel_name": channel_name},
            "colormap": _CHANNEL_COLORMAPS[i % len(_CHANNEL_COLORMAPS)] if n > 1 else "gray",
            "blending": "translucent_no_depth" if i == 0 else "additive",
        }
        layers.append((stack.channel(i if n > 1 else None), kwargs, "image"))
    return layers


def read_layers(path: str | list[str]) -> list[LayerData]:
    """Read one or more image files into layer data tuples (see :func:`stack_to_layers`).

    Raises
    ------
    InputError
        A file is missing or unreadable, or needs the ``[formats]`` extra; the message names it
        (and the install command).
    """
    paths = [path] if isinstance(path, str | Path) else list(path)
    layers: list[LayerData] = []
    for p in paths:
        layers.extend(stack_to_layers(read_image(p, lazy="auto")))
    if not layers:
        raise InputError(f"{paths[0]}: no image in the file")
    return layers
