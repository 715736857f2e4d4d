"""One image of a folder run: inspect, read, predict, write the labels and the measurement part.

These functions are shared by the in-process pipeline of :mod:`napari_selfsup_seg.batch._folder`
and the Dask workers of :mod:`napari_selfsup_seg.batch._distributed`; they take plain values and
return plain dicts, so they pickle. Prediction itself is delegated to
:mod:`napari_selfsup_seg.inference._predict`.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._config import PredictConfig
from .._errors import InputError
from ..io._image import ImageStack, image_stem, read_image
from ..io._tiff_write import write_labels
from ._measure import area_summary, measurement_columns, object_rows, write_csv_atomic

STATE_DIR = ".segment_folder"
JOURNAL = "journal.jsonl"
PARTS_DIR = "measurements"
#: Prediction settings that change the labels (device and batch size do not).
_RESULT_SETTINGS = ("tile_size", "overlap", "foreground_threshold", "seed_threshold", "min_size")


class Stopped(Exception):
    """Raised inside a job when the run was asked to stop; the job's outputs are discarded."""


@dataclass(frozen=True)
class LargeImageOptions:
    """When and how an image is segmented block by block.

    Attributes
    ----------
    threshold : int
        Images whose planes have more than this many pixels (Y * X) are read lazily and
        segmented block by block; zarr inputs always are.
    block_size : int
        Side of the square blocks in pixels (the output zarr's chunk size).
    halo : int
        Context added on each side of a block; objects up to about this size are never cut.
    """

    threshold: int = 4096 * 4096
    block_size: int = 2048
    halo: int = 96

    def __post_init__(self) -> None:
        if self.threshold < 1:
            raise InputError(f"large-image threshold must be >= 1 pixel, got {self.threshold}")
        if self.block_size < 64:
            raise InputError(f"block size must be >= 64 pixels, got {self.block_size}")
        if not 0 <= self.halo <= self.block_size:
            raise InputError(f"halo must be in [0, {self.block_size}], got {self.halo}")


@dataclass(frozen=True)
class ImageJob:
    """Where one input goes.

    Attributes
    ----------
    path : str
        The input file (or ``.zarr`` folder).
    key : str
        Its path relative to the input folder (POSIX), used in the CSVs and the journal.
    out_dir : str
        Output folder for this image (subfolders of the input are mirrored).
    part : str
        The image's measurement part file.
    """

    path: str
    key: str
    out_dir: str
    part: str

    @property
    def stem(self) -> str:
        """Input name without its image suffix."""
        name = Path(self.path).name
        for suffix in (".ome.zarr", ".zarr"):
            if name.lower().endswith(suffix):
                return name[: -len(suffix)]
        return image_stem(name)

    def output(self, large: bool) -> Path:
        """``<stem>_labels.tif``, or ``<stem>_labels.zarr`` for an image done block by block."""
        return Path(self.out_dir) / f"{self.stem}_labels.{'zarr' if large else 'tif'}"


def make_job(in_dir: Path, out_dir: Path, path: Path) -> ImageJob:
    """The :class:`ImageJob` of ``path`` found under ``in_dir``."""
    rel = path.relative_to(in_dir)
    part_name = hashlib.sha1(rel.as_posix().encode()).hexdigest()[:16] + ".csv"
    return ImageJob(
        path=str(path),
        key=rel.as_posix(),
        out_dir=str(out_dir / rel.parent),
        part=str(out_dir / STATE_DIR / PARTS_DIR / part_name),
    )


