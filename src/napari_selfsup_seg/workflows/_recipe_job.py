"""The fluorescence-to-brightfield recipe on two aligned stacks, saved and predicted: one job.

:func:`brightfield_from_stain_iter` takes the planes of a nuclear-stain stack and of the
brightfield stack of the same fields (arrays, never napari layers), runs
:func:`~napari_selfsup_seg.workflows._recipes.fluorescence_to_brightfield_iter` on them, saves the
model, then predicts every brightfield plane. The Pseudo-masks widget runs it in a thread worker.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._config import ModelConfig, PredictConfig, TrainConfig
from .._errors import InputError
from .._progress import Progress
from ..pseudo._threshold import ThresholdConfig
from ._recipes import fluorescence_to_brightfield_iter
from ._train_and_predict import MIN_PREDICT_TILE, TrainPredictResult


@dataclass
class BrightfieldRecipeResult(TrainPredictResult):
    """What :func:`brightfield_from_stain_iter` returns.

    Attributes
    ----------
    model, labels
        As in :class:`TrainPredictResult`: the brightfield model and its prediction of every
        brightfield plane, ``(N, Y, X)`` int32.
    pseudo_masks : numpy.ndarray of int32
        Shape ``(N, Y, X)``: the fluorescence pseudo-masks the model was trained on (0 on
        planes without any nucleus or not reached before Stop).
    """

    pseudo_masks: np.ndarray | None = None


def stack_channels(
    fluorescence: np.ndarray, brightfield: np.ndarray, channels: tuple[int, int] = (1, 0)
) -> np.ndarray:
    """Two ``(N, Y, X)`` stacks as one ``(N, C, Y, X)`` array, each at its channel index.

    Parameters
    ----------
    fluorescence, brightfield : numpy.ndarray
        Shape ``(N, Y, X)`` each, the same.
    channels : tuple of int
        Channel index of the fluorescence and of the brightfield, e.g. their channels in the
        source file, so the model records the brightfield channel of that file. Other channels
        (when the indices leave a gap) are zero.

    Raises
    ------
    InputError
        Different shapes, or the same channel twice.
    """
    if fluorescence.shape != brightfield.shape:
        raise InputError(
            f"the fluorescence {fluorescence.shape} and brightfield {brightfield.shape} "
            "stacks differ in shape"
        )
    fl, bf = (int(c) for c in channels)
    if fl == bf or min(fl, bf) < 0:
        raise InputError(f"fluorescence and brightfield need two channels, got {channels}")
    dtype = np.result_type(fluorescence.dtype, brightfield.dtype)
    out = np.zeros((fluorescence.shape[0], max(fl, bf) + 1, *fluorescence.shape[1:]), dtype)
    out[:, fl], out[:, bf] = fluorescence, brightfield
    return out


def brightfield_from_stain_iter(
    fluorescence: np.ndarray,
    brightfield: np.ndarray,
    threshold_config: ThresholdConfig | None = None,
    train_config: TrainConfig | None = None,
    model_config: ModelConfig | None = None,
    *,
    channels: tuple[int, int] = (1, 0),
    frames: Sequence[int] | None = None,
    save_dir: str | Path | None = None,
    provenance: dict[str, Any] | None = None,
    stop: Callable[[], bool] | None = None,
) -> Generator[Progress, None, BrightfieldRecipeResult]:
    """Pseudo-masks of the stain train a brightfield model; save it and predict every plane.

    The inputs are checked when this is called; the work runs as the generator is iterated.

    Parameters
    ----------
    fluorescence, brightfield : numpy.ndarray
        Shape ``(N, Y, X)`` each: the nuclear stain and the brightfield of the same fields.
    threshold_config, train_config, model_config : optional
        As for :func:`~napari_selfsup_seg.workflows._recipes.fluorescence_to_brightfield_iter`.
    channels : tuple of int
        Channel index of the fluorescence and of the brightfield (see :func:`stack_channels`).
    frames : sequence of int, optional
        Planes to make pseudo-masks of and train on (all by default); every plane is predicted.
    save_dir : path-like, optional
        Folder the model is saved into (also after Stop).
    provenance : dict, optional
        Added to the model's provenance (e.g. the layer names).
    stop : callable, optional
        Ends the pseudo-masks or training within one step; the model trained so far is saved
        and predicts.

    Yields
    ------
    Progress
        ``pseudo-mask`` records (one per plane), training records, ``save``, prediction.

    Returns
    -------
    BrightfieldRecipeResult

    Raises
    ------
    InputError
        Different shapes, not ``(N, Y, X)`` or frames out of range (now); at iteration, no
        nucleus in any plane.
    """
    fluorescence, brightfield = np.asarray(fluorescence), np.asarray(brightfield)
    if fluorescence.ndim != 3:
        raise InputError(f"expected (N, Y, X) planes, got shape {fluorescence.shape}")
    stack = stack_channels(fluorescence, brightfield, channels)
    use = list(range(len(stack))) if frames is None else [int(k) for k in frames]
    if not use or not all(0 <= k < len(stack) for k in use):
        raise InputError(f"frames {use} do not fit a stack of {len(stack)} planes")
    tc = train_config or TrainConfig()
    predict = PredictConfig(tile_size=max(MIN_PREDICT_TILE, tc.tile_size), device=tc.device)

    def run() -> Generator[Progress, None, BrightfieldRecipeResult]:
        from ..inference._predict import predict_iter

        job = fluorescence_to_brightfield_iter(
            stack[use], channels[0], channels[1], threshold_config, tc, model_config, stop
        )
        model, masks = yield from job
        model.config.provenance.update(provenance or {})
        if save_dir is not None:
            model.save(save_dir)
            yield Progress("save", 1, 1, str(save_dir))
        pseudo = np.zeros(brightfield.shape, np.int32)
        for k, mask in zip(use, masks):
            pseudo[k] = mask
        labels, _ = yield from predict_iter(model, brightfield, predict)
        return BrightfieldRecipeResult(model, np.asarray(labels, np.int32), pseudo_masks=pseudo)

    return run()
