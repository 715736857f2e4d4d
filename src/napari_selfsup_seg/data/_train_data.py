"""Checking and preparing training data: channel choice, masks to targets, normalisation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .._config import TrainConfig
from .._errors import InputError
from ._normalize import NormalizationConfig, percentile_normalize
from ._targets import IGNORE, make_targets


def select_channel(image: np.ndarray, channel: int | None, name: str) -> np.ndarray:
    """One ``(Y, X)`` or ``(C, Y, X)`` image as ``(C, Y, X)``: the chosen channel, or all.

    Parameters
    ----------
    image : numpy.ndarray
        Shape ``(Y, X)`` or ``(C, Y, X)``.
    channel : int or None
        Channel to keep (negative counts from the end); ``None`` keeps every channel. A
        ``(Y, X)`` image accepts only ``None``, 0 and -1.
    name : str
        The image, for error messages (e.g. ``"image 3"``).

    Returns
    -------
    numpy.ndarray
        Shape ``(C, Y, X)``, ``C = 1`` when a channel was chosen (a view of ``image``).

    Raises
    ------
    InputError
        The image is not 2D or 3D, or the channel is out of range.
    """
    image = np.asarray(image)
    if image.ndim == 2:
        if channel not in (None, 0, -1):
            raise InputError(
                f"{name}: input channel {channel} requested but the image has no channels"
            )
        return image[np.newaxis]
    if image.ndim != 3:
        raise InputError(f"{name}: expected a (Y, X) or (C, Y, X) image, got shape {image.shape}")
    if channel is None:
        return image
    c = image.shape[0]
    if not -c <= channel < c:
        raise InputError(f"{name}: input channel {channel} out of range (image has {c} channels)")
    return image[channel][np.newaxis]


def prepare_training_data(
    images: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    config: TrainConfig,
    normalization: NormalizationConfig,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Check, normalise and pad images; turn masks into class targets.

    Returns
    -------
    images : list of numpy.ndarray of float32
        Each ``(C, Y', X')`` with ``Y', X' >= tile_size`` (reflect-padded).
    targets : list of numpy.ndarray of uint8
        Each ``(Y', X')`` (padding is ignored).
    """
    if len(images) == 0:
        raise InputError("no training images given")
    if len(images) != len(masks):
        raise InputError(f"{len(images)} images but {len(masks)} masks")
    xs, ts = [], []
    n_channels = None
    t = config.tile_size
    for i, (img, mask) in enumerate(zip(images, masks)):
        x = select_channel(img, config.input_channel, f"image {i}")
        if x.dtype.kind not in "uifb":
            raise InputError(f"image {i}: unsupported pixel type {x.dtype}")
        if n_channels is None:
            n_channels = x.shape[0]
        elif x.shape[0] != n_channels:
            raise InputError(f"image {i}: has {x.shape[0]} channel(s) but image 0 has {n_channels}")
        mask = np.asarray(mask)
        if mask.shape != x.shape[1:]:
            raise InputError(
                f"mask {i}: shape {mask.shape} does not match image {i} shape {x.shape[1:]}"
            )
        if mask.dtype.kind == "f":
            if not np.isfinite(mask).all() or (mask != np.round(mask)).any():
                raise InputError(f"mask {i}: expected integer labels, got non-integer values")
            mask = mask.astype(np.int64)
        elif mask.dtype.kind not in "iub":
            raise InputError(f"mask {i}: expected integer labels, got {mask.dtype}")
        target = make_targets(mask, config.boundary_width, config.ignore_value)
        if (target == IGNORE).all():
            raise InputError(f"mask {i}: every pixel is marked 'not reviewed' (ignore value)")
        if not (target == 0).any():
            # An image without objects (an empty well, a tile without the thing) teaches what
            # background looks like; one without background teaches nothing.
            raise InputError(f"mask {i}: is all foreground; nothing to learn from")
        x = percentile_normalize(x, normalization, f"image {i}")
        h, w = target.shape
        py, px = max(0, t - h), max(0, t - w)
        if py or px:
            x = np.pad(x, ((0, 0), (0, py), (0, px)), mode="reflect")
            target = np.pad(target, ((0, py), (0, px)), constant_values=IGNORE)
        xs.append(np.ascontiguousarray(x, np.float32))
        ts.append(target)
    if not any(((tt == 1) | (tt == 2)).any() for tt in ts):
        where = "mask 0: is" if len(ts) == 1 else f"all {len(ts)} masks are"
        raise InputError(f"{where} all background; no objects to learn from")
    return xs, ts
