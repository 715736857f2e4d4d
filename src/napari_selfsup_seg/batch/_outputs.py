"""The files that describe a folder run: ``summary.csv``, ``measurements.csv``, ``run.json`` and
the QC report ``report.html``.

They are rebuilt at the end of every run (also a stopped or interrupted one) from the journal of
finished images and the per-image measurement parts, each written to a temporary file and renamed
into place.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping, Sequence, Set
from pathlib import Path

from .. import __version__
from ..io._atomic import atomic_write
from ._measure import SUMMARY_COLUMNS, merge_csv_parts, write_csv_atomic
from ._records import ImageJob, RunInfo, RunSummary
from ._report import qc_report

SKIP_REASON = "already done with this model and settings (overwrite to redo)"


def finalise_run(
    run: RunInfo,
    jobs: Sequence[ImageJob],
    entries: Mapping[str, dict],
    skipped: Set[str],
) -> RunSummary:
    """Write ``summary.csv``, ``measurements.csv``, ``run.json`` and ``report.html``; return the
    run summary.

    Parameters
    ----------
    run : RunInfo
        Output folder, model, settings and start of the run.
    jobs : sequence of ImageJob
        Every image of the run, in order.
    entries : mapping of str to dict
        The journal's last entry per image key (this run's and earlier runs').
    skipped : set of str
        Keys of the images this run skipped as already done.
    """
    out_dir = run.out_dir
    counts = {"done": 0, "skipped": 0, "failed": 0, "not_run": 0}
    failed: list[dict[str, str]] = []
    parts: list[Path] = []
    diameters: dict[str, float] = {}
    n_objects = 0

    def summary_rows():
        nonlocal n_objects
        for job in jobs:
            entry = entries.get(job.key)
            if job.key in skipped:
                status, reason = "skipped", SKIP_REASON
            elif entry is not None and entry.get("run") == run.run_id:
                status, reason = entry["status"], entry.get("reason", "")
            else:
                status, reason, entry = "not_run", "stopped before this image", None
            counts[status] += 1
            if status == "failed":
                failed.append({"path": job.path, "reason": reason})
            elif status in ("done", "skipped"):
                parts.append(Path(job.part))
                n_objects += int(entry.get("count", 0) or 0) if entry else 0
                if entry and entry.get("diameter_px") is not None:
                    diameters[job.key] = entry["diameter_px"]
            row = {k: entry.get(k, "") for k in SUMMARY_COLUMNS} if entry else {}
            row.update(image=job.key, status=status, reason=reason)
            if status == "failed":
                row.update(output="", count="")
            yield row

    summary_csv = write_csv_atomic(out_dir / "summary.csv", SUMMARY_COLUMNS, summary_rows())
    measurements_csv, n_rows = merge_csv_parts(parts, out_dir / "measurements.csv")
    ended = time.time()
    seconds = round(ended - run.started, 3)
    processed = counts["done"] + counts["failed"]
    scheduler = run.scheduler
    manifest = {
        "command": "segment-folder",
        "package_version": __version__,
        "python": sys.version.split()[0],
        "model": str(run.model_dir.resolve()),
        "model_hash": run.model_hash,
        "input_dir": str(run.in_dir.resolve()) if run.in_dir is not None else None,
        "predict_config": run.config.to_dict(),
        "large_image": run.large.to_dict(),
        "workers": run.workers,
        "scheduler": scheduler if isinstance(scheduler, str) or scheduler is None else "client",
        "start": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(run.started)),
        "end": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ended)),
        "seconds": seconds,
        "counts": {"total": len(jobs), **counts},
        "n_objects": n_objects,
        "n_measurement_rows": n_rows,
    }
    _write_text_atomic(out_dir / "run.json", json.dumps(manifest, indent=2, default=str))
    report = qc_report(out_dir)
    return RunSummary(
        out_dir=str(out_dir),
        total=len(jobs),
        done=counts["done"],
        skipped=counts["skipped"],
        n_failed=counts["failed"],
        not_run=counts["not_run"],
        failed=failed,
        n_objects=n_objects,
        seconds=seconds,
        images_per_s=round(processed / seconds, 4) if seconds > 0 else 0.0,
        model_hash=run.model_hash,
        summary_csv=str(summary_csv),
        measurements_csv=str(measurements_csv),
        manifest=str(out_dir / "run.json"),
        report=str(report),
        diameters_px=diameters,
    )


def _write_text_atomic(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))
