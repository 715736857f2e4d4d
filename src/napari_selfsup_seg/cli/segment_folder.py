"""``napari-selfsup-seg segment-folder``: segment every image of a folder, with measurements."""

from __future__ import annotations

import argparse
import re

from .._config import PredictConfig
from ..batch._records import LargeImageOptions
from ._common import (
    ProgressBar,
    add_config_arguments,
    add_scene_argument,
    config_from_args,
    positive_float,
)
from ._flags import diameter_override, predict_diameter


def _positive(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


_ADDRESS = re.compile(r"^((tcp|tls|ucx|ws|wss)://)?(\[[0-9a-fA-F:]+\]|[A-Za-z0-9_.-]+)(:\d{1,5})?$")


def scheduler_address(text: str) -> str:
    """``type=`` of ``--scheduler``: refuses what cannot be a Dask address before connecting."""
    if not _ADDRESS.match(text.strip()):
        raise argparse.ArgumentTypeError(
            f"not a Dask scheduler address, e.g. tcp://node1:8786, got {text!r}"
        )
    return text.strip()


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "segment-folder",
        help="segment every image of a folder; labels, measurements and summary CSVs, QC report",
        description=(
            "Segment every image of IN_DIR matching --pattern with a trained model. Writes "
            "OUT_DIR/<stem>_labels.tif per image (<stem>_labels.zarr for images segmented block "
            "by block), OUT_DIR/measurements.csv (one row per object), OUT_DIR/summary.csv (one "
            "row per image), OUT_DIR/run.json and OUT_DIR/report.html (a self-contained QC "
            "report: thumbnails with outlines, histograms with outliers, failures). A rerun skips "
            "images already done with the same model and settings and rebuilds the report. "
            "Unreadable images are listed and the run goes on (exit status 1)."
        ),
    )
    p.add_argument(
        "--model",
        required=True,
        metavar="MODEL_DIR|PACKAGE.zip",
        help="trained model folder, or a bioimage.io package written by export-bioimageio",
    )
    p.add_argument("in_dir", metavar="IN_DIR", help="folder of input images")
    p.add_argument("out_dir", metavar="OUT_DIR", help="output folder (created if needed)")
    p.add_argument(
        "--pattern",
        default=None,
        metavar="GLOB",
        help="input file pattern, e.g. '*.czi' (default: every image file read: .tif, .tiff, "
        ".zarr folders, .nd2, .czi, .lif in any case; the last three need the formats extra)",
    )
    add_scene_argument(p)
    p.add_argument("--recursive", action="store_true", help="also search subfolders")
    p.add_argument(
        "--overwrite", action="store_true", help="redo images already done by an earlier run"
    )
    p.add_argument(
        "--workers",
        type=_positive,
        default=0,
        metavar="N",
        help="run on a local Dask cluster of N worker processes (0: in this process)",
    )
    p.add_argument(
        "--scheduler",
        type=scheduler_address,
        default=None,
        metavar="ADDRESS",
        help="address of a running Dask scheduler, e.g. tcp://node1:8786 (see docs/cluster.md)",
    )
    p.add_argument(
        "--scheduler-timeout",
        type=positive_float,
        default=10.0,
        metavar="S",
        help="seconds to wait for --scheduler to answer (default 10)",
    )
    add_config_arguments(
        p,
        LargeImageOptions,
        ["threshold", "block_size", "halo"],
        threshold={
            "flag": "--large-threshold",
            "metavar": "PIXELS",
            "help": "segment planes with more pixels than this block by block into Zarr",
        },
        block_size={"metavar": "PX", "help": "block side"},
        halo={"metavar": "PX", "help": "context around each block; larger than the largest object"},
    )
    add_config_arguments(
        p,
        PredictConfig,
        ["tile_size", "input_channels", "device", "diameter", "flips"],
        diameter=diameter_override(
            "sizes the post-processing", "the one the model recorded from its training masks"
        ),
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> dict:
    from ..batch._folder import segment_folder

    overlap = min(PredictConfig().overlap, args.tile_size // 2)
    config = config_from_args(PredictConfig, args, overlap=overlap, **predict_diameter(args))
    large = config_from_args(LargeImageOptions, args)
    with ProgressBar("segment-folder", quiet=args.quiet) as bar:
        summary = segment_folder(
            args.model,
            args.in_dir,
            args.out_dir,
            callback=bar,
            pattern=args.pattern,
            recursive=args.recursive,
            overwrite=args.overwrite,
            workers=args.workers,
            scheduler=args.scheduler,
            predict_config=config,
            large=large,
            scheduler_timeout=args.scheduler_timeout,
            scene=args.scene,
        )
    print(
        f"{summary['done']} done, {summary['skipped']} skipped, {summary['n_failed']} failed "
        f"of {summary['total']} image(s); {summary['n_objects']} objects; "
        f"{summary['images_per_s']:.2f} images/s; outputs in {summary['out_dir']}"
    )
    if summary.get("report"):
        print(f"QC report: {summary['report']}")
    return summary
