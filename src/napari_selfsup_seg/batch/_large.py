"""Segmenting images too large for memory: lazy reads, block-wise prediction, Zarr output.

Method (chosen because it needs no global pass over probabilities and keeps peak memory bounded
by one block):

1. The input is opened lazily: a TIFF through ``tifffile``'s Zarr view (``aszarr``), a Zarr or
   OME-Zarr folder with :mod:`zarr`. Nothing but the block at hand is read into memory.
2. Normalisation percentiles are computed once for the whole plane from a strided subsample of
   every block, so all blocks are scaled the same way (per-block percentiles would make the
   brightness, and so the objects, change from block to block).
3. The plane is cut into square *core* blocks (``block_size``). Each core is read with a *halo*
   of context on every side, predicted with the tiled U-Net
   (:func:`napari_selfsup_seg.inference._predict.probabilities_iter`) and turned into instances with
   :func:`napari_selfsup_seg.inference._postprocess.probabilities_to_instances`.
4. Stitching by ownership: a block keeps only the objects whose centroid lies in its core. An
   object that crosses a core border is therefore taken, whole, from the one block that owns its
   centroid, and since the halo is wider than an object it is seen complete there. Kept objects
   get fresh global ids and are painted into the output only where no earlier object lies, so
   the output never holds two ids on one pixel and an object, once written, never changes.
   Objects larger than the halo can be cut at the halo's edge; make the halo larger than the
   largest object.
5. Each object is measured right after it is painted, from the same block, and its row is
   streamed to the measurement part file.

The labels go to ``<stem>_labels.zarr`` (uint32, chunks of one block), written under a temporary
name and renamed when complete.
"""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._config import PredictConfig
from .._errors import InputError
from ..io._atomic import share_like_new_file
from ._job import ImageJob, LargeImageOptions, Stopped
from ._measure import area_summary, measurement_columns, object_rows

_MAX_SAMPLES = 4_000_000


@dataclass
class LazyImage:
    """An image read region by region.

    Attributes
    ----------
    array : zarr-like
        Supports NumPy-style slicing; only the requested region is read.
    axes : str
        One letter per dimension of ``array`` from ``"TZCYX"`` (``C`` may come last for RGB).
    name : str
        File name, for messages.
    pixel_size : tuple of float or None
        ``(y, x)`` in micrometres.
    channel_names : list of str
        Names of the channels when the file has them (empty otherwise).
    """

    array: Any
    axes: str
    name: str
    pixel_size: tuple[float, float] | None = None
    channel_names: list[str] = field(default_factory=list)
    _keep: Any = field(default=None, repr=False)

    @property
    def shape_yx(self) -> tuple[int, int]:
        """``(Y, X)`` of a plane."""
        return self.array.shape[self.axes.index("Y")], self.array.shape[self.axes.index("X")]

    @property
    def n_channels(self) -> int:
        """Number of channels (1 without a channel axis)."""
        return self.array.shape[self.axes.index("C")] if "C" in self.axes else 1

    @property
    def plane_dims(self) -> list[int]:
        """Dimensions (T, Z) of length above 1, iterated plane by plane."""
        return [i for i, a in enumerate(self.axes) if a in "TZ" and self.array.shape[i] > 1]

    @property
    def plane_shape(self) -> tuple[int, ...]:
        """Shape of the plane dimensions."""
        return tuple(self.array.shape[i] for i in self.plane_dims)

    def read(self, plane: tuple[int, ...], ys: slice, xs: slice) -> np.ndarray:
        """One region of one plane, all channels, shape ``(C, h, w)``."""
        index: list[Any] = []
        where = dict(zip(self.plane_dims, plane))
        for i, a in enumerate(self.axes):
            if a == "Y":
                index.append(ys)
            elif a == "X":
                index.append(xs)
            elif a == "C":
                index.append(slice(None))
            else:
                index.append(where.get(i, 0))
        block = np.asarray(self.array[tuple(index)])
        kept = [a for i, a in enumerate(self.axes) if a in "CYX"]
        if "C" not in kept:
            return block[np.newaxis]
        return np.moveaxis(block, kept.index("C"), 0)


def open_lazy(path: str | os.PathLike) -> LazyImage:
    """Open a TIFF or a Zarr/OME-Zarr image without reading its pixels.

    Raises
    ------
    InputError
        Unreadable file, or axes that cannot be mapped onto ``TZCYX``.
    """
    path = Path(path)
    try:
        if path.is_dir():
            return _open_zarr(path)
        return _open_tiff(path)
    except InputError:
        raise
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{path}: cannot open for block-wise reading ({reason})") from None


