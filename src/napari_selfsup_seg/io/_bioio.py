"""ND2, CZI and LIF files through bioio (the optional ``[formats]`` extra).

The file is opened with :class:`bioio.BioImage`, which picks the plugin for the format; the
chosen scene's pixels come back as a dask array in ``TZCYX`` order (nothing is decoded until it
is indexed or computed), with the channel names and the physical pixel sizes the file records.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._errors import InputError
from ._formats import BIOIO_PLUGINS, Scene, choose_scene, missing_extra


@dataclass
class BioioImage:
    """One scene of a file read through bioio.

    Attributes
    ----------
    data : dask.array.Array
        Shape ``(T, Z, C, Y, X)``; RGB samples are the channels.
    pixel_size : tuple of float or None
        ``(y, x)`` in micrometres.
    z_spacing : float or None
        Distance between Z planes in micrometres.
    channel_names : list of str
        Empty when the file names no channels.
    scene : str or None
        Name of the scene read (``None`` for a file with one scene).
    """

    data: Any
    pixel_size: tuple[float, float] | None = None
    z_spacing: float | None = None
    channel_names: list[str] = field(default_factory=list)
    scene: str | None = None

    axes = "TZCYX"


def _reason(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def open_bioimage(path: str | os.PathLike, scene: Scene | None = None) -> Any:
    """A :class:`bioio.BioImage` of ``path`` set to ``scene``.

    Raises
    ------
    InputError
        bioio or the format's plugin is not installed (one line with the install command), the
        file cannot be read, or it has no such scene.
    """
    path = Path(path)
    try:
        from bioio import BioImage
    except ImportError:
        raise missing_extra(path) from None
    logger = logging.getLogger("bioio")
    level = logger.level
    logger.setLevel(logging.ERROR)  # the error below is the one line the user sees
    try:
        image = BioImage(path)
    except Exception as exc:
        plugin = BIOIO_PLUGINS.get(path.suffix.lower(), "")
        if type(exc).__name__ == "UnsupportedFileFormatError":
            if not plugin or importlib.util.find_spec(plugin.replace("-", "_")) is None:
                raise missing_extra(path) from None
            reason = f"{plugin} cannot read it"
            raise InputError(f"{path}: not a readable {path.suffix} file ({reason})") from None
        raise InputError(f"{path}: not a readable {path.suffix} image ({_reason(exc)})") from None
    finally:
        logger.setLevel(level)
    names = [str(s) for s in image.scenes]
    index = choose_scene(path, names, scene)
    if index:
        image.set_scene(index)
    return image


def read_bioio(path: str | os.PathLike, scene: Scene | None = None) -> BioioImage:
    """Open one scene of an ND2, CZI or LIF file (pixels stay on disk until used).

    Parameters
    ----------
    path : path-like
        The file.
    scene : int, str or None
        The scene's index or name; ``None`` reads the first one.

    Returns
    -------
    BioioImage
        Lazy pixels in ``TZCYX`` order and the file's metadata.

    Raises
    ------
    InputError
        See :func:`open_bioimage`; also a file whose pixels have both channels and RGB samples.
    """
    image = open_bioimage(path, scene)
    try:
        order = image.dims.order
        samples = "S" in order and image.dims.S > 1
        data = image.get_image_dask_data("TZCYXS" if samples else "TZCYX")
        if samples:
            if data.shape[2] != 1:
                raise InputError(f"{path}: images with both channels and RGB samples are not read")
            data = data[:, :, 0].transpose(0, 1, 4, 2, 3)  # the samples become the channels
        sizes = image.physical_pixel_sizes
        names = [str(c) for c in (image.channel_names or [])]
        scenes = list(image.scenes)
    except InputError:
        raise
    except Exception as exc:
        reason = _reason(exc)
        raise InputError(f"{path}: not a readable {Path(path).suffix} image ({reason})") from None
    pixel_size = None
    if sizes.Y and sizes.X:
        pixel_size = (float(sizes.Y), float(sizes.X))
    return BioioImage(
        data=data,
        pixel_size=pixel_size,
        z_spacing=float(sizes.Z) if sizes.Z else None,
        channel_names=names if len(names) == data.shape[2] else [],
        scene=str(image.current_scene) if len(scenes) > 1 else None,
    )
