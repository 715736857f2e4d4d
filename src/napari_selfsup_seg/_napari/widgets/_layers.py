"""Small helpers for layers: roles set by the Data widget, planes, and safe result layers.

Widgets share state through the layers themselves (their ``metadata``), not through globals:
``metadata["role"]`` is ``"brightfield"`` or ``"fluorescent"``, ``metadata["planes"]`` lists the
plane indices to use, and ``metadata["edited"]`` is set once the user paints on a Labels layer so
that no later result overwrites it. An Image layer read from a file also says which channel of
that file it holds: ``metadata["channel"]`` (int index in the source file, or ``None`` when the
file has one channel or the layer was not read from a file) and ``metadata["channel_name"]``
(str, or ``None`` when the file does not name its channels); training records both in the model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

ROLE_KEY = "role"
PLANES_KEY = "planes"
EDITED_KEY = "edited"
SOURCE_KEY = "source"
CHANNEL_KEY = "channel"
CHANNEL_NAME_KEY = "channel_name"


def layer_kind(layer) -> str:
    """``"image"``, ``"labels"`` or ``"other"``: the kind of a napari layer (public API only)."""
    from napari.layers import Image, Labels

    if isinstance(layer, Labels):
        return "labels"
    if isinstance(layer, Image):
        return "image"
    return "other"


def plane_axes(layer) -> str:
    """Axes of a layer's data (e.g. ``"ZYX"``), from its metadata or its dimensionality."""
    axes = layer.metadata.get("axes")
    if axes and len(axes) == layer.data.ndim:
        return axes
    return {2: "YX", 3: "ZYX", 4: "TZYX"}.get(layer.data.ndim, "T" * (layer.data.ndim - 2) + "YX")


def as_planes(data: Any) -> np.ndarray:
    """A layer's data as a ``(N, Y, X)`` numpy array (a copy safe to hand to a worker)."""
    arr = np.array(data, copy=True)
    return arr.reshape(-1, *arr.shape[-2:])


def seed_planes_like(layer, reference, reference_role: str) -> np.ndarray:
    """The planes of the seed (nuclear) ``layer``, which must have ``reference``'s shape.

    Raises
    ------
    InputError
        The shapes differ (the message names both layers).
    """
    from ..._errors import InputError

    if tuple(layer.data.shape) != tuple(reference.data.shape):
        raise InputError(
            f"{layer.name}: seed layer shape {tuple(layer.data.shape)} differs from the "
            f"{reference_role} {reference.name}: {tuple(reference.data.shape)}"
        )
    return as_planes(layer.data)


def chosen_planes(layer) -> list[int]:
    """Plane indices chosen in the Data widget (all planes when none were chosen)."""
    n = int(np.prod(layer.data.shape[:-2])) if layer.data.ndim > 2 else 1
    planes = layer.metadata.get(PLANES_KEY)
    if not planes:
        return list(range(n))
    return [p for p in planes if 0 <= p < n]


def current_plane(viewer, layer) -> int:
    """Flat index of the plane of ``layer`` shown in the viewer right now."""
    extra = layer.data.ndim - 2
    if extra <= 0:
        return 0
    step = viewer.dims.current_step
    shape = layer.data.shape[:extra]
    # The layer's leading axes are the viewer's last dims before Y and X.
    offset = viewer.dims.ndim - layer.data.ndim
    idx = [min(max(int(step[offset + i]), 0), shape[i] - 1) for i in range(extra)]
    return int(np.ravel_multi_index(idx, shape))


def mark_edited(layer) -> None:
    """Remember that the user changed this Labels layer by hand."""
    layer.metadata[EDITED_KEY] = True


#: ``unique_id`` of the layers :func:`watch_edits` already watches. Layers reached through the
#: viewer napari hands to plugins are proxies (a new object per access), so ``id()`` would not do.
_WATCHED: set[str] = set()


def watch_edits(layer) -> None:
    """Mark ``layer`` edited whenever the user paints, fills or erases on it."""
    key = str(layer.unique_id)
    if key in _WATCHED:
        return
    layer.events.paint.connect(lambda _e=None: mark_edited(layer))
    _WATCHED.add(key)


def put_labels(viewer, name: str, data: np.ndarray, like=None, **kwargs):
    """Show ``data`` in the Labels layer ``name`` without ever overwriting the user's edits.

    An existing layer of that name is updated in place unless the user edited it; then a new
    layer ``"<name> [2]"`` (``[3]``, ...) is made instead.

    Parameters
    ----------
    viewer : napari.Viewer
    name : str
        Wanted layer name.
    data : numpy.ndarray of int
        Shape ``(..., Y, X)``.
    like : napari layer, optional
        Copy ``scale`` and ``translate`` from this layer.

    Returns
    -------
    napari.layers.Labels
    """
    target = name
    k = 2
    while target in viewer.layers:
        layer = viewer.layers[target]
        if (
            layer_kind(layer) == "labels"
            and not layer.metadata.get(EDITED_KEY)
            and layer.data.shape == data.shape
        ):
            layer.data = data
            layer.metadata.update(kwargs.get("metadata") or {})
            return layer
        target = f"{name} [{k}]"
        k += 1
    if like is not None:
        kwargs.setdefault("scale", like.scale[-data.ndim :])
        kwargs.setdefault("translate", like.translate[-data.ndim :])
    layer = viewer.add_labels(data, name=target, **kwargs)
    watch_edits(layer)
    return layer


def put_image(viewer, name: str, data: np.ndarray, like=None, **kwargs):
    """Show ``data`` in the Image layer ``name`` (replaced in place when the shape fits)."""
    if name in viewer.layers and layer_kind(viewer.layers[name]) == "image":
        layer = viewer.layers[name]
        if layer.data.shape == data.shape:
            layer.data = data
            return layer
        viewer.layers.remove(layer)
    if like is not None:
        kwargs.setdefault("scale", like.scale[-data.ndim :])
        kwargs.setdefault("translate", like.translate[-data.ndim :])
    return viewer.add_image(data, name=name, **kwargs)
