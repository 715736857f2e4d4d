"""Segmenting images too large for memory: block-wise prediction stitched into a Zarr store.

Method (chosen because it needs no global pass over probabilities and keeps peak memory bounded
by one block):

1. The input is opened lazily (:func:`napari_selfsup_seg.io._lazy.open_lazy`): nothing but the
   block at hand is read into memory.
2. Normalisation percentiles are computed once for the whole plane from a strided subsample of
   every block (:func:`global_range`), so all blocks are scaled the same way (per-block
   percentiles would make the brightness, and so the objects, change from block to block).
3. The plane is cut into square *core* blocks (``block_size``). Each core is read with a *halo*
   of context on every side, predicted with the tiled U-Net
   (:func:`napari_selfsup_seg.inference._predict.probabilities_iter`) and turned into instances
   with :func:`napari_selfsup_seg.inference._postprocess.probabilities_to_instances`.
4. Stitching by ownership: a block keeps only the objects whose centroid lies in its core. An
   object that crosses a core border is therefore taken, whole, from the one block that owns its
   centroid, and since the halo is wider than an object it is seen complete there. Kept objects
   get fresh global ids and are painted into the output only where no earlier object lies, so
   the output never holds two ids on one pixel and an object, once written, never changes.
   Objects larger than the halo can be cut at the halo's edge; make the halo larger than the
   largest object.
5. After each block, :func:`segment_blockwise_iter` yields the painted region with the ids it
   added, so a caller can measure each object from the same block right away.

The labels go to a Zarr store (uint32, chunks of one block), written under a temporary name and
renamed when complete.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .._config import PredictConfig
from ..data._normalize import (
    NormalizationConfig,
    check_finite,
    flatten_planes,
    percentile_range,
    scale_to_range,
)
from ..io._atomic import atomic_folder
from ..io._lazy import LazyImage
from ..models._channels import model_channels

if TYPE_CHECKING:
    from ..models._factory import LoadedModel

#: Pixels sampled per plane and channel for the normalisation percentiles.
MAX_SAMPLES = 4_000_000


class Stopped(Exception):
    """Raised when a run was asked to stop between blocks; the output under way is discarded."""


@dataclass
class PaintedBlock:
    """One block's contribution to the output, yielded right after it is written.

    Attributes
    ----------
    plane : int
        Index of the plane (0 for a 2D image).
    labels : numpy.ndarray of uint32
        Shape ``(h, w)``: the output over the block with its halo, after painting.
    image : numpy.ndarray
        Shape ``(C, h, w)``: the input over the same region, all channels.
    offset : tuple of int
        ``(y, x)`` of the region in the plane.
    ids : numpy.ndarray of int
        The object ids this block added (each lies whole inside the region).
    """

    plane: int
    labels: np.ndarray
    image: np.ndarray
    offset: tuple[int, int]
    ids: np.ndarray


def blocks(shape: tuple[int, int], size: int) -> Iterator[tuple[int, int, int, int]]:
    """``(y0, y1, x0, x1)`` of the core blocks of a plane."""
    h, w = shape
    for y0 in range(0, h, size):
        for x0 in range(0, w, size):
            yield y0, min(h, y0 + size), x0, min(w, x0 + size)


def global_range(
    image: LazyImage,
    plane: tuple[int, ...],
    chans: list[int],
    size: int,
    norm: NormalizationConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel normalisation ``(lo, span)`` of a whole plane from a strided subsample.

    The percentiles are those of :func:`napari_selfsup_seg.data._normalize.percentile_range`,
    taken over about :data:`MAX_SAMPLES` pixels read block by block.

    Returns
    -------
    lo, span : numpy.ndarray of float32
        Shape ``(len(chans),)``.
    """
    h, w = image.shape_yx
    step = max(1, int(np.ceil(np.sqrt(h * w / MAX_SAMPLES))))
    samples = []
    for y0, y1, x0, x1 in blocks((h, w), size):
        # Start each block on the global sampling grid so the subsample is regular.
        oy, ox = (-y0) % step, (-x0) % step
        block = image.read(plane, slice(y0, y1), slice(x0, x1))[chans]
        if norm.flattens:
            block = flatten_planes(block.astype(np.float32), norm)
        samples.append(block[:, oy::step, ox::step].reshape(len(chans), -1))
    flat = np.concatenate(samples, axis=1).astype(np.float32)
    check_finite(flat, image.name)
    lo, span = percentile_range(flat, norm, image.name)
    return lo.astype(np.float32), span.astype(np.float32)


def predict_block(model: LoadedModel, x: np.ndarray, config: PredictConfig) -> np.ndarray:
    """Instance labels ``(h, w)`` of one normalised block ``(C, h, w)``."""
    from .._progress import drain
    from ._input import model_predict_config
    from ._predict import probabilities_iter
    from ._seeded import plane_instances

    probs = drain(probabilities_iter(model, x, config))
    assert probs is not None  # only a stop callback ends the generator early
    return plane_instances(model, probs, x, model_predict_config(model, config))


