"""What the QC report of a folder run shows, gathered from the run folder alone.

Read: ``run.json`` (settings, model, dates), ``summary.csv`` (one row per image), the ``area``
column of ``measurements.csv`` (streamed), and the journal for the input paths of runs whose
manifest does not name their input folder. Outliers are found with a robust rule (see
:func:`robust_bounds`) on the object count and on the median object area of each image.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._errors import InputError
from ._job import JOURNAL, STATE_DIR

#: Half-width of the normal range, in (scaled) median absolute deviations.
N_MAD = 3.0
#: Fewer images than this and no image is called an outlier.
MIN_IMAGES_FOR_OUTLIERS = 4
#: Statuses of images that have labels (done now or by an earlier run).
WITH_LABELS = ("done", "skipped")


@dataclass
class ImageRow:
    """One image of the run as the report shows it.

    Attributes
    ----------
    key : str
        Path relative to the input folder (the ``image`` column of ``summary.csv``).
    status : str
        ``"done"``, ``"skipped"``, ``"failed"`` or ``"not_run"``.
    reason : str
        Why it failed, was skipped or not run.
    count : int or None
        Objects found (None without labels).
    area_median, area_mean, area_cv : float or None
        Object area statistics in pixels (None without objects).
    seconds : float or None
    input : pathlib.Path or None
        The input image, when it can be found.
    labels : pathlib.Path or None
        The label image written, when it exists.
    flags : list of str
        Why the image is an outlier (empty when it is not).
    """

    key: str
    status: str
    reason: str = ""
    count: int | None = None
    area_median: float | None = None
    area_mean: float | None = None
    area_cv: float | None = None
    seconds: float | None = None
    input: Path | None = None
    labels: Path | None = None
    flags: list[str] = field(default_factory=list)


@dataclass
class RunData:
    """Everything the report needs, from one run folder.

    Attributes
    ----------
    run_dir : pathlib.Path
    manifest : dict
        ``run.json`` (empty when missing).
    rows : list of ImageRow
        One per row of ``summary.csv``, in its order.
    areas : numpy.ndarray
        Shape ``(n_objects,)``: the area of every object in ``measurements.csv`` (pixels).
    count_bounds, median_bounds : tuple of float or None
        Normal range of the object count and of the median area per image (None: too few
        images to tell).
    """

    run_dir: Path
    manifest: dict
    rows: list[ImageRow]
    areas: np.ndarray
    count_bounds: tuple[float, float] | None
    median_bounds: tuple[float, float] | None

    @property
    def outliers(self) -> list[ImageRow]:
        """Images outside a normal range."""
        return [r for r in self.rows if r.flags]

    @property
    def failed(self) -> list[ImageRow]:
        """Images that failed."""
        return [r for r in self.rows if r.status == "failed"]


def robust_bounds(values: np.ndarray, floor: float = 0.0) -> tuple[float, float] | None:
    """``median ± N_MAD × MAD`` of ``values`` (MAD scaled by 1.4826 to match a normal σ).

    Parameters
    ----------
    values : numpy.ndarray
        Shape ``(n,)``.
    floor : float
        Smallest MAD used, so that a set of nearly equal values does not flag every small
        difference.

    Returns
    -------
    tuple of float or None
        ``(low, high)``, or None for fewer than :data:`MIN_IMAGES_FOR_OUTLIERS` values.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size < MIN_IMAGES_FOR_OUTLIERS:
        return None
    med = float(np.median(values))
    mad = 1.4826 * float(np.median(np.abs(values - med)))
    mad = max(mad, floor, 0.05 * abs(med))
    return med - N_MAD * mad, med + N_MAD * mad


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        return None


