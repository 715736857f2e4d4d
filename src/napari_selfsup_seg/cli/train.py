"""``napari-selfsup-seg train``: train (or fine-tune) the instance U-Net on images and masks.

Three ways in: ``--masks`` with reviewed masks (plain training); ``--masks`` with the
``<stem>_pseudo.tif`` files of ``pseudo-mask`` when their ``<stem>_prob.tif`` maps lie beside
them (uncertain pixels ignored, then ``--rounds`` self-training rounds); no ``--masks`` at all
(label-free: threshold pseudo-masks of the images themselves, then the same).
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Generator
from dataclasses import replace
from typing import Any

import numpy as np

from .._config import ModelConfig, TrainConfig
from .._errors import InputError
from .._progress import Progress
from ..io._image import read_image
from ..workflows._self_training import SelfTrainingConfig
from ._common import (
    ProgressBar,
    add_config_arguments,
    add_scene_argument,
    config_from_args,
    model_out_dir,
)


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "train",
        help="train the instance U-Net on images and (pseudo-)masks",
        description=(
            "Train a U-Net that predicts background, interior and boundary, on images and "
            "instance masks (e.g. pseudo-masks). Stacks are used plane by plane; a mask stack "
            "must have the same planes as its image. Mask pixels equal to --ignore-value are "
            "'not reviewed' and add nothing to the loss. Pseudo-masks of 'pseudo-mask' whose "
            "<stem>_prob.tif lies beside them, or no --masks at all (threshold pseudo-masks of "
            "the images themselves), train label-free: pixels the pseudo-mask is unsure of are "
            "ignored, then --rounds self-training rounds fine-tune on the network's own "
            "confident predictions."
        ),
    )
    p.add_argument("--images", nargs="+", required=True, metavar="IMAGE", help="training images")
    p.add_argument(
        "--masks",
        nargs="+",
        default=None,
        metavar="MASK",
        help="instance masks, one per image (default: threshold pseudo-masks of the images)",
    )
    p.add_argument("--out", required=True, metavar="MODEL_DIR", help="folder to save the model")
    add_scene_argument(p, "--images")
    add_config_arguments(p, TrainConfig, ["input_channel", "steps", "early_stop", "patience"])
    add_config_arguments(p, ModelConfig, ["encoder", "encoder_depth"])
    add_config_arguments(p, SelfTrainingConfig, ["rounds"])
    p.add_argument(
        "--seed-channel",
        type=int,
        default=None,
        metavar="C",
        help="with --masks of whole cells grown from nuclei (pseudo-mask --target cells): the "
        "nuclear channel of the images that seeded them; the model records it and grows the "
        "cells it predicts from that channel's nuclei",
    )
    p.add_argument(
        "--init",
        default=None,
        metavar="MODEL_DIR",
        help="fine-tune from this model (its architecture wins over --encoder)",
    )
    add_config_arguments(
        p,
        TrainConfig,
        [
            "device",
            "seed",
            "ignore_value",
            "tile_size",
            "batch_size",
            "learning_rate",
            "boundary_width",
            "min_delta",
        ],
    )
    p.add_argument(
        "--transmitted-light",
        action="store_true",
        help=(
            "the input is transmitted light (brightfield, phase contrast), e.g. a brightfield "
            "channel trained on masks of a nuclear stain: flatten it (division by a wide "
            "background, local contrast; widths from the objects of --masks) before the "
            "percentiles; recorded in the model, so 'segment' does the same"
        ),
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)
    return p


def _load_images(args) -> tuple[list[np.ndarray], list[str], list[list[str]], list]:
    """Planes of every image (a name for each), the images' channel names, their stacks."""
    images, names, channel_names, stacks = [], [], [], []
    for ipath in args.images:
        stack = read_image(ipath, scene=args.scene)
        known = len(stack.channel_names) == stack.n_channels and all(stack.channel_names)
        channel_names.append(list(stack.channel_names) if known else [])
        if args.input_channel is not None:
            c = stack.n_channels
            if not -c <= args.input_channel < c:
                raise InputError(
                    f"{ipath}: channel {args.input_channel} out of range (image has {c} channels)"
                )
        planes = stack.planes()
        for k, plane in enumerate(planes):
            images.append(plane[0] if plane.shape[0] == 1 else plane)
            names.append(f"{ipath}{f' plane {k}' if len(planes) > 1 else ''}")
        stacks.append(stack)
    return images, names, channel_names, stacks


