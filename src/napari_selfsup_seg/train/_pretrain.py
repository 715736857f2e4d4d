"""Self-supervised pretraining of the whole U-Net on the user's own unlabelled images.

The network (encoder *and* decoder, built by
:func:`~napari_selfsup_seg.models._factory.build_model`) learns to restore random tiles of the
images from corrupted copies, as in Models Genesis (Zhou et al., MedIA 2021): non-linear
intensity curves, local pixel shuffling, in- and out-painting and noise (see
:mod:`napari_selfsup_seg.data._corruptions`). Optionally an InfoNCE term (as in TOWER, arXiv
2211.14715) pulls together the pooled deepest encoder features of two differently augmented and
corrupted views of the same tile.

The result is a :class:`~napari_selfsup_seg.models._factory.LoadedModel` with
``task="pretrained"`` whose head outputs the restored image (``classes`` = input channels). Saved
as a MODEL_DIR, it is the ``init`` of :func:`napari_selfsup_seg.train._supervised.train`
(``train --init``), which keeps encoder and decoder and starts a new segmentation head.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .._config import ConfigBase, ModelBundleConfig, ModelConfig, _check_range, check_recipe
from .._errors import InputError
from .._progress import TrainProgress, drain
from ..data._corruptions import sample_batch
from ..data._normalize import NormalizationConfig, percentile_normalize
from ..models._factory import LoadedModel, build_model, describe_device, pick_device

METHOD = "models-genesis restoration + infonce"


@dataclass
class PretrainConfig(ConfigBase):
    """Recipe of a self-supervised pretraining run (see :func:`pretrain`).

    Attributes
    ----------
    steps : int
        Optimisation steps.
    batch_size : int
        Tiles per step.
    tile_size : int
        Side of the square random crops in pixels (a multiple of 32).
    learning_rate : float
        Peak learning rate of AdamW (linear warm-up, cosine decay).
    weight_decay : float
        AdamW weight decay.
    warmup_fraction : float
        Fraction of the steps spent warming the learning rate up.
    contrastive_weight : float
        Weight of the InfoNCE term on pooled encoder features (0, the default, turns it off and
        saves one encoder pass per step). On a single image of nuclei the term stayed at chance
        level (loss ~ log(batch size)) in 200 steps and did not improve fine-tuning, hence off.
    temperature : float
        InfoNCE temperature.
    p_shuffle, p_nonlinear, p_paint, p_noise : float
        Probabilities of local pixel shuffling, a Bézier intensity curve, in/out-painting and
        additive noise.
    outpaint_fraction : float
        Fraction of the painting corruptions that are out-painting.
    noise_std : float
        Largest standard deviation of the additive noise (images are normalised to ~[0, 1]).
    input_channel : int or None
        Channel of ``(C, Y, X)`` images used as network input (``None``: use all channels of
        the images as they are).
    augment : bool
        Random flips and 90° rotations of the tiles.
    seed : int
        Seed for tiles, corruptions and weight init.
    device : str
        ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"`` or ``"mps"``.
    amp : bool
        Automatic mixed precision on CUDA.
    log_every : int
        Yield a progress record every this many steps (1 = every step).
    """

    steps: int = 400
    batch_size: int = 8
    tile_size: int = 96
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    warmup_fraction: float = 0.05
    contrastive_weight: float = 0.0
    temperature: float = 0.2
    p_shuffle: float = 0.5
    p_nonlinear: float = 0.9
    p_paint: float = 0.9
    outpaint_fraction: float = 0.2
    p_noise: float = 0.5
    noise_std: float = 0.1
    input_channel: int | None = None
    augment: bool = True
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    log_every: int = 1

    def __post_init__(self) -> None:
        check_recipe(self)
        _check_range("batch_size", self.batch_size, 2, 4096)
        _check_range("contrastive_weight", self.contrastive_weight, 0.0, 100.0)
        _check_range("temperature", self.temperature, 0.01, 10.0)
        for name in ("p_shuffle", "p_nonlinear", "p_paint", "outpaint_fraction", "p_noise"):
            _check_range(name, getattr(self, name), 0.0, 1.0)
        _check_range("noise_std", self.noise_std, 0.0, 10.0)


def _prepare_planes(
    images: Sequence[np.ndarray] | np.ndarray,
    input_channel: int | None,
    normalization: NormalizationConfig,
    tile_size: int,
) -> list[np.ndarray]:
    """Normalised ``(C, Y, X)`` float32 planes, padded by mirroring up to ``tile_size``."""
    if isinstance(images, np.ndarray) and images.ndim == 2:
        images = [images]
    if len(images) == 0:
        raise InputError("pretraining needs at least one image")
    planes = []
    for i, img in enumerate(images):
        img = np.asarray(img)
        name = f"image {i}"
        if img.ndim == 2:
            img = img[np.newaxis]
            if input_channel not in (None, 0, -1):
                raise InputError(f"{name}: channel {input_channel} requested but it has one")
        elif img.ndim == 3:
            if input_channel is not None:
                if not -img.shape[0] <= input_channel < img.shape[0]:
                    raise InputError(
                        f"{name}: channel {input_channel} out of range "
                        f"(image has {img.shape[0]} channels)"
                    )
                img = img[[input_channel]]
        else:
            raise InputError(f"{name}: expected a (Y, X) or (C, Y, X) plane, got shape {img.shape}")
        if img.dtype.kind not in "uif":
            raise InputError(f"{name}: unsupported pixel type {img.dtype}")
        x = percentile_normalize(img, normalization, name)
        pad_y, pad_x = max(0, tile_size - x.shape[1]), max(0, tile_size - x.shape[2])
        if pad_y or pad_x:
            x = np.pad(x, ((0, 0), (0, pad_y), (0, pad_x)), mode="symmetric")
        planes.append(x)
    n_ch = {p.shape[0] for p in planes}
    if len(n_ch) > 1:
        raise InputError(f"images have different numbers of channels {sorted(n_ch)}")
    return planes


def info_nce(za: Any, zb: Any, temperature: float) -> Any:
    """Symmetric InfoNCE (NT-Xent) between two batches of embeddings.

    Parameters
    ----------
    za, zb : torch.Tensor
        Shape ``(B, D)``; row ``i`` of each is a view of the same tile (the positive pair), the
        other rows are negatives.
    temperature : float
        Softmax temperature.

    Returns
    -------
    torch.Tensor
        Scalar loss.
    """
    import torch
    import torch.nn.functional as F

    za = F.normalize(za.float(), dim=1)
    zb = F.normalize(zb.float(), dim=1)
    logits = za @ zb.t() / temperature
    target = torch.arange(za.shape[0], device=za.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))


def _lr_factor(step: int, steps: int, warmup: int) -> float:
    if warmup and step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def restoration_model_config(model_config: ModelConfig | None, in_channels: int) -> ModelConfig:
    """The architecture with a restoration head: ``classes`` = ``in_channels`` = input channels."""
    base = model_config or ModelConfig()
    return replace(base, in_channels=in_channels, classes=in_channels)


def pretrain_iter(
    images: Sequence[np.ndarray] | np.ndarray,
    model_config: ModelConfig | None = None,
    config: PretrainConfig | None = None,
    normalization: NormalizationConfig | None = None,
    stop: Callable[[], bool] | None = None,
) -> Generator[TrainProgress, None, LoadedModel]:
    """Pretrain a U-Net without labels, yielding one progress record per step.

    Parameters
    ----------
    images : sequence of numpy.ndarray, or one numpy.ndarray
        Planes of shape ``(Y, X)`` or ``(C, Y, X)`` (all with the same channels); a stack should
        be flattened plane by plane first (e.g. ``ImageStack.planes()``). Planes smaller than a
        tile are mirrored up to its size.
    model_config : ModelConfig, optional
        Architecture (default :class:`ModelConfig`); ``in_channels`` and ``classes`` are set
        from the images (restoration head).
    config : PretrainConfig, optional
        The recipe.
    normalization : NormalizationConfig, optional
        Percentile normalisation, saved with the model so fine-tuning and prediction match.
    stop : callable, optional
        Checked before every step; returning ``True`` ends the run early with the model so far.

    Yields
    ------
    TrainProgress
        ``stage="pretrain"``, loss, learning rate, throughput, ETA; ``extra`` holds the
        ``restoration`` and ``contrastive`` terms.

    Returns
    -------
    LoadedModel
        The pretrained network (eval mode) with ``config.task == "pretrained"``.

    Raises
    ------
    InputError
        No images, a constant or non-finite image, mismatched channels, or a bad setting.
    """
    import torch
    import torch.nn.functional as F

    cfg = config or PretrainConfig()
    norm = normalization or NormalizationConfig()
    planes = _prepare_planes(images, cfg.input_channel, norm, cfg.tile_size)
    mcfg = restoration_model_config(model_config, planes[0].shape[0])
    if cfg.tile_size % (2**mcfg.encoder_depth):
        raise InputError(
            f"tile_size {cfg.tile_size} must be a multiple of {2**mcfg.encoder_depth} "
            f"for an encoder of depth {mcfg.encoder_depth}"
        )
    device = pick_device(cfg.device)
    use_amp = cfg.amp and device.type == "cuda"
    rng = np.random.default_rng(cfg.seed)
    torch.manual_seed(cfg.seed)

    net = build_model(mcfg).to(device).train()
    params = list(net.parameters())
    proj = None
    if cfg.contrastive_weight > 0:
        width = net.encoder.out_channels[-1]
        proj = torch.nn.Sequential(
            torch.nn.Linear(width, width),
            torch.nn.ReLU(inplace=True),
            torch.nn.Linear(width, 64),
        ).to(device)
        params += list(proj.parameters())
    opt = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    warmup = round(cfg.warmup_fraction * cfg.steps)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(s, cfg.steps, warmup))
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    area = np.array([p.shape[1] * p.shape[2] for p in planes], dtype=float)
    weights = area / area.sum()

    log: list[dict[str, float]] = []
    start = time.perf_counter()
    done = 0
    for step in range(cfg.steps):
        if stop is not None and stop():
            break
        clean, view_a, view_b = sample_batch(planes, cfg, rng, weights)
        target = torch.from_numpy(clean).to(device)
        xa = torch.from_numpy(view_a).to(device)
        lr = opt.param_groups[0]["lr"]
        with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp):
            feats = net.encoder(xa)
            restored = net.segmentation_head(net.decoder(feats))
            rec = F.mse_loss(restored.float(), target)
            nce = torch.zeros((), device=device)
            if proj is not None and view_b is not None:
                fb = net.encoder(torch.from_numpy(view_b).to(device))[-1]
                za = proj(feats[-1].float().mean(dim=(2, 3)))
                zb = proj(fb.float().mean(dim=(2, 3)))
                nce = info_nce(za, zb, cfg.temperature)
            loss = rec + cfg.contrastive_weight * nce
        if not torch.isfinite(loss):
            raise InputError(
                f"pretraining diverged at step {step + 1} (loss {float(loss.detach())}); "
                "lower the learning rate"
            )
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        sched.step()
        done = step + 1
        elapsed = time.perf_counter() - start
        row = {
            "step": float(done),
            "loss": float(loss.detach()),
            "restoration": float(rec.detach()),
            "contrastive": float(nce.detach()),
            "lr": float(lr),
        }
        log.append(row)
        if done % cfg.log_every == 0 or done == cfg.steps:
            yield TrainProgress(
                stage="pretrain",
                done=done,
                total=cfg.steps,
                message=f"step {done}/{cfg.steps}",
                loss=row["loss"],
                lr=row["lr"],
                images_per_s=done * cfg.batch_size / max(elapsed, 1e-9),
                eta_s=elapsed / done * (cfg.steps - done),
                extra={"restoration": row["restoration"], "contrastive": row["contrastive"]},
            )

    net.eval()
    bundle = ModelBundleConfig(
        model=mcfg,
        normalization=norm,
        input_channels=None if cfg.input_channel is None else [cfg.input_channel],
        training={
            "method": METHOD,
            **cfg.to_dict(),
            "steps_done": done,
            "stopped_early": done < cfg.steps,
            "seconds": round(time.perf_counter() - start, 2),
            "device": describe_device(device),
        },
        provenance={"labels": "none (self-supervised)", "n_planes": len(planes)},
        task="pretrained",
    )
    return LoadedModel(net=net, config=bundle, device=device, path=None, log=log)


def pretrain(
    images: Sequence[np.ndarray] | np.ndarray,
    *,
    steps: int | None = None,
    model_dir: str | os.PathLike | None = None,
    callback: Callable[[TrainProgress], Any] | None = None,
    **kwargs: Any,
) -> LoadedModel:
    """Pretrain a U-Net without labels and optionally save it (see :func:`pretrain_iter`).

    Parameters
    ----------
    images : sequence of numpy.ndarray, or one numpy.ndarray
        ``(Y, X)`` or ``(C, Y, X)`` planes.
    steps : int, optional
        Overrides ``config.steps``.
    model_dir : path-like, optional
        Save the result there (a MODEL_DIR that ``train --init`` fine-tunes).
    callback : callable, optional
        Called with every :class:`~napari_selfsup_seg._progress.TrainProgress`.
    **kwargs
        ``model_config``, ``config``, ``normalization``, ``stop`` as in :func:`pretrain_iter`,
        or any :class:`PretrainConfig` field (e.g. ``seed=1``, ``device="cpu"``), which
        overrides the one in ``config``.

    Returns
    -------
    LoadedModel
        The pretrained model (``path`` is ``model_dir`` when it was saved).

    Examples
    --------
    >>> from napari_selfsup_seg import api
    >>> img = api.make_sample((128, 128)).fluorescence
    >>> model = pretrain([img], steps=5, model_config=api.ModelConfig.tiny(),
    ...                  tile_size=64, device="cpu")  # doctest: +SKIP
    """
    model_config = kwargs.pop("model_config", None)
    config = kwargs.pop("config", None) or PretrainConfig()
    normalization = kwargs.pop("normalization", None)
    stop = kwargs.pop("stop", None)
    if steps is not None:
        kwargs["steps"] = steps
    if kwargs:
        config = PretrainConfig.from_dict({**config.to_dict(), **kwargs})
    model = drain(pretrain_iter(images, model_config, config, normalization, stop), callback)
    if model_dir is not None:
        model.save(model_dir)
    return model


def few_label_mask(
    mask: np.ndarray,
    boxes: Sequence[tuple[int, int, int, int]],
    ignore_value: int = 65535,
) -> np.ndarray:
    """Keep the true labels inside a few reviewed boxes; mark every other pixel as ignored.

    This is the training target of the few-label path: a handful of corrected crops of an image,
    everything else "not reviewed" (adds nothing to the loss).

    Parameters
    ----------
    mask : numpy.ndarray
        Shape ``(Y, X)``: instance labels, 0 = background.
    boxes : sequence of (y, x, height, width)
        The reviewed crops.
    ignore_value : int
        Value written outside the boxes.

    Returns
    -------
    numpy.ndarray
        Shape ``(Y, X)``; ``uint16`` when labels and ignore value fit, else ``uint32``.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise InputError(f"few_label_mask expects a (Y, X) mask, got shape {mask.shape}")
    if mask.size and int(mask.max()) >= ignore_value:
        raise InputError(f"mask holds labels >= the ignore value {ignore_value}")
    dtype = np.uint16 if ignore_value <= np.iinfo(np.uint16).max else np.uint32
    out = np.full(mask.shape, ignore_value, dtype=dtype)
    for y, x, h, w in boxes:
        if h <= 0 or w <= 0 or y < 0 or x < 0 or y + h > mask.shape[0] or x + w > mask.shape[1]:
            raise InputError(f"box {(y, x, h, w)} lies outside the {mask.shape} mask")
        out[y : y + h, x : x + w] = mask[y : y + h, x : x + w]
    return out