def _open_tiff(path: Path) -> LazyImage:
    import tifffile
    import zarr

    from ..io._image import _channel_names, _normalise_axes, _pixel_size

    tif = tifffile.TiffFile(path)
    series = tif.series[0]
    axes = _normalise_axes(series.axes, series.shape)
    array = zarr.open(series.aszarr(level=0), mode="r")
    names = _channel_names(tif)
    image = LazyImage(array, axes, path.name, _pixel_size(tif), names, _keep=tif)
    _check_axes(image)
    return image


def _open_zarr(path: Path) -> LazyImage:
    import zarr

    node = zarr.open(str(path), mode="r")
    pixel_size = None
    names = None
    channel_names: list[str] = []
    if isinstance(node, zarr.Group):
        attrs = dict(node.attrs)
        omero = attrs.get("omero") or attrs.get("ome", {}).get("omero") or {}
        channel_names = [str(ch.get("label", "")) for ch in omero.get("channels", [])]
        multiscales = attrs.get("multiscales") or attrs.get("ome", {}).get("multiscales")
        if multiscales:
            ms = multiscales[0]
            dataset = ms["datasets"][0]
            names = "".join(
                (a["name"] if isinstance(a, dict) else a)[0].upper() for a in ms.get("axes", [])
            )
            for t in dataset.get("coordinateTransformations", []):
                if t.get("type") == "scale" and len(t.get("scale", [])) >= 2:
                    pixel_size = (float(t["scale"][-2]), float(t["scale"][-1]))
            array = node[dataset["path"]]
        elif "0" in node:
            array = node["0"]
        else:
            raise InputError(f"{path}: zarr group holds no image (no multiscales, no array '0')")
    else:
        array = node
    if not names or len(names) != array.ndim:
        names = _guess_axes(array.shape)
    image = LazyImage(array, names, path.name, pixel_size, channel_names)
    _check_axes(image)
    return image


def _guess_axes(shape: tuple[int, ...]) -> str:
    """Axes of an array without metadata: ``YX``, ``CYX`` (short third-last axis), ``ZYX``..."""
    tail = "CYX" if len(shape) >= 3 and shape[-3] <= 8 else "YX"
    lead = len(shape) - len(tail)
    return "TZ"[2 - lead :] + tail if 0 <= lead <= 2 else ""


def _check_axes(image: LazyImage) -> None:
    axes = image.axes
    if len(axes) != image.array.ndim or "Y" not in axes or "X" not in axes:
        raise InputError(f"{image.name}: cannot find the Y and X axes (axes {axes!r})")
    if len(set(axes)) != len(axes) or any(a not in "TZCYX" for a in axes):
        raise InputError(f"{image.name}: unsupported axes {axes!r} for block-wise reading")


def _blocks(shape: tuple[int, int], size: int):
    """``(y0, y1, x0, x1)`` of the core blocks of a plane."""
    h, w = shape
    for y0 in range(0, h, size):
        for x0 in range(0, w, size):
            yield y0, min(h, y0 + size), x0, min(w, x0 + size)


def _global_range(image: LazyImage, plane, chans: list[int], size: int, norm) -> tuple:
    """Per-channel normalisation ``(lo, span)`` of a whole plane from a strided subsample."""
    h, w = image.shape_yx
    step = max(1, int(np.ceil(np.sqrt(h * w / _MAX_SAMPLES))))
    samples = []
    for y0, y1, x0, x1 in _blocks((h, w), size):
        # Start each block on the global sampling grid so the subsample is regular.
        oy, ox = (-y0) % step, (-x0) % step
        block = image.read(plane, slice(y0, y1), slice(x0, x1))[chans]
        samples.append(block[:, oy::step, ox::step].reshape(len(chans), -1))
    flat = np.concatenate(samples, axis=1).astype(np.float32)
    if not np.isfinite(flat).all():
        raise InputError(f"{image.name}: contains NaN or infinite values")
    lo, hi = np.percentile(flat, [norm.lower_percentile, norm.upper_percentile], axis=1)
    full = flat.max(axis=1) - flat.min(axis=1)
    if np.any(full <= 0):
        raise InputError(f"{image.name}: image is constant (every pixel has the same value)")
    span = hi - lo
    small = span <= 1e-12 * np.maximum(1.0, np.abs(hi))
    lo = np.where(small, flat.min(axis=1), lo)
    span = np.where(small, full, span)
    return lo.astype(np.float32), span.astype(np.float32)


