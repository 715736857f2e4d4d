"""What a supervised run starts from and checks against: the network (fresh, fine-tuned, or
grown from a pretrained one), the source channels recorded in the model, and the scores on
held-out images.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._config import IGNORE_LABEL, ModelConfig, PredictConfig, TrainConfig
from .._errors import InputError
from ..data._train_data import select_channel
from ..models._factory import LoadedModel


def initial_network(
    init: str | os.PathLike | LoadedModel | None,
    model_config: ModelConfig | None,
    n_channels: int,
    device: Any,
) -> tuple[Any, ModelConfig, LoadedModel | None]:
    """The network to train: fresh, or fine-tuned from an earlier model."""
    from ..models._factory import build_model, load_model

    if init is None:
        cfg = dataclasses.replace(model_config or ModelConfig(), in_channels=n_channels, classes=3)
        return build_model(cfg).to(device), cfg, None
    base = init if isinstance(init, LoadedModel) else load_model(init, device="cpu")
    bcfg = base.config.model
    if bcfg.in_channels != n_channels:
        where = base.path if base.path is not None else "the initial model"
        raise InputError(
            f"{where}: model takes {bcfg.in_channels} input channel(s) but the training images "
            f"have {n_channels}"
        )
    if bcfg.classes == 3 and base.config.task == "instances":
        net = copy.deepcopy(base.net)
        return net.to(device), bcfg, base
    # A pretrained (or other-headed) network: keep encoder and decoder, new 3-class head.
    cfg = dataclasses.replace(bcfg, classes=3, encoder_weights=None)
    net = build_model(cfg)
    state = {
        k: v for k, v in base.net.state_dict().items() if not k.startswith("segmentation_head")
    }
    missing, unexpected = net.load_state_dict(state, strict=False)
    bad = [k for k in missing if not k.startswith("segmentation_head")]
    if bad or unexpected:
        raise InputError(f"{base.path}: weights do not fit a U-Net ({len(bad)} missing)")
    return net.to(device), cfg, base


def recorded_channels(
    ndim: int,
    tc: TrainConfig,
    n_channels: int,
    input_channels: Sequence[int] | None,
    input_channel_names: Sequence[str] | None,
) -> tuple[list[int] | None, list[str] | None]:
    """Source channel indices and names to record in the model.

    See ``input_channels`` and ``input_channel_names`` of
    :func:`~napari_selfsup_seg.train._supervised.train_iter`.
    """
    if input_channels is not None:
        chans = [int(c) for c in input_channels]
        if len(chans) != n_channels or any(c < 0 for c in chans):
            raise InputError(
                f"input_channels must list {n_channels} channel index(es) >= 0 (one per network "
                f"input channel), got {chans}"
            )
    elif tc.input_channel is not None:
        chans = [int(tc.input_channel)]
    elif ndim == 3:
        chans = list(range(n_channels))
    else:
        chans = None
    if input_channel_names is None:
        return chans, None
    names = [str(n) for n in input_channel_names]
    if ndim == 3 and tc.input_channel is not None and len(names) > 1 >= n_channels:
        c = tc.input_channel
        names = [names[c]] if -len(names) <= c < len(names) else names
    if len(names) != n_channels or not all(names):
        raise InputError(
            f"input_channel_names must list {n_channels} non-empty name(s), got {names}"
        )
    return chans, names


def validate(
    model: LoadedModel, images: list, masks: list[np.ndarray], config: PredictConfig
) -> dict[str, float]:
    """AP@0.5 and pixel F1 of the model on held-out images."""
    from ..evaluation._metrics import evaluate
    from ..inference._predict import predict_labels

    tc = model.config.training
    ignore = tc.get("ignore_value", IGNORE_LABEL)
    channel = tc.get("input_channel")
    preds, gts = [], []
    for i, (img, mask) in enumerate(zip(images, masks)):
        x = select_channel(img, channel, f"image {i}")
        pred = predict_labels(model, x, config)
        gt = np.where(mask == ignore, 0, mask)
        preds.append(pred)
        gts.append(gt)
    scores = evaluate(preds, gts)
    return {"val_ap50": float(scores["ap"]["0.5"]), "val_pixel_f1": float(scores["pixel_f1"])}
