"""The test input of an exported package and the output the model computes for it.

The expected output is computed the way the package describes the model, step by step: the
percentile scaling of bioimage.io's ``scale_range`` (``(x - lo) / (hi - lo + eps)``, per
channel), the clip, the network, then a softmax over the classes. ``bioimageio test`` repeats
those steps from the package and compares.
"""

from __future__ import annotations

import os

import numpy as np

from .._config import NormalizationConfig
from .._errors import InputError
from ..models._factory import LoadedModel

#: ``eps`` of bioimage.io's ``scale_range`` (its default).
SCALE_RANGE_EPS = 1e-6
#: Largest side of the test input, in pixels.
MAX_SIDE = 512


def _crop(planes: np.ndarray, step: int, name: str) -> np.ndarray:
    """The centre of ``(C, Y, X)`` planes, each side a multiple of ``step``, at most MAX_SIDE."""
    sides = [min(MAX_SIDE, s) // step * step for s in planes.shape[-2:]]
    if min(sides) < 4 * step:
        raise InputError(
            f"{name}: planes of {planes.shape[-2]}x{planes.shape[-1]} px are too small for a "
            f"test input (at least {4 * step} px a side)"
        )
    y0, x0 = ((s - c) // 2 for s, c in zip(planes.shape[-2:], sides))
    return planes[:, y0 : y0 + sides[0], x0 : x0 + sides[1]]


def _generated(model: LoadedModel) -> np.ndarray:
    """A generated sample plane with the model's number of channels, ``(C, 256, 256)``.

    Brightfield when the model's provenance or channel names mention it, else fluorescence.
    """
    from ..data._synthetic import make_sample

    sample = make_sample((256, 256), seed=0)
    hints = f"{model.config.provenance} {model.config.input_channel_names}".lower()
    first = sample.brightfield if "brightfield" in hints else sample.fluorescence
    other = sample.fluorescence if first is sample.brightfield else sample.brightfield
    n = model.config.model.in_channels
    return np.stack([first if i % 2 == 0 else other for i in range(n)])


def sample_input(model: LoadedModel, image: str | os.PathLike | None = None) -> np.ndarray:
    """The test input: ``(1, C, Y, X)`` float32, not normalised.

    Parameters
    ----------
    model : LoadedModel
    image : path-like, optional
        A file whose first plane, with the model's channels, is cropped to at most 512 px a
        side (a multiple of ``2 ** encoder_depth``); default: a generated sample plane.

    Raises
    ------
    InputError
        Unreadable image, missing channels, planes too small.
    """
    step = 2**model.config.model.encoder_depth
    if image is None:
        planes = _generated(model)
        name = "generated sample"
    else:
        from ..inference._input import stack_planes
        from ..io._image import read_image

        stack = read_image(image)
        planes = np.asarray(stack_planes(model, stack)[0])
        name = str(image)
    planes = _crop(np.asarray(planes), step, name).astype(np.float32)
    if any(np.ptp(c) <= 0 for c in planes):
        raise InputError(f"{name}: a channel of the test plane is constant; choose another image")
    return planes[np.newaxis]


def normalised(raw: np.ndarray, norm: NormalizationConfig) -> np.ndarray:
    """``raw`` ``(1, C, Y, X)`` scaled as the package's pre-processing does (float32)."""
    flat = raw.reshape(raw.shape[1], -1).astype(np.float64)
    lo, hi = np.percentile(flat, [norm.lower_percentile, norm.upper_percentile], axis=1)
    x = (raw.astype(np.float64) - lo[:, None, None]) / (hi - lo + SCALE_RANGE_EPS)[:, None, None]
    if norm.clip:
        x = np.clip(x, -norm.clip_margin, 1.0 + norm.clip_margin)
    return x.astype(np.float32)


def expected_output(model: LoadedModel, x: np.ndarray) -> np.ndarray:
    """Class probabilities ``(1, classes, Y, X)`` (float32) of the network for ``x``."""
    import torch

    with torch.no_grad():
        logits = model.net(torch.from_numpy(x).to(model.device))
        return torch.softmax(logits, dim=1).cpu().numpy().astype(np.float32)