def _mask_planes(path: str, stack, ipath: str, what: str = "mask") -> np.ndarray:
    """The ``(N, Y, X)`` planes of a mask (or map) file that belongs to ``stack``."""
    mask = read_image(path)
    if "C" in mask.axes:
        raise InputError(f"{path}: a {what} must not have a channel axis (axes {mask.axes})")
    want = (*stack.plane_shape, *stack.shape[-2:])
    if mask.shape != want:
        raise InputError(
            f"{path}: {what} shape {mask.shape} does not match image {ipath} "
            f"(expected {want}, the image's planes without channels)"
        )
    if what == "mask" and mask.data.dtype.kind == "f":
        raise InputError(f"{path}: expected an integer label image, got floating point")
    return np.asarray(mask.data).reshape(-1, *mask.shape[-2:])


def _load_pairs(args):
    """Planes of every image and mask, the pseudo-masks' maps (``None`` unless every mask has
    its ``<stem>_prob.tif`` beside it), a name pair for each plane (for error messages), and
    the images' channel names when every image names its channels alike (else ``None``)."""
    images, plane_names, channel_names, stacks = _load_images(args)
    same = channel_names[0] and all(n == channel_names[0] for n in channel_names)
    if args.masks is None:
        names = [(name, name) for name in plane_names]
        return images, None, None, names, (channel_names[0] if same else None)
    if len(args.images) != len(args.masks):
        raise InputError(f"{len(args.images)} --images but {len(args.masks)} --masks")
    masks: list[np.ndarray] = []
    maps: list[np.ndarray] = []
    names = []
    probs = [_prob_beside(m) for m in args.masks]
    for ipath, mpath, stack, prob in zip(args.images, args.masks, stacks, probs):
        mplanes = _mask_planes(mpath, stack, ipath)
        if all(probs):
            maps.extend(_mask_planes(str(prob), stack, ipath, "probability map"))
        masks.extend(mplanes)
        for k in range(len(mplanes)):
            where = f" plane {k}" if len(mplanes) > 1 else ""
            names.append((f"{ipath}{where}", f"{mpath}{where}"))
    return (
        images,
        masks,
        (maps if all(probs) else None),
        names,
        (channel_names[0] if same else None),
    )


def _prob_beside(mask_path: str):
    """``<stem>_prob.tif`` beside a ``<stem>_pseudo.tif`` of ``pseudo-mask``, if it is there."""
    from pathlib import Path

    path = Path(mask_path)
    if not path.name.endswith("_pseudo.tif"):
        return None
    prob = path.with_name(path.name[: -len("_pseudo.tif")] + "_prob.tif")
    return prob if prob.exists() else None


def _name_error(exc: InputError, names: list[tuple[str, str]]) -> InputError:
    """Replace the plane index in a training error by the file (and plane) it came from."""
    m = re.match(r"(image|mask) (\d+): (.*)", str(exc))
    if m and int(m.group(2)) < len(names):
        img, mask = names[int(m.group(2))]
        return InputError(f"{img if m.group(1) == 'image' else mask}: {m.group(3)}")
    return exc


def _label_free_planes(images, channel_names, tc):
    """(Y, X) planes of the stain, the config without its channel, and the channel records."""
    c = tc.input_channel
    if c is None:
        if any(np.ndim(im) == 3 for im in images):
            raise InputError(
                "training without --masks on multi-channel images needs --input-channel "
                "(the channel whose pseudo-masks train the network)"
            )
        return images, tc, {"input_channel_names": channel_names}
    planes = [im[c] if np.ndim(im) == 3 else im for im in images]
    names = [channel_names[c]] if channel_names else None
    return (
        planes,
        replace(tc, input_channel=None),
        {
            "input_channels": [c % images[0].shape[0]] if np.ndim(images[0]) == 3 else [c],
            "input_channel_names": names,
        },
    )


