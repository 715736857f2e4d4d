"""What a network is fed: a loaded model from a model or its folder, and input planes with the
model's channels, normalised as in training.

Channels are picked by :func:`napari_selfsup_seg.models._channels.model_channels` (by override,
name or index) and scaled by :func:`napari_selfsup_seg.data._normalize.percentile_normalize`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .._errors import InputError
from ..data._normalize import percentile_normalize
from ..models._channels import model_channels

if TYPE_CHECKING:
    from .._config import PredictConfig
    from ..io._image import ImageStack
    from ..models._factory import LoadedModel


def as_model(model: LoadedModel | str | os.PathLike, device: str = "auto") -> LoadedModel:
    """A :class:`LoadedModel` from either a loaded model or a MODEL_DIR path."""
    from ..models._factory import LoadedModel, load_model

    if isinstance(model, LoadedModel):
        return model
    if isinstance(model, (str, os.PathLike, Path)):
        return load_model(model, device=device)
    raise InputError(f"expected a model folder or a LoadedModel, got {type(model).__name__}")


def segmenting_model(model: LoadedModel | str | os.PathLike, device: str = "auto") -> LoadedModel:
    """Like :func:`as_model`, refusing a model that does not segment (e.g. a pretrained one)."""
    model = as_model(model, device)
    if model.config.task != "instances":
        where = model.path or "this model"
        raise InputError(
            f"{where}: a {model.config.task} model does not segment; "
            "fine-tune it first (train --init)"
        )
    return model


def image_predict_config(
    config: PredictConfig, pixel_size: tuple[float, float] | None, name: str
) -> PredictConfig:
    """``config`` with its ``diameter_um`` turned into ``diameter`` pixels of one image.

    Parameters
    ----------
    config : PredictConfig
    pixel_size : tuple of float or None
        ``(y, x)`` pixel size of the image in micrometres.
    name : str
        The image's file name, for the error message.

    Raises
    ------
    InputError
        ``diameter_um`` is set and the image has no pixel size, or it is under one pixel.
    """
    from ..io._stack import micrometres_to_pixels

    if config.diameter_um is None:
        return config
    px = micrometres_to_pixels(config.diameter_um, pixel_size, name)
    if px < 1.0:
        raise InputError(
            f"{name}: a diameter of {config.diameter_um:g} µm is {px:.2g} pixels at the "
            "file's pixel size, under one pixel"
        )
    return dataclasses.replace(config, diameter=round(px, 2), diameter_um=None)


def used_diameter(model: LoadedModel, config: PredictConfig) -> float | None:
    """The object diameter in pixels that sizes the post-processing: ``config``'s or the
    model's recorded one (``None``: neither has one, fixed sizes are used)."""
    return config.diameter if config.diameter is not None else model.config.diameter


def model_predict_config(model: LoadedModel, config: PredictConfig) -> PredictConfig:
    """``config`` with the model's recorded object diameter when it names none itself."""
    if config.diameter_um is not None:
        raise InputError(
            "a diameter in micrometres needs the image's pixel size: segment an image read "
            "from its file (predict_stack), or give the diameter in pixels"
        )
    if config.diameter is None and model.config.diameter is not None:
        return dataclasses.replace(config, diameter=model.config.diameter)
    return config


def prepare_input(
    model: LoadedModel,
    image: np.ndarray,
    name: str = "image",
    channels: Sequence[int] | None = None,
) -> np.ndarray:
    """Pick the model's input channels from one plane and normalise them.

    Parameters
    ----------
    model : LoadedModel
    image : numpy.ndarray
        Shape ``(Y, X)`` or ``(C, Y, X)``. Without ``channels``, a ``(C, Y, X)`` plane with
        exactly the model's number of input channels is used as it is; otherwise the channels
        recorded in the model (``input_channels``) are taken from it.
    name : str
        Used in error messages.
    channels : sequence of int, optional
        Channel indices to take instead of the model's.

    Returns
    -------
    numpy.ndarray of float32
        Shape ``(in_channels, Y, X)``, normalised as in training.
    """
    image = np.asarray(image)
    n_in = model.config.model.in_channels
    if image.ndim == 2:
        image = image[np.newaxis]
    if image.ndim != 3:
        raise InputError(f"{name}: expected a (Y, X) or (C, Y, X) plane, got shape {image.shape}")
    if image.dtype.kind not in "uifb":
        raise InputError(f"{name}: unsupported pixel type {image.dtype}")
    c = image.shape[0]
    if c != n_in or channels is not None:
        chans = model_channels(model, c, (), name, channels)
        if chans is not None:
            image = image[chans]
    return percentile_normalize(image, model.config.normalization, name)


def stack_planes(
    model: LoadedModel, stack: ImageStack, channels: Sequence[int] | None = None
) -> np.ndarray:
    """The planes of a stack with the model's input channels, ``(N, C, Y, X)``.

    Channels are picked by name when the model and the file both name them, else by index (see
    :func:`model_channels`); ``channels`` overrides the model's choice.

    Raises
    ------
    InputError
        The stack lacks a channel the model was trained on, or its channel count does not fit.
    """
    chans = model_channels(model, stack.n_channels, stack.channel_names, stack.name, channels)
    return stack.planes(chans)
