"""Training the instance U-Net on (pseudo-)masks: the objective, its generator, and a wrapper.

Recipe: random tiles (centred on foreground most of the time), flips, 90° rotations, gamma /
scale / noise intensity changes; three-class targets (background, interior, boundary) with
unreviewed pixels ignored; cross-entropy plus soft Dice; pinned memory and asynchronous copies
on CUDA. Optimiser, schedule and mixed precision are the engine's (:mod:`._engine`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._config import ModelBundleConfig, ModelConfig, PredictConfig, TrainConfig
from .._errors import InputError
from .._progress import Progress, TrainProgress, drain
from ..data._diameter import diameter_of_labels
from ..data._normalize import NormalizationConfig
from ..data._train_data import prepare_training_data
from ..models._factory import LoadedModel
from ._engine import Objective, Recipe, run, seed_everything
from ._setup import initial_network, recorded_channels, validate


class _SegmentationObjective(Objective):
    """Three-class segmentation of random augmented tiles, with validation and previews."""

    def __init__(
        self,
        result: LoadedModel,
        sampler: Any,
        tc: TrainConfig,
        validation: tuple[list, list[np.ndarray]] | None,
        preview_image: np.ndarray | None,
        preview_every: int,
    ) -> None:
        import torch

        self.result, self.sampler, self.tc = result, sampler, tc
        self.device = result.device
        self.cuda = self.device.type == "cuda"
        n_channels = result.config.model.in_channels
        bs, t = tc.batch_size, tc.tile_size
        self.x_buf = torch.empty((bs, n_channels, t, t), dtype=torch.float32, pin_memory=self.cuda)
        self.y_buf = torch.empty((bs, t, t), dtype=torch.int64, pin_memory=self.cuda)
        self.x_np, self.y_np = self.x_buf.numpy(), self.y_buf.numpy()
        self.validation = validation
        # Early stopping watches the held-out score when there is one.
        self.criterion = "val_ap50" if validation is not None else None
        self.validate_every = preview_every or max(1, tc.steps // 10)
        self.preview_image, self.preview_every = preview_image, preview_every
        self.predict_cfg = PredictConfig(device=tc.device)

    def modules(self) -> list[Any]:
        return [self.result.net]

    def loss(self, step: int) -> tuple[Any, dict[str, Any]]:
        from ..models._losses import segmentation_loss

        self.sampler.batch(self.tc.batch_size, self.x_np, self.y_np)
        x = self.x_buf.to(self.device, non_blocking=self.cuda)
        y = self.y_buf.to(self.device, non_blocking=self.cuda)
        return segmentation_loss(self.result.net(x), y, self.tc.dice_weight), {}

    def after_step(self, done: int, last: bool) -> tuple[dict[str, float], Any]:
        extra: dict[str, float] = {}
        labels = None
        if self.validation is not None and (done % self.validate_every == 0 or last):
            extra.update(validate(self.result, *self.validation, self.predict_cfg))
            self.result.net.train()
        every = self.preview_every
        if self.preview_image is not None and every and (done % every == 0 or last):
            from ..inference._predict import predict_labels

            labels = predict_labels(self.result, self.preview_image, self.predict_cfg)
            self.result.net.train()
        return extra, labels


def train_iter(
    images: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    train_config: TrainConfig | None = None,
    model_config: ModelConfig | None = None,
    normalization: NormalizationConfig | None = None,
    init: str | Path | LoadedModel | None = None,
    provenance: dict | None = None,
    stop: Callable[[], bool] | None = None,
    preview_image: np.ndarray | None = None,
    preview_every: int = 0,
    validation: tuple[list, list] | None = None,
    input_channels: Sequence[int] | None = None,
    input_channel_names: Sequence[str] | None = None,
    preferred_boxes: Sequence[tuple[int, Sequence[int]]] = (),
    preferred_fraction: float = 0.5,
    seed_channel: int | None = None,
    seed_diameter: float | None = None,
) -> Generator[TrainProgress, None, LoadedModel]:
    """Train (or fine-tune) the instance U-Net, yielding one record per step.

    Parameters
    ----------
    images : list of numpy.ndarray
        Each ``(Y, X)`` or ``(C, Y, X)``; with ``train_config.input_channel`` set, that channel
        is taken from ``(C, Y, X)`` images. Smaller than a tile is padded.
    masks : list of numpy.ndarray of int
        Each ``(Y, X)`` instance labels (0 = background); pixels equal to
        ``train_config.ignore_value`` are unreviewed and add nothing to the loss.
    train_config : TrainConfig, optional
        The recipe (steps, batch, tile, learning rate, seed, device...).
    model_config : ModelConfig, optional
        Architecture of a new network (``in_channels`` is set from the images); ignored when
        ``init`` is given.
    normalization : NormalizationConfig, optional
        Intensity scaling (the ``init`` model's by default, else 1-99.8 percentiles).
    init : path-like or LoadedModel, optional
        Fine-tune from this model; its architecture wins. A ``"pretrained"`` model keeps its
        encoder and decoder and gets a new 3-class head.
    provenance : dict, optional
        Where the masks came from; saved in the model config.
    stop : callable, optional
        Checked every step; when it returns True, the model trained so far is returned.
    preview_image : numpy.ndarray, optional
        ``(Y, X)`` or ``(C, Y, X)`` image predicted every ``preview_every`` steps; those steps
        yield a :class:`~napari_selfsup_seg._progress.PreviewProgress` with its labels.
    preview_every : int
        Steps between previews (0: none). Also the validation interval.
    validation : tuple of (list, list), optional
        Held-out ``(images, masks)``; AP@0.5 and pixel F1 on them are put into the records'
        ``extra`` (``val_ap50``, ``val_pixel_f1``) every ``preview_every`` steps (every tenth of
        the run when 0) and at the end.
    input_channels : sequence of int, optional
        Index of each network input channel in the source files, recorded in the model so that
        prediction can pick them from multi-channel files, e.g. ``[1]`` for ``(Y, X)`` images
        taken from channel 1. By default ``[train_config.input_channel]`` when that is set, all
        channels for ``(C, Y, X)`` images, else nothing.
    input_channel_names : sequence of str, optional
        Names of those channels in the source files (one per input channel; for ``(C, Y, X)``
        images with ``train_config.input_channel`` set, the names of all ``C`` channels may be
        given instead). Recorded so that prediction finds the channels by name.
    preferred_boxes : sequence of (int, (y0, x0, y1, x1))
        Regions (image index, box) that training tiles cover more often, e.g. reviewed tiles.
    preferred_fraction : float
        Fraction of the tiles drawn over ``preferred_boxes`` (when there are any).
    seed_channel, seed_diameter : optional
        The network input channel holding the nuclear stain whose nuclei seeded the cell masks,
        and their diameter, recorded so that prediction grows cells from nuclei (see
        :class:`~napari_selfsup_seg._config.ModelBundleConfig`); by default the ``init``
        model's.

    Yields
    ------
    TrainProgress
        Step, loss, learning rate, tiles per second, ETA.

    Returns
    -------
    LoadedModel
        Network in eval mode with its :class:`ModelBundleConfig` and training log; its
        provenance's ``training_end`` says how many steps ran and why training ended
        (``reason``: ``"plateau"`` with ``train_config.early_stop``, ``"max_steps"`` or
        ``"stopped"``; see :class:`~napari_selfsup_seg.train._engine.RunSummary`).

    Raises
    ------
    InputError
        Mismatching shapes, all-background or all-ignore masks, NaN or constant images, a model
        to fine-tune with another number of input channels.
    """
    from ..data._augment import TileSampler
    from ..data._symmetry import training_symmetries
    from ..models._device import pick_device

    tc = train_config or TrainConfig()
    device = pick_device(tc.device)
    base_norm = None
    if isinstance(init, LoadedModel):
        base_norm = init.config.normalization
    elif init is not None:
        from ..models._factory import read_model_config

        base_norm = read_model_config(init).normalization
    norm = normalization or base_norm or NormalizationConfig()
    xs, ts = prepare_training_data(images, masks, tc, norm)
    n_channels = xs[0].shape[0]
    held_out = None
    if validation is not None:
        v_images, v_masks = validation
        if len(v_images) != len(v_masks) or not v_images:
            raise InputError("validation needs as many masks as images (and at least one)")
        held_out = (v_images, [np.asarray(m) for m in v_masks])

    seed_everything(tc.seed)
    net, mcfg, base = initial_network(init, model_config, n_channels, device)
    chans, names = recorded_channels(
        np.ndim(images[0]), tc, n_channels, input_channels, input_channel_names
    )
    prov = dict(provenance or {})
    if base is not None and base.path is not None:
        prov.setdefault("init", str(base.path))
    if base is not None and seed_channel is None:
        seed_channel, seed_diameter = base.config.seed_channel, base.config.seed_diameter
    diameter = diameter_of_labels(masks, tc.ignore_value)
    inherited = base.config.symmetries if base is not None else None
    symmetries = training_symmetries(tc.symmetry, xs, masks, tc.ignore_value, diameter, inherited)
    bundle = ModelBundleConfig(
        model=mcfg,
        normalization=norm,
        input_channels=chans,
        input_channel_names=names,
        training=tc.to_dict(),
        provenance=prov,
        task="instances",
        diameter=diameter,
        seed_channel=seed_channel,
        seed_diameter=seed_diameter,
        symmetries=list(symmetries),
    )
    result = LoadedModel(net=net, config=bundle, device=device)
    sampler = TileSampler(
        xs, ts, tc.tile_size, np.random.default_rng(tc.seed), augment=tc.augment,
        preferred=preferred_boxes, preferred_fraction=preferred_fraction, transforms=symmetries,
    )  # fmt: skip
    objective = _SegmentationObjective(result, sampler, tc, held_out, preview_image, preview_every)
    summary = yield from run(objective, Recipe.of(tc), device, stop)
    result.log = summary.log
    ended = {**summary.ended, "seconds": round(summary.seconds, 2)}
    result.config.provenance["training_end"] = ended
    return result


def train(
    images: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    *,
    steps: int | None = None,
    model_dir: str | os.PathLike | None = None,
    callback: Callable[[Progress], Any] | None = None,
    train_config: TrainConfig | None = None,
    **kwargs: Any,
) -> LoadedModel:
    """Train to the end (see :func:`train_iter`) and optionally save the model.

    Parameters
    ----------
    images, masks
        As for :func:`train_iter`.
    steps : int, optional
        Overrides ``train_config.steps``.
    model_dir : path-like, optional
        Save the trained model there.
    callback : callable, optional
        Called with every progress record.
    train_config : TrainConfig, optional
        The recipe; keyword arguments naming its fields (``batch_size=4``, ``seed=1``...)
        override it.
    **kwargs
        :class:`TrainConfig` field overrides, or any other argument of :func:`train_iter`.

    Returns
    -------
    LoadedModel
    """
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    overrides = {k: kwargs.pop(k) for k in list(kwargs) if k in fields}
    if steps is not None:
        overrides["steps"] = steps
    tc = train_config or TrainConfig()
    if overrides:
        tc = TrainConfig.from_dict({**tc.to_dict(), **overrides})
    model = drain(train_iter(images, masks, tc, **kwargs), callback)
    if model_dir is not None:
        model.save(model_dir)
    return model