def _predict_block(model, x: np.ndarray, config: PredictConfig) -> np.ndarray:
    """Instance labels ``(h, w)`` of one normalised block ``(C, h, w)``."""
    from ..inference._postprocess import probabilities_to_instances
    from ..inference._predict import probabilities_iter

    gen = probabilities_iter(model, x, config)
    while True:
        try:
            next(gen)
        except StopIteration as done:
            probs = done.value
            break
    return probabilities_to_instances(probs, config)


def _owned(labels: np.ndarray, core: tuple[int, int, int, int]) -> np.ndarray:
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


def segment_large(
    model,
    job: ImageJob,
    config: PredictConfig,
    options: LargeImageOptions,
    stop: Callable[[], bool] | None = None,
) -> dict:
    """Segment one large image block by block into ``<stem>_labels.zarr``.

    Parameters
    ----------
    model : LoadedModel
    job : ImageJob
    config : PredictConfig
    options : LargeImageOptions
        Block size and halo.
    stop : callable, optional
        Checked before every block; when it returns True, :class:`~._job.Stopped` is raised
        and the temporary output is removed.

    Returns
    -------
    dict
        ``output``, ``n_objects`` and the area summary, as
        :func:`napari_selfsup_seg.batch._job.write_outputs`.
    """
    import zarr

    image = open_lazy(job.path)
    h, w = image.shape_yx
    from ..models._channels import model_channels

    n_channels = image.n_channels
    chans = model_channels(
        model, n_channels, image.channel_names, image.name, config.input_channels
    ) or list(range(n_channels))
    out_dir = Path(job.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    final = job.output(large=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".part", dir=out_dir))
    size, halo = options.block_size, options.halo
    plane_shape = image.plane_shape
    areas: list[int] = []
    fd, part_tmp = tempfile.mkstemp(prefix=".part.", suffix=".csv", dir=Path(job.part).parent)
    try:
        out = zarr.create_array(
            store=str(tmp),
            shape=(*plane_shape, h, w),
            chunks=(*(1 for _ in plane_shape), min(size, h), min(size, w)),
            dtype="uint32",
            fill_value=0,
            zarr_format=2,
            overwrite=True,
        )
        with os.fdopen(fd, "w", newline="") as fh:
            writer = csv.DictWriter(
                fh, fieldnames=measurement_columns(image.n_channels), restval=""
            )
            writer.writeheader()
            planes = list(np.ndindex(*plane_shape)) if plane_shape else [()]
            next_id = 1
            for p_index, plane in enumerate(planes):
                lo, span = _global_range(image, plane, chans, size, model.config.normalization)
                for y0, y1, x0, x1 in _blocks((h, w), size):
                    if stop is not None and stop():
                        raise Stopped(job.key)
                    py0, py1 = max(0, y0 - halo), min(h, y1 + halo)
                    px0, px1 = max(0, x0 - halo), min(w, x1 + halo)
                    block = image.read(plane, slice(py0, py1), slice(px0, px1))
                    x = (block[chans].astype(np.float32) - lo[:, None, None]) / span[:, None, None]
                    norm = model.config.normalization
                    if norm.clip:
                        np.clip(x, -norm.clip_margin, 1.0 + norm.clip_margin, out=x)
                    labels = _predict_block(model, x, config)
                    del x
                    keep = _owned(labels, (y0 - py0, y1 - py0, x0 - px0, x1 - px0))
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
                    for row in object_rows(
                        current,
                        block,
                        job.key,
                        plane=p_index,
                        pixel_size=image.pixel_size,
                        offset=(py0, px0),
                        only=ids,
                    ):
                        areas.append(row["area"])
                        writer.writerow(row)
        out.attrs.update(
            {
                "axes": "".join(image.axes[i] for i in image.plane_dims) + "YX",
                "pixel_size_um": list(image.pixel_size) if image.pixel_size else None,
                "source": job.key,
            }
        )
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o777 & ~mask)
        if final.exists():
            shutil.rmtree(final) if final.is_dir() else final.unlink()
        os.replace(tmp, final)
        share_like_new_file(part_tmp)
        os.replace(part_tmp, job.part)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if os.path.exists(part_tmp):
            os.unlink(part_tmp)
        raise
    finally:
        if image._keep is not None:
            image._keep.close()
    return {"output": str(final), "n_objects": len(areas), **area_summary(areas)}
