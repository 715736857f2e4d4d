"""``napari-selfsup-seg demo``: the whole loop on generated sample data."""

from __future__ import annotations

import argparse

from ..workflows._demo import DemoConfig
from ._common import ProgressBar, add_config_arguments, config_from_args, ensure_out_dir


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "demo",
        help="run the whole loop on generated sample data (a few minutes on a CPU)",
        description=(
            "Generate paired brightfield/fluorescence images of nuclei, make pseudo-masks from "
            "the fluorescent channel, train a U-Net on the brightfield channel, segment held-out "
            "fields and score them against the true masks. Writes labels, metrics.json and "
            "demo.png into DIR."
        ),
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    add_config_arguments(p, DemoConfig, ["steps", "size", "seed"])
    p.add_argument(
        "--tiny", action="store_true", help="use a very small network (seconds; for smoke tests)"
    )
    add_config_arguments(p, DemoConfig, ["device"])
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> dict:
    from .._config import ModelConfig
    from .._progress import drain
    from ..workflows._demo import run_demo_iter

    tiny = {"model": ModelConfig.tiny()} if args.tiny else {}
    config = config_from_args(DemoConfig, args, **tiny)
    out = ensure_out_dir(args.out)
    with ProgressBar("demo") as bar:
        result = drain(run_demo_iter(out, config), bar)
    t = result.metrics["teacher_fluorescence_threshold"]
    m = result.metrics["model_brightfield"]
    print(
        f"pseudo-masks from fluorescence: AP@0.5 {t['ap']['0.5']:.3f}, pixel F1 {t['pixel_f1']:.3f}"
    )
    print(
        f"U-Net on brightfield (held-out):  AP@0.5 {m['ap']['0.5']:.3f}, "
        f"F1@0.5 {m['f1']['0.5']:.3f}, pixel F1 {m['pixel_f1']:.3f}"
    )
    print(f"figure: {result.files['figure']}")
    return {
        "command": "demo",
        "out": str(out),
        "files": result.files,
        "teacher_ap50": t["ap"]["0.5"],
        "model_ap50": m["ap"]["0.5"],
        "model_f1_50": m["f1"]["0.5"],
        "model_pixel_f1": m["pixel_f1"],
        "seconds": round(result.seconds, 1),
        "failed": [],
    }