def read_run(run_dir: str | os.PathLike) -> RunData:
    """Gather the report's data from a finished run folder.

    Raises
    ------
    InputError
        ``run_dir`` has no ``summary.csv`` (not a segment-folder output folder).
    """
    run_dir = Path(run_dir)
    summary = run_dir / "summary.csv"
    if not summary.is_file():
        raise InputError(f"{run_dir}: no summary.csv here; not a segment-folder output folder")
    try:
        manifest = json.loads((run_dir / "run.json").read_text())
    except (OSError, ValueError):
        manifest = {}
    inputs = _input_paths(run_dir, manifest)
    rows = []
    with open(summary, newline="") as fh:
        for rec in csv.DictReader(fh):
            key = rec.get("image", "")
            count = _number(rec.get("count"))
            has = rec.get("status") in WITH_LABELS
            rows.append(
                ImageRow(
                    key=key,
                    status=rec.get("status", ""),
                    reason=rec.get("reason", "") or "",
                    count=int(count) if count is not None and has else None,
                    area_median=_number(rec.get("area_median")),
                    area_mean=_number(rec.get("area_mean")),
                    area_cv=_number(rec.get("area_cv_percent")),
                    seconds=_number(rec.get("seconds")),
                    input=inputs(key),
                    labels=_labels_path(run_dir, key, rec.get("output", "")) if has else None,
                )
            )
    count_bounds, median_bounds = _flag_outliers(rows)
    areas = read_areas(run_dir / "measurements.csv")
    return RunData(run_dir, manifest, rows, areas, count_bounds, median_bounds)


def _flag_outliers(rows: list[ImageRow]):
    counted = [r for r in rows if r.count is not None]
    count_bounds = robust_bounds(np.array([r.count for r in counted]), floor=1.0)
    with_area = [r for r in counted if r.area_median is not None]
    median_bounds = robust_bounds(np.array([r.area_median for r in with_area]))
    for r in counted:
        n = r.count or 0
        if count_bounds is not None and not count_bounds[0] <= n <= count_bounds[1]:
            r.flags.append(f"{'few' if n < count_bounds[0] else 'many'} objects ({n})")
        if (
            median_bounds is not None
            and r.area_median is not None
            and not median_bounds[0] <= r.area_median <= median_bounds[1]
        ):
            side = "small" if r.area_median < median_bounds[0] else "large"
            r.flags.append(f"{side} objects (median area {r.area_median:g} px)")
    return count_bounds, median_bounds


def _labels_path(run_dir: Path, key: str, output: str) -> Path | None:
    """The label image of ``key``: as recorded, else beside the run files (a moved folder)."""
    if not output:
        return None
    recorded = Path(output)
    if recorded.is_absolute() and recorded.exists():
        return recorded
    moved = run_dir / Path(key).parent / recorded.name
    return moved if moved.exists() else None


def _input_paths(run_dir: Path, manifest: dict):
    """A function giving the input path of an image key (None when it cannot be found)."""
    in_dir = manifest.get("input_dir")
    recorded: dict[str, str] = {}
    if not in_dir:  # runs from before the manifest named the input folder
        try:
            with open(run_dir / STATE_DIR / JOURNAL) as fh:
                for line in fh:
                    try:
                        entry = json.loads(line)
                        recorded[entry["key"]] = entry["path"]
                    except (ValueError, KeyError, TypeError):
                        continue
        except OSError:
            pass

    def find(key: str) -> Path | None:
        path = Path(in_dir) / key if in_dir else Path(recorded[key]) if key in recorded else None
        return path if path is not None and path.exists() else None

    return find


def read_areas(path: Path) -> np.ndarray:
    """The ``area`` column of ``measurements.csv``, streamed; empty when there is none.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_rows,)``, float64.
    """
    chunks: list[np.ndarray] = []
    try:
        with open(path, newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, [])
            if "area" not in header:
                return np.zeros(0)
            col = header.index("area")
            buf: list[float] = []
            for rec in reader:
                try:
                    buf.append(float(rec[col]))
                except (ValueError, IndexError):
                    continue
                if len(buf) >= 1 << 16:
                    chunks.append(np.array(buf))
                    buf = []
            chunks.append(np.array(buf, dtype=np.float64))
    except OSError:
        return np.zeros(0)
    return np.concatenate(chunks) if chunks else np.zeros(0)
