"""Time to export a model as a bioimage.io package (``export-bioimageio``), and to validate it.

The model is the default network (``ModelConfig()``: ResNet-18 U-Net, 3 stages) trained for a
few steps on a generated sample image: export time does not depend on what the weights learnt.
Timed in one process after a warm-up export (so library imports are not counted), median of
``--repeats`` runs: the default export (generated 256² test input, state dict + TorchScript),
the state dict only, and a 512² test input cut from a real image (``nuclei2d_image.tif``). The
whole command as a user runs it (a new Python process, imports included) and
``bioimageio.core.test_model`` on the package are timed once. bioimageio's cache goes to a
temporary folder; nothing is downloaded.

Usage: python benchmarks/bench_export.py [--steps N] [--repeats R] [--no-report]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import DEFAULT_IMAGE, ROOT, command_line, report


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5, help="training steps of the model")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--image", default=str(DEFAULT_IMAGE), help="real image for a test input")
    parser.add_argument("--no-report", action="store_true")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="bench-export-"))
    os.environ["BIOIMAGEIO_CACHE_PATH"] = str(tmp / "bioimageio-cache")

    from napari_selfsup_seg._config import ModelConfig
    from napari_selfsup_seg.data._synthetic import make_sample
    from napari_selfsup_seg.export._bioimageio import export_bioimageio
    from napari_selfsup_seg.train._supervised import train

    sample = make_sample((256, 256), seed=0)
    model_dir = tmp / "model"
    train([sample.fluorescence], [sample.labels], steps=args.steps, model_config=ModelConfig(),
          batch_size=2, tile_size=128, device="cpu", model_dir=model_dir)  # fmt: skip
    export_bioimageio(model_dir, tmp / "warmup.zip")  # imports and first trace

    cases = {
        "default (generated 256² test input, state dict + TorchScript)": {},
        "state dict only": {"torchscript": False},
    }
    if Path(args.image).exists():
        cases[f"512² test input from {Path(args.image).name}"] = {"test_image": args.image}
    rows = {}
    for i, (label, kwargs) in enumerate(cases.items()):
        times = []
        for r in range(args.repeats):
            out = tmp / f"case{i}-{r}.zip"
            times.append(_timed(lambda o=out, k=kwargs: export_bioimageio(model_dir, o, **k)))
        rows[label] = {"median_s": statistics.median(times), "runs_s": times,
                       "package_mb": out.stat().st_size / 1e6}  # fmt: skip

    cli_out = tmp / "cli.zip"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    cmd = [sys.executable, "-m", "napari_selfsup_seg.cli.main", "export-bioimageio",
           str(model_dir), str(cli_out)]  # fmt: skip
    cli_s = _timed(lambda: subprocess.run(cmd, check=True, env=env, capture_output=True))

    from bioimageio.core import test_model

    summary = None

    def validate():
        nonlocal summary
        summary = test_model(cli_out)

    test_s = _timed(validate)
    load = os.getloadavg()[1]  # other processes share the machine: times scale with this
    passed = summary is not None and summary.status == "passed"

    table = "\n".join(
        f"| {label} | {row['median_s']:.2f} | {row['package_mb']:.1f} |"
        for label, row in rows.items()
    )
    markdown = f"""
Model: `ModelConfig()` (ResNet-18 U-Net, 3 stages, the default), trained {args.steps} steps on a
generated 256² sample image (export time does not depend on the weights). CPU. In-process
times after one warm-up export, median of {args.repeats}:

| export | seconds | package MB |
|---|---|---|
{table}

The whole command in a new process (Python, torch and bioimageio imports included):
**{cli_s:.1f} s**. `bioimageio.core.test_model` on that package (both weight formats, offline):
**{test_s:.1f} s**, status **{"passed" if passed else "FAILED"}**. Load average during the run
{load:.1f} on {os.cpu_count()} cores (the machine is shared: times vary about twofold with it).
"""
    result = {
        "exports": rows,
        "cli_seconds": cli_s,
        "test_model_seconds": test_s,
        "test_model_passed": passed,
        "load_average_5min": load,
        "steps": args.steps,
        "model": "resnet18 depth 3",
    }
    if not args.no_report:
        report("export", "Export a model as a bioimage.io package", command_line(), markdown,
               result)  # fmt: skip
    else:
        print(json.dumps({"benchmark": "export", **result}))
    return result


if __name__ == "__main__":
    main()
