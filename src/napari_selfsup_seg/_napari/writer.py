"""napari writer: a Labels layer saved as an instance-label TIFF (atomic write)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..io._tiff_write import write_labels as _write_labels

_AXES = {2: "YX", 3: "ZYX", 4: "TZYX"}


def write_labels(path: str, data: Any, meta: dict) -> list[str]:
    """Write one Labels layer to ``path`` (``.tif`` added when missing).

    Parameters
    ----------
    path : str
        Target file.
    data : array-like of int
        Shape ``(Y, X)``, ``(Z, Y, X)`` or ``(T, Z, Y, X)``.
    meta : dict
        Layer attributes from napari; ``metadata["axes"]`` and the Y/X ``scale`` are stored.

    Returns
    -------
    list of str
        The written path.
    """
    target = Path(path)
    if target.suffix.lower() not in (".tif", ".tiff"):
        target = target.with_name(target.name + ".tif")
    labels = np.asarray(data)
    axes = (meta.get("metadata") or {}).get("axes")
    if not axes or len(axes) != labels.ndim:
        axes = _AXES.get(labels.ndim)
    scale = meta.get("scale")
    pixel_size = None
    if scale is not None and len(scale) >= 2 and (scale[-1] != 1 or scale[-2] != 1):
        pixel_size = (float(scale[-2]), float(scale[-1]))
    _write_labels(target, labels, axes=axes, pixel_size=pixel_size)
    return [str(target)]
