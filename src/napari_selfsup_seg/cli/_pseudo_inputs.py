"""Inputs of ``pseudo-mask`` beyond the image itself: the seed channel of whole cells, and the
object diameter of each file (``--diameter 12um`` turned into that file's pixels)."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

import numpy as np

from .._errors import InputError
from ..io._image import ImageStack
from ..io._stack import micrometres_to_pixels
from ._flags import Micrometres


def file_config(config: Any, um: Micrometres | None, stack: ImageStack) -> Any:
    """The method's config for one file: ``--diameter`` in µm as pixels of this file.

    Raises
    ------
    InputError
        The file has no pixel size, or the diameter is under one of its pixels.
    """
    if um is None or not hasattr(config, "diameter"):
        return config
    px = micrometres_to_pixels(um.value, stack.pixel_size, stack.name)
    if px < 1.0:
        raise InputError(
            f"{stack.name}: --diameter {um} is {px:.2g} pixels at the file's pixel size, "
            "under one pixel"
        )
    return dataclasses.replace(config, diameter=round(px, 2))


def diameter_px(config: Any, diameters: list[float] | None) -> float | None:
    """The diameter in pixels a file was masked with: the given one, or the median of the
    per-plane estimates ``diameters`` (``None`` for a method without a diameter)."""
    if getattr(config, "diameter", None) is not None:
        return float(config.diameter)
    return round(float(np.median(diameters)), 2) if diameters else None


def planes_of(stack: ImageStack, channel: int | None) -> np.ndarray:
    """The planes ``(N, Y, X)`` of one channel of ``stack``."""
    data = stack.channel(channel)
    return data.reshape(-1, *data.shape[-2:])


def seed_planes(stack: ImageStack, args: argparse.Namespace) -> dict:
    """``{"seeds": planes}`` of ``--seed-channel`` (``{}`` without one).

    Raises
    ------
    InputError
        ``--seed-channel`` without ``--target cells``, an image with one channel, or the seed
        channel is the cell channel (``--channel``).
    """
    if args.seed_channel is None:
        return {}
    if getattr(args, "target", None) != "cells":
        raise InputError("--seed-channel needs --method threshold --target cells")
    n = stack.n_channels
    if "C" not in stack.axes:
        raise InputError(
            f"{stack.name}: --seed-channel {args.seed_channel} but the image has one channel"
        )
    if not -n <= args.seed_channel < n:
        raise InputError(
            f"{stack.name}: --seed-channel {args.seed_channel} is missing (the image has {n} "
            "channels)"
        )
    cell = args.channel if args.channel is not None else (0 if n == 1 else None)
    if cell is not None and args.seed_channel % n == cell % n:
        raise InputError(
            f"{stack.name}: --seed-channel {args.seed_channel} is the cell channel --channel "
            f"{cell}; give the nuclear stain's channel"
        )
    return {"seeds": planes_of(stack, args.seed_channel)}


def check_target(method: str, args: argparse.Namespace) -> None:
    """Refuse ``--target cells`` with a method other than ``threshold``."""
    if getattr(args, "target", "nuclei") == "cells" and method != "threshold":
        raise InputError(f"--target cells works with --method threshold, not {method}")