def _seeding(images: list, args: argparse.Namespace) -> dict:
    """``seed_channel`` (a network input) and ``seed_diameter`` (of the nuclei the threshold
    teacher finds in it) of ``--seed-channel`` (``{}`` without one)."""
    from ..data._diameter import diameter_of_labels
    from ..pseudo._cells import nuclei_of

    c = args.seed_channel
    if c is None:
        return {}
    if args.masks is None or args.input_channel is not None:
        raise InputError("--seed-channel needs --masks of cells and images read whole")
    n = images[0].shape[0] if all(np.ndim(im) == 3 for im in images) else 1
    if n < 2 or not -n <= c < n:
        raise InputError(f"--seed-channel {c} is not a channel of the images ({n} channel(s))")
    nuclei = [nuclei_of(im[c % n]) for im in images]
    return {"seed_channel": c % n, "seed_diameter": diameter_of_labels(nuclei)}


def run(args: argparse.Namespace) -> dict:
    from .._progress import drain
    from ..data._normalize import transmitted_light_normalization
    from ..models._factory import describe_device
    from ..train._supervised import train_iter
    from ..workflows._label_free import label_free_iter
    from ..workflows._self_training import LabelFreeResult, self_train_iter

    tc = config_from_args(TrainConfig, args)
    mc = config_from_args(ModelConfig, args)
    st = config_from_args(SelfTrainingConfig, args)
    images, masks, maps, names, channel_names = _load_pairs(args)
    out = model_out_dir(args.out)
    provenance = {"images": [str(p) for p in args.images], "masks": args.masks}
    kwargs: dict[str, Any] = {
        "init": args.init,
        "input_channel_names": channel_names,
        **_seeding(images, args),
    }
    if args.transmitted_light:
        if masks is None:
            raise InputError("--transmitted-light needs --masks (their objects size it)")
        kwargs["normalization"] = transmitted_light_normalization(masks)
    t0 = time.perf_counter()
    gen: Generator[Progress, None, Any]
    if masks is None:
        planes, tc, channels = _label_free_planes(images, channel_names, tc)
        kind = f"label-free: threshold pseudo-masks, {st.rounds} self-training round(s)"
        gen = label_free_iter(planes, None, tc, mc, st, names=[n for n, _ in names],
                              train_kwargs={"init": args.init, **channels})  # fmt: skip
    elif maps is not None:
        kind = f"pseudo-masks with their maps, {st.rounds} self-training round(s)"
        gen = self_train_iter(images, masks, maps, tc, mc, st, provenance, train_kwargs=kwargs)
    else:
        kind = "masks as given"
        gen = train_iter(images, masks, tc, mc, provenance=provenance, **kwargs)
    try:
        with ProgressBar("train", quiet=args.quiet) as bar:
            result: Any = drain(gen, bar)
    except InputError as exc:
        raise _name_error(exc, names) from None
    rounds: list[dict] = []
    if isinstance(result, LabelFreeResult):
        rounds, model = result.rounds, result.model
        model.config.provenance.update(provenance)
    else:
        model = result
    model.save(out)
    last = model.log[-1] if model.log else {}
    print(
        f"saved model to {out} ({len(images)} plane(s), {kind}, "
        f"loss {last.get('loss', float('nan')):.4f})"
    )
    return {
        "command": "train",
        "model_dir": str(out),
        "planes": len(images),
        "training": kind,
        "rounds": rounds,
        "steps": int(last.get("step", 0)),
        "training_end": model.config.provenance.get("training_end"),
        "final_loss": last.get("loss"),
        "device": describe_device(model.device),
        "seconds": round(time.perf_counter() - t0, 2),
        "input_channels": model.config.input_channels,
        "input_channel_names": model.config.input_channel_names,
        "seed_channel": model.config.seed_channel,
        "failed": [],
    }
