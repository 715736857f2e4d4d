"""Train on (corrected) masks, save the model, then predict every frame: the Train widget's job.

:func:`train_and_predict_iter` takes arrays and configs (never napari layers): the frames of one
image stack and their masks, which frames to use, which ones a user reviewed, and whether to
hold one reviewed frame out for validation. It checks the request at once (so a bad request is
refused before anything runs), then returns a generator that yields the training records
(with previews of one frame), a ``"save"`` record, the prediction records, and returns a
:class:`TrainPredictResult`.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._config import ModelConfig, PredictConfig, TrainConfig
from .._errors import InputError
from .._progress import Progress
from ._boxes import as_box

if TYPE_CHECKING:
    from ..models._factory import LoadedModel

#: Smallest tile used to predict after training (larger tiles have fewer seams).
MIN_PREDICT_TILE = 256


@dataclass
class TrainPredictResult:
    """What :func:`train_and_predict_iter` returns.

    Attributes
    ----------
    model : LoadedModel
        The trained network (``model.path`` is the folder it was saved to, if any).
    labels : numpy.ndarray of int32
        Shape ``(N, Y, X)``: the prediction of every frame of the input.
    train_frames : list of int
        Frames trained on.
    held_out : list of int
        Frames held out for validation (empty or one frame).
    """

    model: LoadedModel
    labels: np.ndarray
    train_frames: list[int] = field(default_factory=list)
    held_out: list[int] = field(default_factory=list)


def split_frames(
    frames: Sequence[int], reviewed: Sequence[int] = (), hold_out: bool = False
) -> tuple[list[int], list[int]]:
    """Choose the frames to train on and the one to hold out for validation.

    Parameters
    ----------
    frames : sequence of int
        Frames to use (e.g. the planes chosen in the Data widget).
    reviewed : sequence of int
        Frames a user reviewed, in the order they were reviewed or sorted; only reviewed frames
        are held out, since only their masks can be trusted as a reference.
    hold_out : bool
        Hold out the last reviewed frame among ``frames``.

    Returns
    -------
    (list of int, list of int)
        Training frames and held-out frames.

    Raises
    ------
    InputError
        Hold-out asked without a reviewed frame, or no frame left to train on.
    """
    use = list(frames)
    held: list[int] = []
    if hold_out:
        candidates = [k for k in reviewed if k in use]
        if not candidates:
            raise InputError("no reviewed frame to hold out (accept a frame in Correct)")
        held = [candidates[-1]]
    train = [k for k in use if k not in held]
    if not train:
        raise InputError("no frame left to train on after holding out the validation frame")
    return train, held


def train_and_predict_iter(
    images: np.ndarray,
    masks: np.ndarray,
    train_config: TrainConfig | None = None,
    model_config: ModelConfig | None = None,
    *,
    frames: Sequence[int] | None = None,
    reviewed: Sequence[int] = (),
    reviewed_boxes: Mapping[int, Sequence[Sequence[int]]] | None = None,
    hold_out: bool = False,
    init: str | Path | None = None,
    save_dir: str | Path | None = None,
    predict_config: PredictConfig | None = None,
    provenance: dict[str, Any] | None = None,
    stop: Callable[[], bool] | None = None,
    preview_frame: int | None = None,
    preview_every: int = 0,
    input_channels: Sequence[int] | None = None,
    input_channel_names: Sequence[str] | None = None,
    seeds: np.ndarray | None = None,
    seed_diameter: float | None = None,
) -> Generator[Progress, None, TrainPredictResult]:
    """Train the instance U-Net on some frames, save it, then predict all frames.

    The request is checked when this is called; the work runs as the generator is iterated.

    Parameters
    ----------
    images : numpy.ndarray
        Shape ``(N, Y, X)``: every frame of the input image (used as float32).
    masks : numpy.ndarray of int
        Shape ``(N, Y, X)``: instance masks (0 background, ``IGNORE_LABEL`` unreviewed).
    train_config, model_config : TrainConfig, ModelConfig, optional
        The recipe and the architecture (their defaults when omitted).
    frames : sequence of int, optional
        Frames to train on (and hold out from); all by default.
    reviewed : sequence of int
        Frames a user reviewed (see :func:`split_frames`).
    reviewed_boxes : mapping of int to sequence of boxes, optional
        Tiles a user reviewed, ``{frame: [(y0, x0, y1, x1), ...]}`` (the Correct widget's
        "Accept tile"): training draws half of its tiles over them (those of training frames).
    hold_out : bool
        Hold the last reviewed frame out of training and report AP@0.5 and pixel F1 on it.
    init : path-like, optional
        Model folder to fine-tune from (checked now).
    save_dir : path-like, optional
        Folder to save the model into (also after ``stop``).
    predict_config : PredictConfig, optional
        By default tiles of at least :data:`MIN_PREDICT_TILE` px on the training device.
    provenance : dict, optional
        Recorded in the model, with ``"frames"``, ``"held_out"`` and ``"reviewed"`` (the
        training frames a user reviewed) added.
    stop : callable, optional
        Ends training within one step; the model trained so far is saved and predicts.
    preview_frame : int, optional
        Frame predicted every ``preview_every`` steps (records with ``labels``).
    preview_every : int
        Steps between previews and validations (0: none).
    input_channels, input_channel_names : sequence, optional
        Channel of the source file the frames come from (recorded in the model); with
        ``seeds``, one per network input: the cell channel's, then the seeds'.
    seeds : numpy.ndarray, optional
        Shape ``(N, Y, X)``: a nuclear stain whose nuclei seeded the (whole-cell) masks. It
        becomes the network's second input channel, recorded as its ``seed_channel``, so that
        prediction grows one cell per nucleus (see
        :mod:`~napari_selfsup_seg.inference._seeded`).
    seed_diameter : float, optional
        Diameter of those nuclei in pixels; by default that of the threshold teacher's nuclei
        of the training frames' seeds (:func:`~napari_selfsup_seg.pseudo._cells.nuclei_of`).

    Yields
    ------
    Progress
        Training records (``TrainProgress``, some with ``labels``), ``"save"``, prediction.

    Returns
    -------
    TrainPredictResult

    Raises
    ------
    InputError
        Mismatching shapes, no frame to train on or to hold out, an unreadable ``init``; at
        iteration, whatever training refuses (e.g. all-background masks).
    """
    images = np.asarray(images, dtype=np.float32)
    masks = np.asarray(masks)
    if images.ndim != 3 or images.shape != masks.shape:
        raise InputError(
            f"masks of shape {masks.shape} do not match images of shape {images.shape} "
            "(both must be (N, Y, X))"
        )
    if seeds is not None:
        seeds = np.asarray(seeds, dtype=np.float32)
        if seeds.shape != images.shape:
            raise InputError(
                f"seeds of shape {seeds.shape} do not match images of shape {images.shape}"
            )
        images = np.stack([images, seeds], axis=1)  # (N, 2, Y, X): cells, nuclei
    n = images.shape[0]
    train_idx, val_idx = split_frames(range(n) if frames is None else frames, reviewed, hold_out)
    if init is not None:
        from ..models._factory import read_model_config

        read_model_config(init)
    tc = train_config or TrainConfig()
    predict = predict_config or PredictConfig(
        tile_size=max(MIN_PREDICT_TILE, tc.tile_size), device=tc.device
    )
    prov = {
        **(provenance or {}),
        "frames": train_idx,
        "held_out": val_idx,
        "reviewed": [k for k in reviewed if k in train_idx],  # masks corrected by hand
    }
    preferred = [
        (train_idx.index(int(k)), as_box(b, masks.shape[1:], f"reviewed tile of frame {k}"))
        for k, boxes in sorted((reviewed_boxes or {}).items())
        if int(k) in train_idx
        for b in boxes
    ]
    if preferred:
        prov["reviewed_tiles"] = len(preferred)

    def run() -> Generator[Progress, None, TrainPredictResult]:
        from ..inference._predict import predict_iter
        from ..train._supervised import train_iter

        seeding: dict[str, Any] = {}
        if seeds is not None:
            seeding = {"seed_channel": 1, "seed_diameter": seed_diameter}
            if seed_diameter is None:
                seeding["seed_diameter"] = _nucleus_diameter([seeds[k] for k in train_idx])
        validation = (
            ([images[k] for k in val_idx], [masks[k] for k in val_idx]) if val_idx else None
        )
        model = yield from train_iter(
            [images[k] for k in train_idx],
            [masks[k] for k in train_idx],
            train_config=tc,
            model_config=model_config,
            init=init,
            provenance=prov,
            stop=stop,
            preview_image=None if preview_frame is None else images[preview_frame],
            preview_every=preview_every,
            validation=validation,
            input_channels=input_channels,
            input_channel_names=input_channel_names,
            preferred_boxes=preferred,
            **seeding,
        )
        if save_dir is not None:
            model.save(save_dir)
            yield Progress("save", 1, 1, str(save_dir))
        labels, _ = yield from predict_iter(model, images, predict)
        return TrainPredictResult(model, np.asarray(labels, np.int32), train_idx, val_idx)

    return run()


def _nucleus_diameter(seed_planes: list[np.ndarray]) -> float | None:
    """Median diameter of the threshold teacher's nuclei in nuclear-stain planes."""
    from ..data._diameter import diameter_of_labels
    from ..pseudo._cells import nuclei_of

    return diameter_of_labels([nuclei_of(plane) for plane in seed_planes])
