"""One image of a folder run: inspect, read, predict, write the labels and the measurement part.

These functions are shared by the in-process pipeline of :mod:`napari_selfsup_seg.batch._folder`
and the Dask workers of :mod:`napari_selfsup_seg.batch._distributed`; they take plain values and
return an :class:`~napari_selfsup_seg.batch._records.ImageOutcome`, so they pickle. Prediction
itself is delegated to :mod:`napari_selfsup_seg.inference._predict` (whole images) and
:mod:`napari_selfsup_seg.inference._blockwise` (images too large for memory, through
:mod:`napari_selfsup_seg.batch._large`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .._config import PredictConfig
from .._errors import InputError
from ..inference._blockwise import Stopped
from ..io._image import ImageStack, read_image
from ..io._lazy import plane_shape
from ..io._tiff_write import write_labels
from ._large import segment_large
from ._measure import area_summary, measurement_columns, object_rows, write_csv_atomic
from ._records import ImageJob, ImageOutcome, LargeImageOptions

__all__ = [
    "JOURNAL",
    "PARTS_DIR",
    "STATE_DIR",
    "ImageJob",
    "LargeImageOptions",
    "Stopped",
    "failure_reason",
    "is_large",
    "make_job",
    "predict_stack_labels",
    "run_job",
    "write_outputs",
]

STATE_DIR = ".segment_folder"
JOURNAL = "journal.jsonl"
PARTS_DIR = "measurements"


def make_job(in_dir: Path, out_dir: Path, path: Path, scene: int | str | None = None) -> ImageJob:
    """The :class:`ImageJob` of ``path`` found under ``in_dir`` (``scene``: which image of it)."""
    rel = path.relative_to(in_dir)
    part_name = hashlib.sha1(rel.as_posix().encode()).hexdigest()[:16] + ".csv"
    return ImageJob(
        path=str(path),
        key=rel.as_posix(),
        out_dir=str(out_dir / rel.parent),
        part=str(out_dir / STATE_DIR / PARTS_DIR / part_name),
        scene=scene,
    )


def is_large(
    path: str | os.PathLike, options: LargeImageOptions, scene: int | str | None = None
) -> bool:
    """Whether ``path`` goes the block-by-block way (zarr, or planes above the threshold).

    Raises
    ------
    InputError
        The file cannot be opened, or has no such scene.
    """
    path = Path(path)
    if path.is_dir():
        if path.name.lower().endswith(".zarr"):
            return True
        raise InputError(f"{path}: is a folder, not an image")
    y, x = plane_shape(path, scene)
    return y * x > options.threshold


def predict_stack_labels(
    model, stack: ImageStack, config: PredictConfig
) -> tuple[np.ndarray, float | None]:
    """Instance labels of every plane of ``stack`` (shape ``plane_shape + (Y, X)``) and the
    object diameter in pixels that sized them (``config.diameter_um`` converted with the
    image's pixel size, ``config.diameter`` or the model's; ``None`` without one)."""
    from ..inference._input import image_predict_config, used_diameter
    from ..inference._predict import predict_stack

    config = image_predict_config(config, stack.pixel_size, stack.name)
    return np.asarray(predict_stack(model, stack, config)), used_diameter(model, config)


def write_outputs(
    job: ImageJob, stack: ImageStack, labels: np.ndarray, diameter: float | None = None
) -> ImageOutcome:
    """Write ``<stem>_labels.tif`` and the measurement part of one image.

    Parameters
    ----------
    job : ImageJob
    stack : ImageStack
        The input, for intensities and pixel size.
    labels : numpy.ndarray of int
        Shape ``stack.plane_shape + (Y, X)``.
    diameter : float, optional
        The object diameter in pixels that sized the labels, recorded in the outcome.

    Returns
    -------
    ImageOutcome
        ``"done"``, with the output, object count and
        :func:`~napari_selfsup_seg.batch._measure.area_summary` (``seconds`` is 0).
    """
    Path(job.out_dir).mkdir(parents=True, exist_ok=True)
    out = job.output(large=False)
    axes = stack.plane_axes + "YX"
    labels = np.asarray(labels).reshape(*stack.plane_shape, *labels.shape[-2:])
    write_labels(out, labels, axes=axes, pixel_size=stack.pixel_size)
    planes = stack.planes()
    flat = labels.reshape(-1, *labels.shape[-2:])
    areas: list[int] = []

    def rows():
        for i, (lab, img) in enumerate(zip(flat, planes)):
            for row in object_rows(lab, img, job.key, plane=i, pixel_size=stack.pixel_size):
                areas.append(row["area"])
                yield row

    write_csv_atomic(job.part, measurement_columns(stack.n_channels), rows())
    return dataclasses.replace(
        ImageOutcome.written(job, out, area_summary(areas)), diameter=diameter
    )


def run_job(
    model,
    job: ImageJob,
    config: PredictConfig,
    large: LargeImageOptions,
    stop: Callable[[], bool] | None = None,
) -> ImageOutcome:
    """Read, segment and write one image; failures become a ``"failed"`` outcome.

    ``stop`` is checked between the blocks of a large image; when it returns True,
    :class:`Stopped` is raised and nothing is written. A diameter in micrometres
    (``config.diameter_um``) is turned into pixels with the image's own pixel size (an image
    without one fails); the outcome records the diameter in pixels used.
    """
    t0 = time.perf_counter()
    try:
        if is_large(job.path, large, job.scene):
            outcome = segment_large(model, job, config, large, stop)
        else:
            stack = read_image(job.path, scene=job.scene)
            outcome = write_outputs(job, stack, *predict_stack_labels(model, stack, config))
    except (InputError, OSError, ValueError, RuntimeError, MemoryError) as exc:
        outcome = ImageOutcome.failure(job, failure_reason(exc))
    return outcome.with_seconds(time.perf_counter() - t0)


def failure_reason(exc: BaseException) -> str:
    """A one-line reason for a failed image."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    if isinstance(exc, InputError):
        return text
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