def owned(labels: np.ndarray, core: tuple[int, int, int, int]) -> np.ndarray:
    """Label ids of ``labels`` whose centroid falls in ``core`` = ``(y0, y1, x0, x1)``."""
    n = int(labels.max())
    if n == 0:
        return np.zeros(0, np.int64)
    flat = labels.ravel()
    ys, xs = np.divmod(np.arange(flat.size), labels.shape[1])
    count = np.bincount(flat, minlength=n + 1)
    cy = np.bincount(flat, weights=ys, minlength=n + 1) / np.maximum(count, 1)
    cx = np.bincount(flat, weights=xs, minlength=n + 1) / np.maximum(count, 1)
    y0, y1, x0, x1 = core
    inside = (count > 0) & (cy >= y0) & (cy < y1) & (cx >= x0) & (cx < x1)
    inside[0] = False
    return np.flatnonzero(inside)


def segment_blockwise_iter(
    model: LoadedModel,
    image: LazyImage,
    output: str | os.PathLike,
    config: PredictConfig,
    block_size: int = 2048,
    halo: int = 96,
    stop: Callable[[], bool] | None = None,
    source: str = "",
) -> Generator[PaintedBlock, None, int]:
    """Segment ``image`` block by block into the Zarr store ``output``.

    Parameters
    ----------
    model : LoadedModel
    image : LazyImage
        The input; its channels are picked as
        :func:`napari_selfsup_seg.models._channels.model_channels` says.
    output : path-like
        The label store to write (uint32, shape ``plane_shape + (Y, X)``); its folder must exist.
        It replaces what is there only once complete.
    config : PredictConfig
        Tiling, thresholds and ``input_channels``.
    block_size, halo : int
        Side of the core blocks and context added on each side, in pixels.
    stop : callable, optional
        Checked before every block; when it returns True, :class:`Stopped` is raised and the
        temporary output is removed.
    source : str
        Written into the store's attributes (``source``) beside ``axes`` and ``pixel_size_um``.

    Yields
    ------
    PaintedBlock
        One per block, after the block is written.

    Returns
    -------
    int
        Number of objects written.
    """
    import zarr

    from ._input import image_predict_config

    config = image_predict_config(config, image.pixel_size, image.name)
    h, w = image.shape_yx
    n_channels = image.n_channels
    chans = model_channels(
        model, n_channels, image.channel_names, image.name, config.input_channels
    ) or list(range(n_channels))
    norm = model.config.normalization
    plane_shape = image.plane_shape
    next_id = 1
    with atomic_folder(output) as tmp:
        out = zarr.create_array(
            store=str(tmp),
            shape=(*plane_shape, h, w),
            chunks=(*(1 for _ in plane_shape), min(block_size, h), min(block_size, w)),
            dtype="uint32",
            fill_value=0,
            zarr_format=2,
            overwrite=True,
        )
        planes = list(np.ndindex(*plane_shape)) if plane_shape else [()]
        for p_index, plane in enumerate(planes):
            lo, span = global_range(image, plane, chans, block_size, norm)
            for y0, y1, x0, x1 in blocks((h, w), block_size):
                if stop is not None and stop():
                    raise Stopped(source or image.name)
                py0, py1 = max(0, y0 - halo), min(h, y1 + halo)
                px0, px1 = max(0, x0 - halo), min(w, x1 + halo)
                block = image.read(plane, slice(py0, py1), slice(px0, px1))
                x = block[chans].astype(np.float32)
                if norm.flattens:  # local filters: the halo gives them the block's context
                    x = flatten_planes(x, norm)
                x = scale_to_range(x, lo, span, norm)
                labels = predict_block(model, x, config)
                del x
                keep = owned(labels, (y0 - py0, y1 - py0, x0 - px0, x1 - px0))
                region = (*plane, slice(py0, py1), slice(px0, px1))
                current = np.asarray(out[region])
                lut = np.zeros(int(labels.max()) + 1, np.uint32)
                lut[keep] = np.arange(next_id, next_id + len(keep), dtype=np.uint32)
                new = lut[labels]
                paint = (new > 0) & (current == 0)
                current[paint] = new[paint]
                out[region] = current
                ids = np.arange(next_id, next_id + len(keep))
                next_id += len(keep)
                yield PaintedBlock(p_index, current, block, (py0, px0), ids)
        out.attrs.update(
            {
                "axes": image.plane_axes + "YX",
                "pixel_size_um": list(image.pixel_size) if image.pixel_size else None,
                "source": source,
            }
        )
    return next_id - 1
