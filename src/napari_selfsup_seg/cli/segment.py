"""``napari-selfsup-seg segment``: instance labels for images with a trained model."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import cast

import numpy as np

from .._config import PredictConfig
from .._errors import InputError
from ..io._image import image_stem, read_image
from ..io._output_guard import OutputPlan
from ..io._tiff_write import write_labels
from ._common import (
    ProgressBar,
    add_config_arguments,
    add_scene_argument,
    config_from_args,
    ensure_out_dir,
    name_file,
)
from ._flags import diameter_override, predict_diameter


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "segment",
        help="segment images with a trained model -> DIR/<stem>_labels.tif",
        description=(
            "Predict instance labels for each image with a trained model. Stacks keep their "
            "planes (the channel axis is dropped); the model's recorded input channel is used "
            "(by name when the file names its channels) unless --input-channel says otherwise. "
            "An image that fails is listed and the others are still written (exit status 1)."
        ),
    )
    p.add_argument(
        "--model",
        required=True,
        metavar="MODEL_DIR|PACKAGE.zip",
        help="trained model folder, or a bioimage.io package written by export-bioimageio",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", help="images to segment")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    add_scene_argument(p)
    add_config_arguments(
        p,
        PredictConfig,
        [
            "device",
            "tile_size",
            "overlap",
            "batch_size",
            "foreground_threshold",
            "seed_threshold",
            "min_size",
            "diameter",
            "input_channels",
            "flips",
        ],
        diameter=diameter_override(
            "sizes the post-processing", "the one the model recorded from its training masks"
        ),
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)
    return p


def segment_file(model, path: Path, out_dir: Path, config, bar=None, scene=None) -> dict:
    """Segment one file (its ``scene``) and write ``out_dir/<stem>_labels.tif``; returns a
    summary row (with ``diameter_px``, the object diameter in pixels that sized the
    post-processing: given, converted from µm, or the model's; ``None`` without one)."""
    from .._progress import drain
    from ..inference._input import image_predict_config, used_diameter
    from ..inference._predict import predict_stack_iter

    stack = read_image(path, scene=scene)
    try:
        config = image_predict_config(config, stack.pixel_size, path.name)
        labels = cast(np.ndarray, drain(predict_stack_iter(model, stack, config), bar))
    except InputError as exc:
        raise name_file(exc, path) from None
    target = labels_path(out_dir, path)
    write_labels(target, labels, axes=stack.plane_axes + "YX", pixel_size=stack.pixel_size)
    return {
        "path": str(path),
        "output": str(target),
        "shape": list(labels.shape),
        "objects": int(
            sum(len(np.unique(p[p > 0])) for p in labels.reshape(-1, *labels.shape[-2:]))
        ),
        "diameter_px": used_diameter(model, config),
    }


def labels_path(out: Path, image: str | Path) -> Path:
    """Where the labels of ``image`` are written: ``OUT/<stem>_labels.tif``."""
    return out / f"{image_stem(image)}_labels.tif"


def plan_outputs(images: list[str], out: Path) -> None:
    """Refuse a run whose outputs would overwrite an input or each other (nothing written)."""
    plan = OutputPlan(images)
    for path in images:
        plan.claim(labels_path(out, path), path)


def run(args: argparse.Namespace) -> dict:
    from ..inference._predict import flip_views
    from ..models._factory import describe_device, load_model

    config = config_from_args(PredictConfig, args, **predict_diameter(args))
    plan_outputs(args.images, Path(args.out))
    model = load_model(args.model, device=args.device)
    views = len(flip_views(model, config.flips))
    if views < config.flips:
        print(
            f"segment: averaging {views} of the {config.flips} flips asked, the ones the model "
            "was trained on (its objects look different when turned, e.g. light from one side)",
            file=sys.stderr,
        )
    out = ensure_out_dir(args.out)
    t0 = time.perf_counter()
    done, failed = [], []
    with ProgressBar("segment", quiet=args.quiet) as bar:
        for path in map(Path, args.images):
            try:
                done.append(segment_file(model, path, out, config, bar, args.scene))
            except InputError as exc:
                if len(args.images) == 1:
                    raise
                failed.append({"path": str(path), "reason": str(exc)})
    for row in done:
        print(f"{row['path']} -> {row['output']} ({row['objects']} objects)")
    return {
        "command": "segment",
        "model": str(args.model),
        "out": str(out),
        "flips_used": views,
        "written": done,
        "failed": failed,
        "device": describe_device(model.device),
        "seconds": round(time.perf_counter() - t0, 2),
    }