def model_hash(model_dir: str | os.PathLike) -> str:
    """SHA-256 of a MODEL_DIR's ``config.json`` followed by ``weights.pt``."""
    from ..models._factory import CONFIG_FILE, WEIGHTS_FILE

    h = hashlib.sha256()
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        try:
            with open(Path(model_dir) / name, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
        except OSError as exc:
            raise InputError(f"{Path(model_dir) / name}: cannot read ({exc.strerror})") from None
    return h.hexdigest()


#: Bytes hashed at each end of an input file for its fingerprint.
HASH_BYTES = 1 << 20


def input_fingerprint(path: str | os.PathLike, content: bool = True) -> dict:
    """Size, modification time and (with ``content``) a content hash of an input.

    The hash covers the size and the first and last MiB of a file; for a ``.zarr`` folder, the
    names, sizes and times of its files. A rerun compares fingerprints to redo changed inputs.
    """
    path = Path(path)
    h = hashlib.sha256()
    if path.is_dir():
        size, mtime = 0, 0
        for p in sorted(path.rglob("*")):
            if p.is_file():
                st = p.stat()
                size, mtime = size + st.st_size, max(mtime, st.st_mtime_ns)
                h.update(
                    f"{p.relative_to(path).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode()
                )
    else:
        st = path.stat()
        size, mtime = st.st_size, st.st_mtime_ns
        if content:
            h.update(str(size).encode())
            with open(path, "rb") as fh:
                h.update(fh.read(HASH_BYTES))
                if size > 2 * HASH_BYTES:
                    fh.seek(size - HASH_BYTES)
                h.update(fh.read(HASH_BYTES))
    out = {"size": size, "mtime_ns": mtime}
    if content:
        out["sha256"] = h.hexdigest()
    return out


def same_input(recorded: dict | None, path: str | os.PathLike) -> bool:
    """Whether ``path`` is still the input that ``recorded`` (a fingerprint) describes.

    Same size and modification time: unchanged, without reading the file. Same size but another
    time (a copied or touched file): unchanged when the content hash is the same.
    """
    if not isinstance(recorded, dict):
        return False  # a result of an earlier version that did not record its input
    try:
        now = input_fingerprint(path, content=False)
        if now["size"] != recorded.get("size"):
            return False
        if now["mtime_ns"] == recorded.get("mtime_ns"):
            return True
        return input_fingerprint(path)["sha256"] == recorded.get("sha256")
    except OSError:
        return False


def settings_hash(config: PredictConfig, large: LargeImageOptions) -> str:
    """Short hash of the settings that change the labels."""
    d = {k: getattr(config, k) for k in _RESULT_SETTINGS}
    d.update(block_size=large.block_size, halo=large.halo)
    if config.input_channels is not None:  # absent otherwise, so older runs still resume
        d["input_channels"] = list(config.input_channels)
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def is_large(path: str | os.PathLike, options: LargeImageOptions) -> bool:
    """Whether ``path`` goes the block-by-block way (zarr, or planes above the threshold).

    Raises
    ------
    InputError
        The file cannot be opened as a TIFF.
    """
    import tifffile

    path = Path(path)
    if path.is_dir():
        if path.name.lower().endswith(".zarr"):
            return True
        raise InputError(f"{path}: is a folder, not an image")
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            shape, axes = series.shape, series.axes.upper()
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{path}: not a readable TIFF image ({reason})") from None
    if len(shape) < 2:
        raise InputError(f"{path}: no 2D image in the file (shape {shape})")
    if axes.endswith("YXS") and len(shape) >= 3:
        y, x = shape[-3], shape[-2]
    else:
        y, x = shape[-2], shape[-1]
    return y * x > options.threshold


def predict_stack_labels(model, stack: ImageStack, config: PredictConfig) -> np.ndarray:
    """Instance labels of every plane of ``stack`` (shape ``plane_shape + (Y, X)``)."""
    from ..inference._predict import predict_stack

    return np.asarray(predict_stack(model, stack, config))


def write_outputs(job: ImageJob, stack: ImageStack, labels: np.ndarray) -> dict:
    """Write ``<stem>_labels.tif`` and the measurement part of one image.

    Parameters
    ----------
    job : ImageJob
    stack : ImageStack
        The input, for intensities and pixel size.
    labels : numpy.ndarray of int
        Shape ``stack.plane_shape + (Y, X)``.

    Returns
    -------
    dict
        ``output``, ``n_objects`` and the :func:`~napari_selfsup_seg.batch._measure.area_summary`.
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
    return {"output": str(out), "n_objects": len(areas), **area_summary(areas)}


def run_job(
    model,
    job: ImageJob,
    config: PredictConfig,
    large: LargeImageOptions,
    stop: Callable[[], bool] | None = None,
) -> dict:
    """Read, segment and write one image; failures become a ``"failed"`` result.

    ``stop`` is checked between the blocks of a large image; when it returns True,
    :class:`Stopped` is raised and nothing is written.

    Returns
    -------
    dict
        ``key``, ``path``, ``status`` (``"done"`` or ``"failed"``), ``reason``, ``seconds`` and,
        when done, the fields of :func:`write_outputs`.
    """
    t0 = time.perf_counter()
    try:
        if is_large(job.path, large):
            from ._large import segment_large

            result = segment_large(model, job, config, large, stop)
        else:
            stack = read_image(job.path)
            result = write_outputs(job, stack, predict_stack_labels(model, stack, config))
        status, reason = "done", ""
    except (InputError, OSError, ValueError, RuntimeError, MemoryError) as exc:
        result = {}
        status, reason = "failed", failure_reason(exc)
    return {
        "key": job.key,
        "path": job.path,
        "status": status,
        "reason": reason,
        "seconds": round(time.perf_counter() - t0, 4),
        **result,
    }


def failure_reason(exc: BaseException) -> str:
    """A one-line reason for a failed image."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    if isinstance(exc, InputError):
        return text
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
