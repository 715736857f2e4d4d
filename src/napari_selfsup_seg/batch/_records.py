"""Typed records of a folder run: where an image goes (:class:`ImageJob`), what happened to it
(:class:`ImageOutcome`; as a progress record, :class:`ImageResult`), the run's identity
(:class:`RunInfo`) and its summary (:class:`RunSummary`), and the block-wise settings
(:class:`LargeImageOptions`).

Outcomes travel between threads and Dask workers and are kept, one JSON line each, in the run's
journal (:meth:`ImageOutcome.to_dict`, :meth:`ImageOutcome.from_dict`).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._config import ConfigBase, PredictConfig
from .._errors import InputError
from .._progress import Progress
from ..io._image import image_stem
from ._measure import AREA_KEYS


@dataclass(frozen=True)
class LargeImageOptions(ConfigBase):
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
    scene : int, str or None
        The scene of the file to segment (index or name); ``None``: the first.
    """

    path: str
    key: str
    out_dir: str
    part: str
    scene: int | str | None = None

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


@dataclass(frozen=True)
class ImageOutcome:
    """What happened to one image of a folder run.

    Attributes
    ----------
    key : str
        The image's path relative to the input folder.
    path : str
        The input file.
    status : str
        ``"done"``, ``"skipped"`` (done by an earlier run) or ``"failed"``.
    reason : str
        Why it failed or was skipped (empty when done).
    seconds : float
        Time spent on the image (read, predict, write, measure).
    output : str
        The label image written (empty when none was).
    n_objects : int
        Objects found.
    areas : dict
        Object count and area statistics (keys :data:`AREA_KEYS`), empty when nothing was
        written.
    diameter : float or None
        Object diameter in pixels that sized the post-processing (given, converted from µm
        with the image's pixel size, or the model's); ``None`` without one.
    """

    key: str
    path: str
    status: str
    reason: str = ""
    seconds: float = 0.0
    output: str = ""
    n_objects: int = 0
    areas: dict[str, Any] = field(default_factory=dict)
    diameter: float | None = None

    @classmethod
    def written(cls, job: ImageJob, output: str | os.PathLike, areas: dict) -> ImageOutcome:
        """A ``"done"`` outcome for ``job`` whose labels are in ``output``."""
        count = int(areas.get("count", 0))
        return cls(job.key, job.path, "done", output=str(output), n_objects=count, areas=areas)

    @classmethod
    def failure(cls, job: ImageJob, reason: str, seconds: float = 0.0) -> ImageOutcome:
        """A ``"failed"`` outcome for ``job``."""
        return cls(job.key, job.path, "failed", reason, round(seconds, 4))

    def with_seconds(self, seconds: float) -> ImageOutcome:
        """The same outcome with ``seconds`` (rounded to 0.1 ms)."""
        return dataclasses.replace(self, seconds=round(seconds, 4))

    def to_dict(self) -> dict[str, Any]:
        """The journal form: ``key, path, status, reason, seconds`` and, when something was
        written, ``output, n_objects``, the area keys and ``diameter_px``."""
        out: dict[str, Any] = {
            "key": self.key,
            "path": self.path,
            "status": self.status,
            "reason": self.reason,
            "seconds": self.seconds,
        }
        if self.output:
            out.update(output=self.output, n_objects=self.n_objects, **self.areas)
            out["diameter_px"] = self.diameter
        return out

    @classmethod
    def from_dict(cls, entry: dict[str, Any]) -> ImageOutcome:
        """An outcome from a journal entry (other keys of the entry are ignored)."""
        return cls(
            key=entry["key"],
            path=entry["path"],
            status=entry["status"],
            reason=entry.get("reason", "") or "",
            seconds=float(entry.get("seconds", 0.0) or 0.0),
            output=entry.get("output", "") or "",
            n_objects=int(entry.get("n_objects", 0) or 0),
            areas={k: entry[k] for k in AREA_KEYS if k in entry},
            diameter=entry.get("diameter_px"),
        )


@dataclass(frozen=True)
class ImageResult(Progress):
    """What happened to one image; also a progress record (``done`` of ``total`` images).

    Attributes
    ----------
    path : str
        The input file.
    status : str
        ``"done"``, ``"skipped"`` (done by an earlier run with the same model) or ``"failed"``.
    reason : str
        Why it failed or was skipped (empty when done).
    n_objects : int
        Objects found.
    seconds : float
        Time spent on the image (read, predict, write, measure).
    output : str
        The label image written.
    """

    path: str = ""
    status: str = ""
    reason: str = ""
    n_objects: int = 0
    seconds: float = 0.0
    output: str = ""


@dataclass(frozen=True)
class RunInfo:
    """The identity of one folder run, written into its manifest ``run.json``.

    Attributes
    ----------
    out_dir, model_dir : pathlib.Path
        Output folder; the MODEL_DIR used.
    model_hash : str
        SHA-256 of the model's files.
    run_id : str
        Marks the journal entries written by this run.
    started : float
        Start time (seconds since the epoch).
    config : PredictConfig
    large : LargeImageOptions
    workers : int
        Local Dask worker processes (0: in process).
    scheduler : str, distributed.Client or None
        The scheduler given (a client is recorded as ``"client"``).
    in_dir : pathlib.Path or None
        The input folder (recorded so the QC report can find the inputs).
    """

    out_dir: Path
    model_dir: Path
    model_hash: str
    run_id: str
    started: float
    config: PredictConfig
    large: LargeImageOptions
    workers: int = 0
    scheduler: Any = None
    in_dir: Path | None = None


@dataclass(frozen=True)
class RunSummary:
    """What a folder run did; :meth:`to_dict` is what ``segment_folder`` returns.

    Attributes
    ----------
    out_dir : str
    total, done, skipped, n_failed, not_run : int
        Image counts (``not_run``: left when the run was stopped).
    failed : list of dict
        ``{"path", "reason"}`` of each failed image.
    n_objects : int
        Objects in ``measurements.csv``.
    seconds : float
        Wall time of the run.
    images_per_s : float
        Images done or failed per second.
    model_hash : str
    summary_csv, measurements_csv, manifest : str
        Paths of the run files.
    report : str
        Path of the QC report ``report.html``.
    diameters_px : dict of str to float
        Per image done (key as in ``summary.csv``), the object diameter in pixels that sized
        the post-processing, where there was one.
    command : str
        ``"segment-folder"``.
    """

    out_dir: str
    total: int
    done: int
    skipped: int
    n_failed: int
    not_run: int
    failed: list[dict[str, str]]
    n_objects: int
    seconds: float
    images_per_s: float
    model_hash: str
    summary_csv: str
    measurements_csv: str
    manifest: str
    report: str = ""
    diameters_px: dict[str, float] = field(default_factory=dict)
    command: str = "segment-folder"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values, ``command`` first."""
        d = dataclasses.asdict(self)
        return {"command": d.pop("command"), **d}
