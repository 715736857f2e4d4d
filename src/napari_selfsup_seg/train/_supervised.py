"""Training the instance U-Net on (pseudo-)masks: the loop, as a generator, and its wrapper.

Recipe: random tiles (centred on foreground most of the time), flips, 90° rotations, gamma /
scale / noise intensity changes; three-class targets (background, interior, boundary) with
unreviewed pixels ignored; cross-entropy plus soft Dice; AdamW with linear warm-up and cosine
decay; mixed precision, pinned memory and asynchronous copies on CUDA.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import random
import time
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._config import ModelBundleConfig, ModelConfig, PredictConfig, TrainConfig
from .._errors import InputError
from .._progress import PreviewProgress, Progress, TrainProgress, drain
from ..data._normalize import NormalizationConfig
from ..data._train_data import _select_channels, prepare_training_data
from ..models._factory import LoadedModel


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (CPU and CUDA) random number generators."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (libraries that use the global state)
    torch.manual_seed(seed)


def make_optimizer(net: Any, config: TrainConfig, device: Any) -> Any:
    """AdamW with the multi-tensor (CPU) or fused (CUDA) update, much faster than the default."""
    import torch

    impl = {"fused": True} if device.type == "cuda" else {"foreach": True}
    return torch.optim.AdamW(
        net.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay, **impl
    )


def learning_rate(step: int, steps: int, peak: float, warmup_fraction: float) -> float:
    """Linear warm-up to ``peak``, then cosine decay to 1 % of it, at 0-based ``step``."""
    warm = round(warmup_fraction * steps)
    if step < warm:
        return peak * (step + 1) / warm
    t = (step - warm) / max(1, steps - warm - 1)
    return peak * (0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, t))))


def _network(
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

    Yields
    ------
    TrainProgress
        Step, loss, learning rate, tiles per second, ETA.

    Returns
    -------
    LoadedModel
        Network in eval mode with its :class:`ModelBundleConfig` and training log.

    Raises
    ------
    InputError
        Mismatching shapes, all-background or all-ignore masks, NaN or constant images, a model
        to fine-tune with another number of input channels.
    """
    import torch

    from ..models._factory import pick_device

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
    val_data = None
    if validation is not None:
        v_images, v_masks = validation
        if len(v_images) != len(v_masks) or not v_images:
            raise InputError("validation needs as many masks as images (and at least one)")
        val_data = [np.asarray(m) for m in v_masks]

    seed_everything(tc.seed)
    net, mcfg, base = _network(init, model_config, n_channels, device)
    chans, names = _recorded_channels(
        np.ndim(images[0]), tc, n_channels, input_channels, input_channel_names
    )
    prov = dict(provenance or {})
    if base is not None and base.path is not None:
        prov.setdefault("init", str(base.path))
    bundle = ModelBundleConfig(
        model=mcfg,
        normalization=norm,
        input_channels=chans,
        input_channel_names=names,
        training=tc.to_dict(),
        provenance=prov,
        task="instances",
    )
    result = LoadedModel(net=net, config=bundle, device=device)

    from ..data._augment import TileSampler
    from ..models._losses import segmentation_loss

    rng = np.random.default_rng(tc.seed)
    sampler = TileSampler(xs, ts, tc.tile_size, rng, augment=tc.augment)
    cuda = device.type == "cuda"
    bs, t = tc.batch_size, tc.tile_size
    x_buf = torch.empty((bs, n_channels, t, t), dtype=torch.float32, pin_memory=cuda)
    y_buf = torch.empty((bs, t, t), dtype=torch.int64, pin_memory=cuda)
    x_np, y_np = x_buf.numpy(), y_buf.numpy()

    opt = make_optimizer(net, tc, device)
    use_amp = tc.amp and cuda
    amp_dtype = torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)
    validate_every = preview_every or max(1, tc.steps // 10)
    predict_cfg = PredictConfig(device=tc.device)

    log: list[dict[str, float]] = []
    t0 = time.perf_counter()
    net.train()
    for step in range(tc.steps):
        if stop is not None and stop():
            break
        lr = learning_rate(step, tc.steps, tc.learning_rate, tc.warmup_fraction)
        for group in opt.param_groups:
            group["lr"] = lr
        sampler.batch(bs, x_np, y_np)
        x = x_buf.to(device, non_blocking=cuda)
        y = y_buf.to(device, non_blocking=cuda)
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
            logits = net(x)
        loss = segmentation_loss(logits, y, tc.dice_weight)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        loss_value = float(loss.detach())
        if not math.isfinite(loss_value):
            raise InputError(f"training diverged at step {step + 1} (loss {loss_value})")

        done = step + 1
        elapsed = time.perf_counter() - t0
        ips = done * bs / max(elapsed, 1e-9)
        eta = elapsed / done * (tc.steps - done)
        last = done == tc.steps
        extra: dict[str, float] = {}
        labels = None
        if val_data is not None and (done % validate_every == 0 or last):
            extra.update(_validate(result, validation[0], val_data, predict_cfg))
            net.train()
        if preview_image is not None and preview_every and (done % preview_every == 0 or last):
            from ..inference._predict import predict_labels

            labels = predict_labels(result, preview_image, predict_cfg)
            net.train()
        if done % tc.log_every == 0 or last or extra or labels is not None:
            row = {"step": done, "loss": loss_value, "lr": lr, "images_per_s": ips, **extra}
            log.append(row)
            kwargs = dict(
                stage="train",
                done=done,
                total=tc.steps,
                message=f"step {done}/{tc.steps}",
                loss=loss_value,
                lr=lr,
                images_per_s=ips,
                eta_s=eta,
                extra=extra,
            )
            if labels is not None:
                yield PreviewProgress(**kwargs, labels=labels)
            else:
                yield TrainProgress(**kwargs)
    net.eval()
    result.log = log
    return result


def _recorded_channels(
    ndim: int,
    tc: TrainConfig,
    n_channels: int,
    input_channels: Sequence[int] | None,
    input_channel_names: Sequence[str] | None,
) -> tuple[list[int] | None, list[str] | None]:
    """Source channel indices and names to record in the model (see :func:`train_iter`)."""
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


def _validate(
    model: LoadedModel, images: list, masks: list[np.ndarray], config: PredictConfig
) -> dict[str, float]:
    """AP@0.5 and pixel F1 of the model on held-out images."""
    from ..evaluation._metrics import evaluate
    from ..inference._predict import predict_labels

    tc = model.config.training
    ignore = tc.get("ignore_value", 65535)
    channel = tc.get("input_channel")
    preds, gts = [], []
    for i, (img, mask) in enumerate(zip(images, masks)):
        x = _select_channels(img, i, channel)
        pred = predict_labels(model, x, config)
        gt = np.where(mask == ignore, 0, mask)
        preds.append(pred)
        gts.append(gt)
    scores = evaluate(preds, gts)
    return {"val_ap50": float(scores["ap"]["0.5"]), "val_pixel_f1": float(scores["pixel_f1"])}


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
