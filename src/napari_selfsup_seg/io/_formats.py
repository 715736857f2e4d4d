"""Which reader opens an image file, which files count as images, and the choice of a scene.

TIFF/OME-TIFF files (``tifffile``) and Zarr/OME-Zarr folders (``zarr``) are read by this package
itself. ND2, CZI and LIF files are read through bioio and its plugins (``bioio-nd2``,
``bioio-czi``, ``bioio-lif``), the optional ``[formats]`` extra; without it such a file gets one
line naming it and the command that installs the extra (:func:`missing_extra`).

A file may hold several images (*scenes*: OME-TIFF series, the positions of a LIF or CZI file,
the images of a bioformats2raw OME-Zarr); a scene is chosen by index or by name
(:func:`choose_scene`), the first one by default.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from .._errors import InputError

#: Suffixes of the TIFF files read with tifffile.
TIFF_SUFFIXES = (".tif", ".tiff", ".ome.tif", ".ome.tiff")
#: Suffix of Zarr/OME-Zarr folders.
ZARR_SUFFIX = ".zarr"
#: Suffixes read through bioio, and the bioio plugin each needs.
BIOIO_PLUGINS = {".nd2": "bioio-nd2", ".czi": "bioio-czi", ".lif": "bioio-lif"}
BIOIO_SUFFIXES = tuple(BIOIO_PLUGINS)
#: Every suffix of an image this package reads (with the ``[formats]`` extra for bioio's).
IMAGE_SUFFIXES = (".tif", ".tiff", ZARR_SUFFIX, *BIOIO_SUFFIXES)
#: The command that installs the readers of :data:`BIOIO_SUFFIXES`.
FORMATS_HINT = 'pip install "napari-selfsup-seg[formats]"'

#: A scene: its index in the file, or its name.
Scene = int | str


def is_zarr_folder(path: Path) -> bool:
    """Whether ``path`` is a Zarr store (a folder named ``*.zarr`` or holding Zarr metadata)."""
    if not path.is_dir():
        return False
    if path.name.lower().endswith(ZARR_SUFFIX):
        return True
    return any((path / name).exists() for name in ("zarr.json", ".zattrs", ".zgroup", ".zarray"))


def image_format(path: str | os.PathLike) -> str:
    """The reader of ``path``: ``"zarr"`` (a Zarr folder), ``"bioio"`` (ND2, CZI, LIF) or
    ``"tiff"`` (everything else, as TIFF is the default).

    Raises
    ------
    InputError
        ``path`` is a folder that is not a Zarr store.
    """
    path = Path(path)
    if path.is_dir():
        if is_zarr_folder(path):
            return "zarr"
        raise InputError(f"{path}: is a folder, not an image")
    if path.suffix.lower() in BIOIO_PLUGINS:
        return "bioio"
    return "tiff"


def image_stem(path: str | os.PathLike) -> str:
    """File name without its image suffix (``a.ome.tif`` -> ``a``, ``b.ome.zarr`` -> ``b``)."""
    name = Path(path).name
    suffixes = (*TIFF_SUFFIXES, ".ome" + ZARR_SUFFIX, ZARR_SUFFIX)
    for suffix in sorted(suffixes, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(path).stem


def is_image_name(path: str | os.PathLike) -> bool:
    """Whether the name of ``path`` ends with one of :data:`IMAGE_SUFFIXES` (any case)."""
    return Path(path).name.lower().endswith(IMAGE_SUFFIXES)


def missing_extra(path: str | os.PathLike, what: str = "") -> InputError:
    """The one-line error for a file whose reader is not installed.

    Parameters
    ----------
    path : path-like
        The file.
    what : str, optional
        What is missing (default: bioio and the plugin of the file's suffix).
    """
    suffix = Path(path).suffix.lower()
    plugin = BIOIO_PLUGINS.get(suffix, "a bioio plugin for it")
    what = what or f"bioio and {plugin}"
    return InputError(
        f"{path}: reading {suffix.lstrip('.').upper() or 'this'} files needs {what}, "
        f"the optional formats extra: {FORMATS_HINT}"
    )


def parse_scene(text: str) -> Scene:
    """A scene from the command line: an index when ``text`` is a number, else a name."""
    text = text.strip()
    return int(text) if text.isdigit() else text


def choose_scene(path: str | os.PathLike, names: Sequence[str], scene: Scene | None) -> int:
    """The index of ``scene`` among the scenes ``names`` of ``path``.

    Parameters
    ----------
    path : path-like
        The file, for the message.
    names : sequence of str
        Names of the file's scenes, in order.
    scene : int, str or None
        An index (negative counts from the end), a name, or ``None`` for the first scene.

    Raises
    ------
    InputError
        No such scene; the message lists the file's scenes.
    """
    n = len(names)
    if scene is None:
        return 0
    if isinstance(scene, str) and scene.strip().lstrip("-").isdigit():
        scene = int(scene)
    if isinstance(scene, int):
        if -n <= scene < n:
            return scene % n
        raise InputError(f"{path}: scene {scene} out of range ({_describe(names)})")
    if scene in names:
        return list(names).index(scene)
    raise InputError(f"{path}: no scene named {scene!r} ({_describe(names)})")


def _describe(names: Sequence[str]) -> str:
    shown = ", ".join(repr(str(n)) for n in names[:6]) + (", ..." if len(names) > 6 else "")
    return f"the file has {len(names)} scene{'s' if len(names) != 1 else ''}: {shown}"
