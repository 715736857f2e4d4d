"""Per-object measurements and per-image summaries of a segmented folder, streamed to CSV.

Each image's object rows are written to their own small CSV part file as soon as the image is
done, so nothing grows with the number of images; :func:`merge_csv_parts` concatenates the parts
into ``measurements.csv`` at the end of a run, streaming line by line.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from ..io._atomic import atomic_write

#: Columns of ``measurements.csv`` before the per-channel intensity columns.
BASE_COLUMNS = (
    "image",
    "plane",
    "label",
    "area",
    "centroid_y",
    "centroid_x",
    "bbox_min_y",
    "bbox_min_x",
    "bbox_max_y",
    "bbox_max_x",
    "eccentricity",
    "solidity",
)
#: Physical-unit columns (micrometres), empty when the file has no pixel size.
PHYSICAL_COLUMNS = ("area_um2", "centroid_y_um", "centroid_x_um")

#: Object count and area statistics of one image (see :func:`area_summary`).
AREA_KEYS = (
    "count",
    "area_mean",
    "area_std",
    "area_cv_percent",
    "area_median",
    "area_min",
    "area_max",
    "area_sum",
)

#: Columns of ``summary.csv``, one row per image.
SUMMARY_COLUMNS = (
    "image", "status", "reason", *AREA_KEYS, "seconds", "output", "model_hash", "diameter_px"
)  # fmt: skip

_PROPS = ("label", "area", "centroid", "bbox", "eccentricity", "solidity")


def intensity_columns(n_channels: int) -> list[str]:
    """``mean_intensity_c0, max_intensity_c0, mean_intensity_c1, ...`` for ``n_channels``."""
    out = []
    for c in range(n_channels):
        out += [f"mean_intensity_c{c}", f"max_intensity_c{c}"]
    return out


def measurement_columns(n_channels: int) -> list[str]:
    """All columns of ``measurements.csv`` for images with ``n_channels`` channels."""
    return [*BASE_COLUMNS, *intensity_columns(n_channels), *PHYSICAL_COLUMNS]


def object_rows(
    labels: np.ndarray,
    intensity: np.ndarray,
    image: str,
    plane: int = 0,
    pixel_size: tuple[float, float] | None = None,
    offset: tuple[int, int] = (0, 0),
    only: Sequence[int] | np.ndarray | None = None,
) -> list[dict]:
    """One measurement row per object of a 2D label image.

    Parameters
    ----------
    labels : numpy.ndarray of int
        Shape ``(Y, X)``, 0 = background.
    intensity : numpy.ndarray
        Shape ``(C, Y, X)``: the image the objects were found in, all channels.
    image : str
        Name written in the ``image`` column.
    plane : int
        Plane index written in the ``plane`` column (0 for a 2D image).
    pixel_size : tuple of float, optional
        ``(y, x)`` in micrometres; fills the ``*_um`` columns.
    offset : tuple of int
        ``(y, x)`` added to centroids and boxes (position of a block in a larger image).
    only : sequence of int, optional
        Measure only these label values (others are treated as background).

    Returns
    -------
    list of dict
        Keys from :func:`measurement_columns`, sorted by label.
    """
    from skimage.measure import regionprops_table

    labels = np.asarray(labels)
    if only is not None:
        keep = np.isin(labels, np.asarray(only, dtype=labels.dtype))
        labels = np.where(keep, labels, 0)
    if not labels.any():
        return []
    n_channels = intensity.shape[0]
    table = regionprops_table(
        labels.astype(np.int64, copy=False),
        intensity_image=np.moveaxis(np.asarray(intensity, dtype=np.float64), 0, -1),
        properties=(*_PROPS, "intensity_mean", "intensity_max"),
    )
    oy, ox = offset
    rows = []
    for i in range(len(table["label"])):
        area = float(table["area"][i])
        cy = float(table["centroid-0"][i]) + oy
        cx = float(table["centroid-1"][i]) + ox
        row = {
            "image": image,
            "plane": plane,
            "label": int(table["label"][i]),
            "area": int(area),
            "centroid_y": round(cy, 4),
            "centroid_x": round(cx, 4),
            "bbox_min_y": int(table["bbox-0"][i]) + oy,
            "bbox_min_x": int(table["bbox-1"][i]) + ox,
            "bbox_max_y": int(table["bbox-2"][i]) + oy,
            "bbox_max_x": int(table["bbox-3"][i]) + ox,
            "eccentricity": round(float(table["eccentricity"][i]), 6),
            "solidity": round(float(table["solidity"][i]), 6),
        }
        for c in range(n_channels):
            row[f"mean_intensity_c{c}"] = round(float(table[f"intensity_mean-{c}"][i]), 6)
            row[f"max_intensity_c{c}"] = float(table[f"intensity_max-{c}"][i])
        if pixel_size is not None:
            py, px = pixel_size
            row["area_um2"] = round(area * py * px, 6)
            row["centroid_y_um"] = round(cy * py, 6)
            row["centroid_x_um"] = round(cx * px, 6)
        else:
            row.update(dict.fromkeys(PHYSICAL_COLUMNS, ""))
        rows.append(row)
    return rows


def area_summary(areas: Iterable[float]) -> dict:
    """Count and area statistics of one image's objects.

    Parameters
    ----------
    areas : iterable of float
        Object areas in pixels.

    Returns
    -------
    dict
        ``count``, ``area_mean``, ``area_std`` (population), ``area_cv_percent``,
        ``area_median``, ``area_min``, ``area_max``, ``area_sum``; the statistics are empty
        strings when there is no object.
    """
    a = np.asarray(list(areas), dtype=np.float64)
    keys = ("area_mean", "area_std", "area_cv_percent", "area_median", "area_min", "area_max")
    if a.size == 0:
        return {"count": 0, **dict.fromkeys(keys, ""), "area_sum": 0}
    mean = float(a.mean())
    std = float(a.std())
    return {
        "count": int(a.size),
        "area_mean": round(mean, 4),
        "area_std": round(std, 4),
        "area_cv_percent": round(100.0 * std / mean, 4) if mean > 0 else "",
        "area_median": float(np.median(a)),
        "area_min": float(a.min()),
        "area_max": float(a.max()),
        "area_sum": float(a.sum()),
    }


def write_csv_atomic(path: str | os.PathLike, columns: Sequence[str], rows: Iterable[dict]) -> Path:
    """Write rows to ``path`` through a temporary file renamed into place.

    Parameters
    ----------
    path : path-like
        Target CSV.
    columns : sequence of str
        Header; keys of a row not in it raise, missing keys are left empty.
    rows : iterable of dict
        Consumed lazily, so a generator keeps memory flat.
    """

    def write(tmp: str) -> None:
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(columns), restval="")
            writer.writeheader()
            for row in rows:
                writer.writerow(row)

    return atomic_write(path, write)


def read_header(path: str | os.PathLike) -> list[str]:
    """The header row of a CSV file."""
    with open(path, newline="") as fh:
        return next(csv.reader(fh), [])


def merge_csv_parts(parts: Sequence[str | os.PathLike], out: str | os.PathLike) -> tuple[Path, int]:
    """Concatenate CSV part files (headers may differ) into one CSV, row by row.

    The header of the result is the union of the parts' headers, in the order of
    :func:`measurement_columns` for the largest channel count seen.

    Returns
    -------
    tuple of (pathlib.Path, int)
        The written file and its number of data rows.
    """
    n_channels = 0
    for p in parts:
        names = read_header(p)
        n_channels = max(n_channels, sum(1 for c in names if c.startswith("mean_intensity_c")))
    columns = measurement_columns(n_channels)
    count = 0

    def rows():
        nonlocal count
        for p in parts:
            with open(p, newline="") as fh:
                for row in csv.DictReader(fh):
                    count += 1
                    yield row

    path = write_csv_atomic(out, columns, rows())
    return path, count
