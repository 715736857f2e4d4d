"""``napari-selfsup-seg export-bioimageio``: a trained model as a bioimage.io model package."""

from __future__ import annotations

import argparse
import time


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "export-bioimageio",
        help="write a trained model as a bioimage.io model package (.zip)",
        description=(
            "Write MODEL_DIR as a bioimage.io model package (model spec 0.5): PyTorch state-dict "
            "weights (and TorchScript when the network traces), the model's percentile "
            "normalisation, a test input with its expected output, a cover image, and the "
            "provenance of the training labels in README.md and as attachments (config.json, "
            "training_log.csv). Validate it with `bioimageio test OUT.zip`; "
            "`segment --model OUT.zip` runs it again."
        ),
    )
    p.add_argument("model", metavar="MODEL_DIR", help="trained model folder")
    p.add_argument("out", metavar="OUT.zip", help="package to write")
    p.add_argument("--name", metavar="N", help="model name (default: from the folder name)")
    p.add_argument(
        "--authors",
        nargs="+",
        metavar="A",
        help="author names, each one argument (quote names with spaces; default: your login name)",
    )
    p.add_argument(
        "--license",
        default="CC-BY-4.0",
        metavar="L",
        help="SPDX licence identifier (default: CC-BY-4.0)",
    )
    p.add_argument(
        "--test-image",
        metavar="IMAGE",
        help="image whose first plane is the package's test input (default: a generated one)",
    )
    p.add_argument(
        "--no-torchscript", action="store_true", help="write the state-dict weights only"
    )
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> dict:
    from ..export._bioimageio import export_bioimageio

    t0 = time.perf_counter()
    result = export_bioimageio(
        args.model,
        args.out,
        name=args.name,
        authors=args.authors,
        license=args.license,
        test_image=args.test_image,
        torchscript=not args.no_torchscript,
    )
    for note in result.notes:
        print(f"note: {note}")
    print(
        f"wrote {result.path} ({', '.join(result.weight_formats)}); "
        f"validate it with: bioimageio test {result.path}"
    )
    return {
        "command": "export-bioimageio",
        "model": str(args.model),
        "out": str(result.path),
        "name": result.name,
        "weight_formats": result.weight_formats,
        "test_shape": list(result.test_shape),
        "notes": result.notes,
        "failed": [],
        "seconds": round(time.perf_counter() - t0, 2),
    }
