"""Tiled prediction of class probabilities and instance labels with a trained U-Net.

Images of any size are cut into overlapping tiles (see :mod:`napari_selfsup_seg.inference._tiling`),
run in batches and blended with a smooth window into per-class accumulators. Memory stays
bounded: the accumulators of one plane plus one batch of tiles.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from .._config import PredictConfig
from .._errors import InputError
from .._progress import Progress, drain
from ._input import (
    image_predict_config,
    model_predict_config,
    prepare_input,
    segmenting_model,
    stack_planes,
)
from ._seeded import plane_instances
from ._tiling import tile_grid

if TYPE_CHECKING:
    from ..io._image import ImageStack
    from ..models._factory import LoadedModel


def _autocast(device, enabled: bool):
    import contextlib

    import torch

    if enabled and device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    return contextlib.nullcontext()


#: Spatial axes flipped at test time, in the order ``PredictConfig.flips`` takes them.
FLIP_AXES: tuple[tuple[int, ...], ...] = ((), (-1,), (-2,), (-2, -1))

#: The transform (a name of :data:`~napari_selfsup_seg._config.TRANSFORMS`) of each
#: :data:`FLIP_AXES` entry.
FLIP_NAMES = ("identity", "flip_x", "flip_y", "rot180")


def flip_views(model: LoadedModel, flips: int) -> tuple[tuple[int, ...], ...]:
    """The first ``flips`` entries of :data:`FLIP_AXES` among the transforms ``model`` was
    trained on (its ``config.symmetries``): a model of light from one side (oblique, DIC) never
    saw its images turned, so the flips that turn them would only mislead it."""
    known = model.config.symmetries
    axes = [a for a, name in zip(FLIP_AXES, FLIP_NAMES) if known is None or name in known]
    return tuple(axes[:flips])


def _flipped_softmax(net, inp, views: tuple[tuple[int, ...], ...]):
    """Softmax of ``net`` on a batch ``(B, C, Y, X)``, averaged over the flips ``views``."""
    import torch

    total = None
    for axes in views:
        out = net(torch.flip(inp, axes) if axes else inp).float()
        prob = torch.softmax(out, dim=1)
        prob = torch.flip(prob, axes) if axes else prob
        total = prob if total is None else total + prob
    assert total is not None
    return total / len(views) if len(views) > 1 else total


def probabilities_iter(
    model: LoadedModel,
    x: np.ndarray,
    config: PredictConfig,
    stop: Callable[[], bool] | None = None,
    progress: tuple[int, int] = (0, 0),
) -> Generator[Progress, None, np.ndarray | None]:
    """Tiled softmax of one normalised plane, yielding after every batch of tiles.

    Parameters
    ----------
    model : LoadedModel
    x : numpy.ndarray of float32
        Shape ``(in_channels, Y, X)`` normalised plane (see :func:`prepare_input`).
    config : PredictConfig
    stop : callable, optional
        Checked before every batch; when it returns True the generator returns ``None``.
    progress : tuple of int
        ``(tiles done before this plane, total tiles)`` for the progress records.

    Returns
    -------
    numpy.ndarray of float32 or None
        Shape ``(classes, Y, X)`` probabilities summing to 1 over the classes.
    """
    import torch

    net, device = model.net, model.device
    depth = model.config.model.encoder_depth
    k = model.config.model.classes
    c, h, w = x.shape
    padded, tiles = tile_grid((h, w), config.tile_size, config.overlap, 2**depth)
    if padded != (h, w):
        x = np.pad(x, ((0, 0), (0, padded[0] - h), (0, padded[1] - w)), mode="reflect")
    ty, tx = tiles[0][2].shape
    acc = np.zeros((k, padded[0], padded[1]), np.float32)
    wsum = np.zeros(padded, np.float32)
    done0, total = progress
    bs = config.batch_size
    views = flip_views(model, config.flips)
    cuda = device.type == "cuda"
    buf = torch.empty((min(bs, len(tiles)), c, ty, tx), pin_memory=cuda)
    bufn = buf.numpy()
    was_training = net.training
    net.eval()
    try:
        for b0 in range(0, len(tiles), bs):
            if stop is not None and stop():
                return None
            batch = tiles[b0 : b0 + bs]
            for j, (y0, x0, _) in enumerate(batch):
                bufn[j] = x[:, y0 : y0 + ty, x0 : x0 + tx]
            with torch.inference_mode(), _autocast(device, config.amp):
                inp = buf[: len(batch)].to(device, non_blocking=cuda)
                prob = _flipped_softmax(net, inp, views).cpu().numpy()
            for j, (y0, x0, win) in enumerate(batch):
                acc[:, y0 : y0 + ty, x0 : x0 + tx] += prob[j] * win
                wsum[y0 : y0 + ty, x0 : x0 + tx] += win
            yield Progress("predict", done0 + b0 + len(batch), total, f"{b0 + len(batch)} tiles")
    finally:
        net.train(was_training)
    acc /= wsum
    return np.ascontiguousarray(acc[:, :h, :w])


def count_tiles(shape: tuple[int, int], config: PredictConfig, depth: int) -> int:
    """Number of tiles a ``(Y, X)`` plane is cut into."""
    return len(tile_grid(shape, config.tile_size, config.overlap, 2**depth)[1])


def predict_probabilities(
    model: LoadedModel | str | os.PathLike,
    image: np.ndarray,
    config: PredictConfig | None = None,
) -> np.ndarray:
    """Class probabilities of one plane.

    Parameters
    ----------
    model : LoadedModel or path-like
        A trained model or its MODEL_DIR.
    image : numpy.ndarray
        Shape ``(Y, X)`` or ``(C, Y, X)``, any size (smaller than a tile is padded).
    config : PredictConfig, optional

    Returns
    -------
    numpy.ndarray of float32
        Shape ``(classes, Y, X)`` softmax: background, interior, boundary.
    """
    config = config or PredictConfig()
    model = segmenting_model(model, config.device)
    x = prepare_input(model, image, channels=config.input_channels)
    probs = drain(probabilities_iter(model, x, config))
    assert probs is not None  # only a stop callback ends the generator early
    return probs


def predict_labels(
    model: LoadedModel | str | os.PathLike,
    image: np.ndarray,
    config: PredictConfig | None = None,
) -> np.ndarray:
    """Instance labels of one plane: :func:`predict_probabilities`, then instances
    (:func:`~napari_selfsup_seg.inference._seeded.plane_instances`).

    Parameters
    ----------
    model, image, config
        As for :func:`predict_probabilities`; ``config`` also holds the post-processing
        settings.

    Returns
    -------
    numpy.ndarray of int32
        Shape ``(Y, X)``, 0 = background, instances numbered 1..N.
    """
    config = config or PredictConfig()
    model = segmenting_model(model, config.device)
    x = prepare_input(model, image, channels=config.input_channels)
    probs = drain(probabilities_iter(model, x, config))
    assert probs is not None  # only a stop callback ends the generator early
    return plane_instances(model, probs, x, model_predict_config(model, config))


def predict_iter(
    model: LoadedModel | str | os.PathLike,
    planes: Sequence[np.ndarray] | np.ndarray,
    config: PredictConfig | None = None,
    stop: Callable[[], bool] | None = None,
) -> Generator[Progress, None, tuple[np.ndarray, np.ndarray]]:
    """Segment several planes, yielding a progress record after every batch of tiles.

    Parameters
    ----------
    model : LoadedModel or path-like
    planes : list of numpy.ndarray or numpy.ndarray
        ``N`` planes of the same shape, each ``(Y, X)`` or ``(C, Y, X)`` (an array ``(N, Y, X)``
        or ``(N, C, Y, X)`` works too).
    config : PredictConfig, optional
    stop : callable, optional
        Checked before every batch of tiles; when it returns True, the planes finished so far are
        returned (the first axis of the result is then shorter than ``N``).

    Returns
    -------
    labels : numpy.ndarray of int32
        Shape ``(N, Y, X)`` instances per plane.
    foreground_prob : numpy.ndarray of float32
        Shape ``(N, Y, X)``: probability of interior + boundary.
    """
    config = config or PredictConfig()
    model = segmenting_model(model, config.device)
    config = model_predict_config(model, config)
    planes = list(planes) if not isinstance(planes, np.ndarray) else planes
    if len(planes) == 0:
        raise InputError("no planes to segment")
    shape = np.shape(planes[0])[-2:]
    for i, p in enumerate(planes):
        if np.shape(p)[-2:] != shape:
            raise InputError(f"plane {i}: shape {np.shape(p)} differs from plane 0 {shape}")
    depth = model.config.model.encoder_depth
    per_plane = count_tiles(shape, config, depth)
    total = per_plane * len(planes)
    labels = np.zeros((len(planes), *shape), np.int32)
    fg = np.zeros((len(planes), *shape), np.float32)
    for i, plane in enumerate(planes):
        x = prepare_input(model, plane, f"plane {i}", config.input_channels)
        probs = yield from probabilities_iter(model, x, config, stop, (i * per_plane, total))
        if probs is None:
            return labels[:i], fg[:i]
        labels[i] = plane_instances(model, probs, x, config)
        fg[i] = probs[1:].sum(0)
        yield Progress("predict", (i + 1) * per_plane, total, f"plane {i + 1}/{len(planes)}")
    return labels, fg


def predict_stack_iter(
    model: LoadedModel | str | os.PathLike,
    stack: ImageStack,
    config: PredictConfig | None = None,
    stop: Callable[[], bool] | None = None,
    with_probability: bool = False,
) -> Generator[Progress, None, np.ndarray | tuple[np.ndarray, np.ndarray]]:
    """Segment every plane of a stack with the channels recorded in the model.

    Parameters
    ----------
    model : LoadedModel or path-like
    stack : ImageStack
        Any of ``YX``, ``CYX``, ``ZYX``, ``TZCYX``...
    config : PredictConfig, optional
        ``config.input_channels`` overrides the channels the model records;
        ``config.diameter_um`` is turned into pixels with ``stack.pixel_size``.
    stop : callable, optional
        As in :func:`predict_iter`; a stopped run raises nothing and returns the planes done.
    with_probability : bool
        Also return the foreground probability.

    Returns
    -------
    labels : numpy.ndarray of int32
        Shape ``(*stack.plane_shape, Y, X)`` (the stack without its channel axis).
    foreground_prob : numpy.ndarray of float32
        Same shape; only when ``with_probability``.
    """
    config = image_predict_config(config or PredictConfig(), stack.pixel_size, stack.name)
    model = segmenting_model(model, config.device)
    planes = stack_planes(model, stack, config.input_channels)
    # The planes hold the model's channels now: no second pick.
    planes_config = dataclasses.replace(config, input_channels=None)
    labels, fg = yield from predict_iter(model, planes, planes_config, stop)
    if len(labels) == len(planes):
        labels, fg = stack.restack(labels), stack.restack(fg)
    return (labels, fg) if with_probability else labels


def predict_stack(
    model: LoadedModel | str | os.PathLike,
    stack: ImageStack,
    config: PredictConfig | None = None,
    with_probability: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Drain :func:`predict_stack_iter`: labels shaped ``(*stack.plane_shape, Y, X)``."""
    return drain(predict_stack_iter(model, stack, config, with_probability=with_probability))
