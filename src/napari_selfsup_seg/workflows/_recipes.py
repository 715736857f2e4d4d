"""Whole workflows in one call.

:func:`fluorescence_to_brightfield` follows Fishman et al. 2021 (J. Microscopy, doi
10.1111/jmi.13038): nuclei in a DNA-stained fluorescent channel are segmented by a classical
threshold pipeline, and those masks train a U-Net whose input is the *brightfield* channel of
the same fields, so the model then segments plates that were never stained. The brightfield
input is flattened for transmitted light by default (division by a wide background, local
contrast; widths from the diameter of the fluorescence masks), recorded in the model so that
prediction does the same.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._config import ModelConfig, NormalizationConfig, TrainConfig
from .._errors import InputError
from .._progress import Progress, drain
from ..io._image import ImageStack
from ..pseudo._threshold import ThresholdConfig, threshold_pseudo_mask

if TYPE_CHECKING:
    from ..models._factory import LoadedModel


def _channel_planes(stack_or_images) -> np.ndarray | list[np.ndarray]:
    """All planes as ``(N, C, Y, X)`` from an ImageStack, an array or a list of arrays."""
    if isinstance(stack_or_images, ImageStack):
        if "C" not in stack_or_images.axes:
            raise InputError(f"{stack_or_images.name}: needs a channel axis (brightfield + stain)")
        return stack_or_images.planes()
    if isinstance(stack_or_images, np.ndarray):
        arr = stack_or_images
        if arr.ndim < 3:
            raise InputError(f"expected (..., C, Y, X) with channels, got shape {arr.shape}")
        return arr.reshape(-1, *arr.shape[-3:])
    planes: list[np.ndarray] = []
    for i, img in enumerate(stack_or_images):
        img = np.asarray(img)
        if img.ndim < 3:
            raise InputError(f"image {i}: expected (C, Y, X) with channels, got shape {img.shape}")
        planes.extend(img.reshape(-1, *img.shape[-3:]))
    if not planes:
        raise InputError("no images given")
    return planes


def fluorescence_to_brightfield_iter(
    stack_or_images: ImageStack | np.ndarray | Sequence[np.ndarray],
    fluorescence_channel: int,
    brightfield_channel: int,
    threshold_config: ThresholdConfig | None = None,
    train_config: TrainConfig | None = None,
    model_config: ModelConfig | None = None,
    stop: Callable[[], bool] | None = None,
    normalization: NormalizationConfig | None = None,
) -> Generator[Progress, None, tuple[LoadedModel, list[np.ndarray]]]:
    """Masks from the fluorescent channel train a brightfield model (progress generator).

    Parameters
    ----------
    stack_or_images : ImageStack, numpy.ndarray or list of numpy.ndarray
        Multi-channel planes: an :class:`~napari_selfsup_seg.io._image.ImageStack` with a channel
        axis, an array ``(..., C, Y, X)``, or a list of ``(C, Y, X)`` / ``(Z, C, Y, X)`` arrays.
    fluorescence_channel : int
        Channel with the nuclear stain (masks are made from it).
    brightfield_channel : int
        Channel the model learns to segment from.
    threshold_config : ThresholdConfig, optional
        Pseudo-mask recipe for the fluorescent channel.
    train_config : TrainConfig, optional
        Training recipe; its ``input_channel`` is set to ``brightfield_channel``.
    model_config : ModelConfig, optional
        Architecture of the new network.
    stop : callable, optional
        Checked every plane and every training step.
    normalization : NormalizationConfig, optional
        Input scaling of the brightfield; by default
        :func:`~napari_selfsup_seg.data._normalize.transmitted_light_normalization` of the
        masks (flat field and local contrast sized from the nuclei, then percentiles).

    Yields
    ------
    Progress
        ``pseudo-mask`` records (one per plane), then the training records.

    Returns
    -------
    (LoadedModel, list of numpy.ndarray)
        The brightfield model (its config records input channel and provenance) and the
        fluorescence pseudo-masks ``(Y, X)``, one per plane read (in order; all background
        where the stain showed no nucleus: such planes are not trained on).

    Raises
    ------
    InputError
        Missing channel axis, channels out of range or equal, no plane with any nucleus.
    """
    from ..data._normalize import transmitted_light_normalization
    from ..train._supervised import train_iter

    planes = _channel_planes(stack_or_images)
    n_channels = planes[0].shape[0]
    for name, c in (("fluorescence", fluorescence_channel), ("brightfield", brightfield_channel)):
        if not -n_channels <= c < n_channels:
            raise InputError(f"{name}_channel {c} out of range (images have {n_channels})")
    if fluorescence_channel % n_channels == brightfield_channel % n_channels:
        raise InputError("fluorescence_channel and brightfield_channel must differ")
    tcfg = threshold_config or ThresholdConfig()
    every, masks, images, empty = [], [], [], 0
    for i, plane in enumerate(planes):
        if stop is not None and stop():
            break
        labels, _ = threshold_pseudo_mask(plane[fluorescence_channel], tcfg)
        every.append(labels)
        if labels.any():
            # A stain plane without nuclei is more likely a failed stain than an empty field:
            # it does not teach the brightfield model "background".
            masks.append(labels)
            images.append(plane)
        else:
            empty += 1
        yield Progress("pseudo-mask", i + 1, len(planes), f"{int(labels.max())} nuclei")
    if not masks:
        raise InputError("no nucleus found in the fluorescence channel of any plane")
    base = train_config or TrainConfig()
    tc = TrainConfig.from_dict({**base.to_dict(), "input_channel": int(brightfield_channel)})
    provenance: dict[str, Any] = {
        "method": "fluorescence_to_brightfield",
        "fluorescence_channel": int(fluorescence_channel),
        "brightfield_channel": int(brightfield_channel),
        "threshold": dataclasses.asdict(tcfg),
        "planes": len(planes),
        "planes_without_nuclei": empty,
    }
    norm = normalization or transmitted_light_normalization(masks)
    model = yield from train_iter(
        images,
        masks,
        tc,
        model_config=model_config,
        normalization=norm,
        provenance=provenance,
        stop=stop,
    )
    return model, every


def fluorescence_to_brightfield(
    stack_or_images: ImageStack | np.ndarray | Sequence[np.ndarray],
    fluorescence_channel: int,
    brightfield_channel: int,
    threshold_config: ThresholdConfig | None = None,
    train_config: TrainConfig | None = None,
    model_config: ModelConfig | None = None,
    model_dir: str | os.PathLike | None = None,
    callback: Callable[[Progress], Any] | None = None,
    stop: Callable[[], bool] | None = None,
    normalization: NormalizationConfig | None = None,
) -> LoadedModel:
    """One call: threshold masks from the fluorescent channel train a brightfield U-Net.

    Parameters
    ----------
    stack_or_images, fluorescence_channel, brightfield_channel, threshold_config, train_config,
    model_config, stop, normalization
        As for :func:`fluorescence_to_brightfield_iter`.
    model_dir : path-like, optional
        Save the trained model there.
    callback : callable, optional
        Called with every progress record.

    Returns
    -------
    LoadedModel
        The model; predict with e.g. :func:`~napari_selfsup_seg.inference._predict.predict_stack`
        (it picks the brightfield channel itself) or
        ``predict_labels(model, brightfield_plane)``.

    Examples
    --------
    >>> from napari_selfsup_seg import api
    >>> image, _ = api.make_sample_stack(4)                           # (Z, 2, Y, X)
    >>> model = fluorescence_to_brightfield(image, 1, 0)              # doctest: +SKIP
    """
    model, _ = drain(
        fluorescence_to_brightfield_iter(
            stack_or_images,
            fluorescence_channel,
            brightfield_channel,
            threshold_config,
            train_config,
            model_config,
            stop,
            normalization,
        ),
        callback,
    )
    if model_dir is not None:
        model.save(model_dir)
    return model
