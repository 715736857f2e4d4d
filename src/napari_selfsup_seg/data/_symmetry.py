"""Which flips and 90° rotations leave the training objects looking the same.

Fluorescence, phase contrast and plain brightfield image an object the same way whatever its
orientation, so training tiles may be flipped and rotated freely. Oblique illumination and DIC do
not: the light comes from one side, so every object is bright on one side and dark on the other.
Turned by 180° such an image shows objects lit from the opposite side, which never occurs in the
user's images; a network trained on those views must learn every lighting direction at once, and
test-time flips show it images it would never see.

:func:`object_symmetries` reads the imaging from the objects themselves: the mean patch of the
image around the training objects' centres (the "mean object"), correlated with its own flipped
and rotated versions. Imaging that does not depend on direction gives a point-symmetric mean
object (its 180° turn correlates about +1 with it, even for objects that all point the same way,
such as aligned rods); light from one side gives a mean object whose 180° turn is nearly its
negative (about -1). Only then are the transforms restricted, to those under which the mean
object stays more like itself than not (correlation at least 0.5; for light from the top, the
left-right mirror).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage as ndi

from .._config._model import TRANSFORMS

#: Correlation of the mean object with its transformed self that counts as "the same".
SAME = 0.5

#: Fewest objects whose mean is read; with fewer, every transform is kept.
MIN_OBJECTS = 3


def apply_transform(x: np.ndarray, name: str) -> np.ndarray:
    """``x`` (``(..., Y, X)``) flipped or rotated by the transform ``name`` (a view)."""
    if name == "identity":
        return x
    if name.startswith("rot"):
        return np.rot90(x, int(name[3:]) // 90, axes=(-2, -1))
    if name == "flip_x":
        return x[..., ::-1]
    if name == "flip_y":
        return x[..., ::-1, :]
    if name == "transpose":
        return np.swapaxes(x, -1, -2)
    if name == "antitranspose":
        return np.swapaxes(np.rot90(x, 2, axes=(-2, -1)), -1, -2)
    raise ValueError(f"unknown transform {name!r}; one of {', '.join(TRANSFORMS)}")


def mean_object(image: Sequence[np.ndarray], labels: Sequence[np.ndarray], half: int):
    """Mean ``(C, 2 half + 1, 2 half + 1)`` patch of ``image`` planes ``(C, Y, X)`` around the
    centres of the objects of ``labels`` (``(Y, X)`` instance masks), and the number of objects
    it averages (objects closer than ``half`` to an edge are left out)."""
    total, n = None, 0
    for x, lab in zip(image, labels, strict=True):
        lab = np.asarray(lab)
        ids = np.unique(lab[lab > 0])
        if ids.size == 0:
            continue
        h, w = lab.shape
        for cy, cx in ndi.center_of_mass(np.ones(lab.shape), lab, ids):
            y, xx = round(float(cy)), round(float(cx))
            if half <= y < h - half and half <= xx < w - half:
                patch = np.asarray(x[:, y - half : y + half + 1, xx - half : xx + half + 1])
                total = patch.astype(np.float64) if total is None else total + patch
                n += 1
    return (None if total is None else total / n), n


def correlations(patch: np.ndarray) -> dict[str, float]:
    """Correlation of each channel's mean object (DC removed) with its transformed self,
    the lowest over channels, per transform of :data:`TRANSFORMS`."""
    out = {name: 1.0 for name in TRANSFORMS}
    for p in patch:
        p = p - p.mean()
        energy = float((p * p).sum())
        if energy <= 0:
            continue
        for name in TRANSFORMS:
            rho = float((p * apply_transform(p, name)).sum()) / energy
            out[name] = min(out[name], rho)
    return out


def object_symmetries(
    images: Sequence[np.ndarray], labels: Sequence[np.ndarray], diameter: float | None
) -> tuple[str, ...]:
    """Transforms of :data:`TRANSFORMS` that training may apply to these images.

    Parameters
    ----------
    images : sequence of numpy.ndarray
        Normalised planes ``(C, Y, X)``.
    labels : sequence of numpy.ndarray
        Instance masks ``(Y, X)`` of the same planes (0 background; values above every object,
        such as an ignore value, must already be 0).
    diameter : float or None
        Typical object diameter in pixels; the mean object is read over a patch of twice it
        (``None``: every transform is kept).

    Returns
    -------
    tuple of str
        All eight when the imaging does not depend on direction (the mean object's 180° turn
        correlates with it at least :data:`SAME`), or too few objects to tell; else those under
        which the mean object correlates with itself at least :data:`SAME` (always
        ``"identity"``).
    """
    if diameter is None or not np.isfinite(diameter):
        return TRANSFORMS
    patch, n = mean_object(images, labels, max(2, round(float(diameter))))
    if patch is None or n < MIN_OBJECTS:
        return TRANSFORMS
    rho = correlations(patch)
    if rho["rot180"] >= SAME:
        return TRANSFORMS
    return tuple(name for name in TRANSFORMS if rho[name] >= SAME or name == "identity")


def training_symmetries(
    mode: str,
    images: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    ignore: int,
    diameter: float | None,
    inherited: Sequence[str] | None = None,
) -> tuple[str, ...]:
    """The transforms a training run draws from (see ``TrainConfig.symmetry``).

    ``"all"``: every one; ``"none"``: the identity; ``"auto"``: those ``inherited`` from the
    model being fine-tuned when it recorded them, else :func:`object_symmetries` of ``images``
    (normalised ``(C, Y, X)`` planes, which may be padded past the masks at the bottom and right)
    and ``masks`` (instance masks whose ``ignore`` pixels are left out).
    """
    if mode == "all":
        return TRANSFORMS
    if mode == "none":
        return ("identity",)
    if inherited is not None:
        return tuple(inherited)
    labels = [np.where(np.asarray(m) == ignore, 0, m) for m in masks]
    return object_symmetries(images, labels, diameter)
