"""``napari-selfsup-seg train``: train (or fine-tune) the instance U-Net on images and masks."""

from __future__ import annotations

import argparse
import re
import time

import numpy as np

from .._config import ModelConfig, TrainConfig
from .._errors import InputError
from ..io._image import read_image
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
            "'not reviewed' and add nothing to the loss."
        ),
    )
    p.add_argument("--images", nargs="+", required=True, metavar="IMAGE", help="training images")
    p.add_argument(
        "--masks", nargs="+", required=True, metavar="MASK", help="instance masks, one per image"
    )
    p.add_argument("--out", required=True, metavar="MODEL_DIR", help="folder to save the model")
    add_scene_argument(p, "--images")
    add_config_arguments(p, TrainConfig, ["input_channel", "steps"])
    add_config_arguments(p, ModelConfig, ["encoder", "encoder_depth"])
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
        ],
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)
    return p


def _load_pairs(args) -> tuple[list[np.ndarray], list[np.ndarray], list, list[str] | None]:
    """Planes of every image and mask, a name for each plane (for error messages), and the
    images' channel names when every image names its channels alike (else ``None``)."""
    if len(args.images) != len(args.masks):
        raise InputError(f"{len(args.images)} --images but {len(args.masks)} --masks")
    images, masks, names = [], [], []
    channel_names: list[list[str]] = []
    for ipath, mpath in zip(args.images, args.masks):
        stack = read_image(ipath, scene=args.scene)
        known = len(stack.channel_names) == stack.n_channels and all(stack.channel_names)
        channel_names.append(list(stack.channel_names) if known else [])
        mask = read_image(mpath)
        if "C" in mask.axes:
            raise InputError(f"{mpath}: a mask must not have a channel axis (axes {mask.axes})")
        if args.input_channel is not None:
            c = stack.n_channels
            if not -c <= args.input_channel < c:
                raise InputError(
                    f"{ipath}: channel {args.input_channel} out of range (image has {c} channels)"
                )
        planes = stack.planes()
        want = (*stack.plane_shape, *stack.shape[-2:])
        if mask.shape != want:
            raise InputError(
                f"{mpath}: mask shape {mask.shape} does not match image {ipath} "
                f"(expected {want}, the image's planes without channels)"
            )
        if mask.data.dtype.kind == "f":
            raise InputError(f"{mpath}: expected an integer label image, got floating point")
        mplanes = mask.data.reshape(-1, *mask.shape[-2:])
        for k in range(len(planes)):
            plane = planes[k]
            images.append(plane[0] if plane.shape[0] == 1 else plane)
            masks.append(mplanes[k])
            where = f" plane {k}" if len(planes) > 1 else ""
            names.append((f"{ipath}{where}", f"{mpath}{where}"))
    same = channel_names[0] and all(n == channel_names[0] for n in channel_names)
    return images, masks, names, (channel_names[0] if same else None)


def _name_error(exc: InputError, names: list[tuple[str, str]]) -> InputError:
    """Replace the plane index in a training error by the file (and plane) it came from."""
    m = re.match(r"(image|mask) (\d+): (.*)", str(exc))
    if m and int(m.group(2)) < len(names):
        img, mask = names[int(m.group(2))]
        return InputError(f"{img if m.group(1) == 'image' else mask}: {m.group(3)}")
    return exc


def run(args: argparse.Namespace) -> dict:
    from .._progress import drain
    from ..models._factory import describe_device
    from ..train._supervised import train_iter

    tc = config_from_args(TrainConfig, args)
    mc = config_from_args(ModelConfig, args)
    images, masks, names, channel_names = _load_pairs(args)
    out = model_out_dir(args.out)
    provenance = {
        "images": [str(p) for p in args.images],
        "masks": [str(p) for p in args.masks],
    }
    t0 = time.perf_counter()
    gen = train_iter(
        images,
        masks,
        tc,
        mc,
        init=args.init,
        provenance=provenance,
        input_channel_names=channel_names,
    )
    try:
        with ProgressBar("train", quiet=args.quiet) as bar:
            model = drain(gen, bar)
    except InputError as exc:
        raise _name_error(exc, names) from None
    model.save(out)
    last = model.log[-1] if model.log else {}
    print(
        f"saved model to {out} ({len(images)} plane(s), loss {last.get('loss', float('nan')):.4f})"
    )
    return {
        "command": "train",
        "model_dir": str(out),
        "planes": len(images),
        "steps": int(last.get("step", 0)),
        "final_loss": last.get("loss"),
        "device": describe_device(model.device),
        "seconds": round(time.perf_counter() - t0, 2),
        "input_channels": model.config.input_channels,
        "input_channel_names": model.config.input_channel_names,
        "failed": [],
    }
