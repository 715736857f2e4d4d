"""Where work is kept by default: next to the data, or in a per-user folder for in-memory data.

A biologist who never picks a folder still gets every correction autosaved and every trained
model saved. Data read from ``/lab/plate1/a.tif`` keeps its work in ``/lab/plate1/a.selfsup/``
(when that folder is writable); data with no file (sample data, layers made in napari) keeps it
in ``~/napari-selfsup-seg/<name>/``, or under ``$NAPARI_SELFSUP_SEG_HOME`` when that is set.
New folders never replace old ones: :func:`next_free_dir` numbers them ``model``, ``model-2``, ...
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ._image import image_stem

#: Environment variable that moves the per-user folder.
HOME_ENV = "NAPARI_SELFSUP_SEG_HOME"


def workspace_root() -> Path:
    """The per-user folder for work on data that has no file (not created here)."""
    env = os.environ.get(HOME_ENV, "").strip()
    return Path(env).expanduser() if env else Path.home() / "napari-selfsup-seg"


def safe_name(name: str) -> str:
    """``name`` reduced to characters that are safe in a file name on every system."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("._") or "data"


def _writable(folder: Path) -> bool:
    """True when ``folder`` (or, if missing, its nearest existing parent) can be written."""
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            return os.access(candidate, os.W_OK)
    return False


def project_dir(source_path: str | os.PathLike | None, name: str) -> Path:
    """The default folder for work on one image.

    Parameters
    ----------
    source_path : str or path-like or None
        File the image was read from, if any.
    name : str
        Name of the image (layer name) when it has no file.

    Returns
    -------
    pathlib.Path
        ``<data dir>/<stem>.selfsup`` next to a writable file, else ``workspace_root()/<name>``.
    """
    if source_path:
        path = Path(source_path)
        beside = path.parent / f"{image_stem(path)}.selfsup"
        if _writable(beside):
            return beside
        name = image_stem(path)
    return workspace_root() / safe_name(name)


def next_free_dir(parent: str | os.PathLike, base: str) -> Path:
    """``parent/base``, or ``base-2``, ``base-3``, ... : the first that is missing or empty."""
    parent = Path(parent)
    k = 1
    while True:
        candidate = parent / (base if k == 1 else f"{base}-{k}")
        if not candidate.exists() or (candidate.is_dir() and not any(candidate.iterdir())):
            return candidate
        k += 1
