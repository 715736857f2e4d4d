"""Self-supervised pretraining of the whole U-Net on the user's own unlabelled images.

The network (encoder *and* decoder, built by
:func:`~napari_selfsup_seg.models._factory.build_model`) learns to restore random tiles of the
images from corrupted copies, as in Models Genesis (Zhou et al., MedIA 2021): non-linear
intensity curves, local pixel shuffling, in- and out-painting and noise (see
:mod:`napari_selfsup_seg.data._corruptions`). Optionally an InfoNCE term (as in TOWER, arXiv
2211.14715) pulls together the pooled deepest encoder features of two differently augmented and
corrupted views of the same tile. The step loop is the training engine's (:mod:`._engine`);
the recipe is :class:`~napari_selfsup_seg.train._pretrain_config.PretrainConfig`.

The result is a :class:`~napari_selfsup_seg.models._factory.LoadedModel` with
``task="pretrained"`` whose head outputs the restored image (``classes`` = input channels). Saved
as a MODEL_DIR, it is the ``init`` of :func:`napari_selfsup_seg.train._supervised.train`
(``train --init``), which keeps encoder and decoder and starts a new segmentation head.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from .._config import IGNORE_LABEL, ModelBundleConfig, ModelConfig
from .._errors import InputError
from .._progress import Progress, TrainProgress, drain
from ..data._corruptions import sample_batch
from ..data._normalize import NormalizationConfig
from ..models._device import describe_device, pick_device
from ..models._factory import LoadedModel, build_model
from ._engine import Objective, Recipe, run, seed_everything
from ._pretrain_config import PretrainConfig, prepare_planes

METHOD = "models-genesis restoration + infonce"


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


class _RestorationObjective(Objective):
    """Restore corrupted tiles (mean squared error), plus InfoNCE between two views."""

    stage = "pretrain"
    what = "pretraining"

    def __init__(self, net: Any, planes: list[np.ndarray], cfg: PretrainConfig, device: Any):
        import torch

        self.net, self.planes, self.cfg, self.device = net, planes, cfg, device
        self.rng = np.random.default_rng(cfg.seed)
        area = np.array([p.shape[1] * p.shape[2] for p in planes], dtype=float)
        self.weights = area / area.sum()
        self.proj = None
        if cfg.contrastive_weight > 0:
            width = net.encoder.out_channels[-1]
            self.proj = torch.nn.Sequential(
                torch.nn.Linear(width, width),
                torch.nn.ReLU(inplace=True),
                torch.nn.Linear(width, 64),
            ).to(device)

    def modules(self) -> list[Any]:
        return [self.net] if self.proj is None else [self.net, self.proj]

    def loss(self, step: int) -> tuple[Any, dict[str, Any]]:
        import torch
        import torch.nn.functional as F

        net, proj, dev = self.net, self.proj, self.device
        clean, view_a, view_b = sample_batch(self.planes, self.cfg, self.rng, self.weights)
        target = torch.from_numpy(clean).to(dev)
        feats = net.encoder(torch.from_numpy(view_a).to(dev))
        restored = net.segmentation_head(net.decoder(feats))
        rec = F.mse_loss(restored.float(), target)
        nce = torch.zeros((), device=dev)
        if proj is not None and view_b is not None:
            fb = net.encoder(torch.from_numpy(view_b).to(dev))[-1]
            za = proj(feats[-1].float().mean(dim=(2, 3)))
            zb = proj(fb.float().mean(dim=(2, 3)))
            nce = info_nce(za, zb, self.cfg.temperature)
        loss = rec + self.cfg.contrastive_weight * nce
        return loss, {"restoration": rec.detach(), "contrastive": nce.detach()}


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
    cfg = config or PretrainConfig()
    norm = normalization or NormalizationConfig()
    planes = prepare_planes(images, cfg.input_channel, norm, cfg.tile_size)
    mcfg = restoration_model_config(model_config, planes[0].shape[0])
    if cfg.tile_size % (2**mcfg.encoder_depth):
        raise InputError(
            f"tile_size {cfg.tile_size} must be a multiple of {2**mcfg.encoder_depth} "
            f"for an encoder of depth {mcfg.encoder_depth}"
        )
    device = pick_device(cfg.device)
    seed_everything(cfg.seed)
    net = build_model(mcfg).to(device)
    objective = _RestorationObjective(net, planes, cfg, device)
    summary = yield from run(objective, Recipe.of(cfg), device, stop)
    done = summary.done
    bundle = ModelBundleConfig(
        model=mcfg,
        normalization=norm,
        input_channels=None if cfg.input_channel is None else [cfg.input_channel],
        training={
            "method": METHOD,
            **cfg.to_dict(),
            "steps_done": done,
            "stopped_early": done < cfg.steps,
            "seconds": round(summary.seconds, 2),
            "device": describe_device(device),
        },
        provenance={"labels": "none (self-supervised)", "n_planes": len(planes)},
        task="pretrained",
    )
    return LoadedModel(net=net, config=bundle, device=device, path=None, log=summary.log)


def pretrain(
    images: Sequence[np.ndarray] | np.ndarray,
    *,
    steps: int | None = None,
    model_dir: str | os.PathLike | None = None,
    callback: Callable[[Progress], Any] | None = None,
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
    ignore_value: int = IGNORE_LABEL,
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
