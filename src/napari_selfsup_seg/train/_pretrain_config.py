"""Recipe of self-supervised pretraining (:class:`PretrainConfig`) and the planes it reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .._config import ConfigBase, _check_range, check_recipe
from .._errors import InputError
from ..data._normalize import NormalizationConfig, percentile_normalize
from ..data._train_data import select_channel


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
    device, amp, log_every
        As in :class:`~napari_selfsup_seg._config.TrainConfig` (where to run, mixed precision
        on CUDA, steps between progress records).
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


def prepare_planes(
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
        name = f"image {i}"
        img = select_channel(img, input_channel, name)
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
