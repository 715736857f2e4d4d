"""One image too large for memory in a folder run: block-wise labels plus streamed measurements.

Prediction and stitching are
:func:`napari_selfsup_seg.inference._blockwise.segment_blockwise_iter`; this module adds the
folder-run bookkeeping: each block's new objects are measured from that block as soon as it is
painted and streamed to the image's measurement part file, which is renamed into place right after
the ``<stem>_labels.zarr`` store.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from .._config import PredictConfig
from .._errors import InputError
from ..inference._blockwise import segment_blockwise_iter
from ..inference._input import image_predict_config, used_diameter
from ..io._atomic import atomic_write
from ..io._lazy import open_lazy
from ._measure import area_summary, measurement_columns, object_rows
from ._records import ImageJob, ImageOutcome, LargeImageOptions


def segment_large(
    model,
    job: ImageJob,
    config: PredictConfig,
    options: LargeImageOptions,
    stop: Callable[[], bool] | None = None,
) -> ImageOutcome:
    """Segment one large image block by block into ``<stem>_labels.zarr`` and its measurements.

    Parameters
    ----------
    model : LoadedModel
    job : ImageJob
    config : PredictConfig
    options : LargeImageOptions
        Block size and halo.
    stop : callable, optional
        Checked before every block; when it returns True,
        :class:`~napari_selfsup_seg.inference._blockwise.Stopped` is raised and neither the
        labels nor the measurement part are written.

    Returns
    -------
    ImageOutcome
        ``"done"``, with the output, object count and area summary.
    """
    image = open_lazy(job.path, job.scene)
    try:
        config = image_predict_config(config, image.pixel_size, Path(job.path).name)
    except InputError:
        image.close()
        raise
    Path(job.out_dir).mkdir(parents=True, exist_ok=True)
    final = job.output(large=True)
    areas: list[int] = []

    def write_part(tmp: str) -> None:
        blocks = segment_blockwise_iter(
            model, image, final, config, options.block_size, options.halo, stop, source=job.key
        )
        with open(tmp, "w", newline="") as fh, closing(blocks):
            writer = csv.DictWriter(
                fh, fieldnames=measurement_columns(image.n_channels), restval=""
            )
            writer.writeheader()
            for painted in blocks:
                for row in object_rows(
                    painted.labels,
                    painted.image,
                    job.key,
                    plane=painted.plane,
                    pixel_size=image.pixel_size,
                    offset=painted.offset,
                    only=painted.ids,
                ):
                    areas.append(row["area"])
                    writer.writerow(row)

    try:
        atomic_write(job.part, write_part)
    finally:
        image.close()
    outcome = ImageOutcome.written(job, final, area_summary(areas))
    return dataclasses.replace(outcome, diameter=used_diameter(model, config))
