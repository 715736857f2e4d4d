"""``napari-selfsup-seg pretrain``: self-supervised pretraining of a U-Net, no labels needed."""

from __future__ import annotations

import argparse

import numpy as np

from .._config import ModelConfig
from .._errors import InputError
from ..data._normalize import check_finite
from ..io._image import read_image
from ..train._pretrain_config import PretrainConfig
from ._common import (
    DEVICE,
    ProgressBar,
    add_config_arguments,
    add_scene_argument,
    config_from_args,
    model_out_dir,
)


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "pretrain",
        help="pretrain a U-Net on unlabelled images (restore corrupted tiles); no labels needed",
        description=(
            "Pretrain the whole U-Net (encoder and decoder) on random tiles of the images by "
            "restoring corrupted copies (intensity curves, pixel shuffling, in/out-painting, "
            "noise), optionally with a contrastive term. Stacks are used plane by plane. The "
            "MODEL_DIR written is fine-tuned with 'train --init MODEL_DIR'."
        ),
    )
    p.add_argument("--images", nargs="+", required=True, metavar="IMAGE", help="TIFF images")
    p.add_argument("--out", required=True, metavar="MODEL_DIR", help="folder for the model")
    add_scene_argument(p)
    add_config_arguments(p, PretrainConfig, ["steps"], steps={"metavar": "N"})
    add_config_arguments(p, ModelConfig, ["encoder", "encoder_depth"])
    add_config_arguments(
        p,
        PretrainConfig,
        ["tile_size", "batch_size", "learning_rate"],
        tile_size={"help": "tile side (x32)", "metavar": "PX"},
        batch_size={"help": "tiles per step", "metavar": "B"},
        learning_rate={"flag": "--lr", "help": "peak learning rate", "metavar": "LR"},
    )
    p.add_argument(
        "--input-channel",
        type=int,
        default=None,
        metavar="C",
        help="channel used as network input (needed for multi-channel images)",
    )
    add_config_arguments(
        p,
        PretrainConfig,
        ["contrastive_weight", "device", "seed"],
        contrastive_weight={"metavar": "W"},
        device=DEVICE,
        seed={"help": "random seed", "metavar": "S"},
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)
    return p


def _read_planes(paths: list[str], channel: int | None, scene=None) -> list[np.ndarray]:
    """All ``(1, Y, X)`` planes of the chosen channel of every file, checked."""
    planes: list[np.ndarray] = []
    for path in paths:
        stack = read_image(path, scene=scene)
        if channel is None and stack.n_channels > 1:
            raise InputError(
                f"{path}: has {stack.n_channels} channels; choose one with --input-channel"
            )
        data = stack.planes(channel if channel is not None else None)
        if data.dtype.kind not in "uif":
            raise InputError(f"{path}: unsupported pixel type {data.dtype}")
        check_finite(data, path)
        for i, plane in enumerate(data):
            if plane.min() == plane.max():
                where = f" (plane {i})" if len(data) > 1 else ""
                raise InputError(f"{path}: image is constant{where}; nothing to learn from")
            planes.append(plane)
    return planes


def run(args: argparse.Namespace) -> dict:
    import time

    from .._progress import drain
    from ..models._factory import describe_device
    from ..train._pretrain import pretrain_iter

    model_config = config_from_args(ModelConfig, args)
    config = config_from_args(PretrainConfig, args, input_channel=None)
    planes = _read_planes(args.images, args.input_channel, args.scene)
    out = model_out_dir(args.out)
    start = time.perf_counter()
    with ProgressBar("pretrain", quiet=args.quiet) as bar:
        model = drain(pretrain_iter(planes, model_config, config), bar)
    if args.input_channel is not None:
        model.config.input_channels = [args.input_channel]
        model.config.training["input_channel"] = args.input_channel
    model.config.provenance["images"] = [str(p) for p in args.images]
    model.save(out)
    log = model.log
    if log:
        print(
            f"saved pretrained model to {out} ({len(planes)} plane(s), restoration loss "
            f"{log[0]['restoration']:.4f} -> {log[-1]['restoration']:.4f})"
        )
    return {
        "command": "pretrain",
        "model_dir": str(out),
        "n_images": len(args.images),
        "n_planes": len(planes),
        "steps": len(log),
        "restoration_loss_first": log[0]["restoration"] if log else None,
        "restoration_loss_last": log[-1]["restoration"] if log else None,
        "loss_last": log[-1]["loss"] if log else None,
        "seconds": round(time.perf_counter() - start, 2),
        "device": describe_device(model.device),
        "failed": [],
    }
