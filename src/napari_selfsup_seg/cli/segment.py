"""``napari-selfsup-seg segment``: instance labels for images with a trained model."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from .._errors import InputError
from ..io._image import image_stem, read_image
from ..io._output_guard import OutputPlan
from ..io._tiff_write import write_labels
from ._common import ProgressBar, add_device_argument, ensure_out_dir, finite_float, name_file


def channel_list(text: str) -> tuple[int, ...]:
    """``--input-channel`` value: one channel index, or several separated by commas."""
    try:
        chans = tuple(int(t) for t in text.split(","))
    except ValueError:
        msg = f"expected channel index(es) like 1 or 0,2, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if any(c < 0 for c in chans):
        raise argparse.ArgumentTypeError(f"channel indices must be >= 0, got {text!r}")
    return chans


def add_input_channel_argument(p: argparse.ArgumentParser) -> None:
    """The ``--input-channel C`` option of the segmenting commands."""
    p.add_argument(
        "--input-channel",
        type=channel_list,
        default=None,
        metavar="C",
        help="channel of each image to feed the model, e.g. 1 (several: 0,2); default: the "
        "channel the model records, found by name when the file names its channels",
    )


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
    p.add_argument("--model", required=True, metavar="MODEL_DIR", help="trained model folder")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="images to segment")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    add_device_argument(p)
    p.add_argument("--tile-size", type=int, default=512, help="prediction tile side (x32)")
    p.add_argument("--overlap", type=int, default=32, help="overlap between tiles (px)")
    p.add_argument("--batch-size", type=int, default=4, help="tiles per forward pass")
    p.add_argument(
        "--foreground-threshold", type=finite_float, default=0.5, help="interior+boundary cut"
    )
    p.add_argument(
        "--seed-threshold", type=finite_float, default=0.5, help="interior cut for seeds"
    )
    p.add_argument("--min-size", type=int, default=16, help="smallest object kept (pixels)")
    add_input_channel_argument(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)
    return p


def segment_file(model, path: Path, out_dir: Path, config, bar=None) -> dict:
    """Segment one file and write ``out_dir/<stem>_labels.tif``; returns a summary row."""
    from .._progress import drain
    from ..inference._predict import predict_stack_iter

    stack = read_image(path)
    try:
        labels = drain(predict_stack_iter(model, stack, config), bar)
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
    from .._config import PredictConfig
    from ..models._factory import describe_device, load_model

    config = PredictConfig(
        tile_size=args.tile_size,
        overlap=args.overlap,
        batch_size=args.batch_size,
        device=args.device,
        foreground_threshold=args.foreground_threshold,
        seed_threshold=args.seed_threshold,
        min_size=args.min_size,
        input_channels=args.input_channel,
    )
    plan_outputs(args.images, Path(args.out))
    model = load_model(args.model, device=args.device)
    out = ensure_out_dir(args.out)
    t0 = time.perf_counter()
    done, failed = [], []
    with ProgressBar("segment", quiet=args.quiet) as bar:
        for path in map(Path, args.images):
            try:
                done.append(segment_file(model, path, out, config, bar))
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
        "written": done,
        "failed": failed,
        "device": describe_device(model.device),
        "seconds": round(time.perf_counter() - t0, 2),
    }
