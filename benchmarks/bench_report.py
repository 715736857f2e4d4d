"""QC report of a folder run: time to build ``report.html`` for 200 images, and its size.

A real run, not a mock-up: generated nuclei fields (uint16, as in ``bench_batch.py``), plus two
blank images (outliers: no objects) and one truncated file (a failure), are segmented by
``segment_folder`` with a tiny U-Net trained for a few steps; ``segment_folder`` writes the
report at the end of the run. Then ``qc_report(run_dir)`` rebuilds it from the run folder alone,
three times (the median is reported), once with every thumbnail embedded and once with none, to
separate the cost of the thumbnails from reading the CSVs and drawing the histograms.

Usage::

    python benchmarks/bench_report.py [--files 200] [--size 128]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import command_line, report
from bench_batch import _train, _write_folder


def _timed(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _markdown(res: dict) -> str:
    n = res["files"]
    table = [
        (f"build the report, {res['thumbnails']} thumbnails",
         f"{res['report_s']:.2f} s ({res['ms_per_image']:.1f} ms per image)"),
        ("build it without thumbnails (CSVs, outliers, histograms, table)",
         f"{res['report_no_thumbs_s']:.2f} s"),
        ("the whole `segment_folder` run, report included",
         f"{res['run_s']:.1f} s (report: {100 * res['report_share']:.0f} %)"),
        ("`report.html` size",
         f"{res['report_kb']:.0f} KB ({res['kb_per_thumbnail']:.1f} KB per thumbnail)"),
        ("outliers marked / failures listed", f"{res['outliers']} / {res['failures']}"),
    ]  # fmt: skip
    rows = "\n".join(f"| {k} | {v} |" for k, v in table)
    return f"""
{n} files in one folder: {n - 3} generated {res["size"]}² nuclei fields, 2 blank images and 1
truncated file, segmented by `segment_folder` with a tiny U-Net (trained 30 steps); the report
is then rebuilt from the run folder by `qc_report(run_dir)` (median of 3).

| | value |
|---|---|
{rows}

Thumbnails are capped at 200 per report (the outliers and failures first, then an even sample),
so a 10,000-image run embeds no more pictures than this one; the table and the CSV reading grow
with the number of images (about {1000 * res["report_no_thumbs_s"] / n:.1f} ms per image here,
without thumbnails).
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200, help="files in the folder")
    parser.add_argument("--size", type=int, default=128, help="side of the generated images")
    args = parser.parse_args()
    from napari_selfsup_seg._config import PredictConfig
    from napari_selfsup_seg.batch._folder import segment_folder
    from napari_selfsup_seg.batch._report import qc_report
    from napari_selfsup_seg.io._tiff_write import write_image

    tmp = Path(tempfile.mkdtemp(prefix="bench_report_"))
    try:
        model_dir, src, out = tmp / "model", tmp / "in", tmp / "out"
        _train(model_dir)
        _write_folder(src, args.files - 3, args.size)
        rng = np.random.default_rng(0)
        for name in ("blank_a.tif", "blank_b.tif"):
            write_image(src / name, rng.normal(200, 5, (args.size, args.size)).astype(np.uint16))
        good = (src / "img0000.tif").read_bytes()
        (src / "truncated.tif").write_bytes(good[: len(good) // 3])
        t = time.perf_counter()
        summary = segment_folder(model_dir, src, out, predict_config=PredictConfig(device="cpu"))
        run_s = time.perf_counter() - t
        report_s = _timed(lambda: qc_report(out))
        page = (out / "report.html").read_text(encoding="utf-8")
        size_kb = (out / "report.html").stat().st_size / 1024
        n_thumbs = page.count('<img src="data:image/png')
        no_thumbs_s = _timed(lambda: qc_report(out, max_thumbnails=0))
        outliers = int(re.search(r"<h2>Outliers \((\d+)\)", page).group(1))  # type: ignore[union-attr]
        failures = int(re.search(r"<h2>Failures \((\d+)\)", page).group(1))  # type: ignore[union-attr]
        res = {
            "files": args.files,
            "size": args.size,
            "data": "segment_folder run (tiny U-Net) on generated images",
            "done": summary["done"],
            "thumbnails": n_thumbs,
            "report_s": round(report_s, 3),
            "ms_per_image": round(1000 * report_s / args.files, 2),
            "report_no_thumbs_s": round(no_thumbs_s, 3),
            "run_s": round(run_s, 2),
            "report_share": round(report_s / run_s, 4),
            "report_kb": round(size_kb, 1),
            "kb_per_thumbnail": round(size_kb / max(1, n_thumbs), 2),
            "outliers": outliers,
            "failures": failures,
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report(
        "qc_report",
        f"QC report of a folder run ({args.files} images)",
        command_line(),
        _markdown(res),
        res,
    )


if __name__ == "__main__":
    main()
