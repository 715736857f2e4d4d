"""Segment every image of a folder: streaming, measurements, resume, large images, Dask.

Outputs in ``out_dir``:

* ``<stem>_labels.tif`` per image (stacks keep their planes, the channel axis is dropped), or
  ``<stem>_labels.zarr`` for an image segmented block by block (see
  :mod:`napari_selfsup_seg.inference._blockwise`); subfolders of the input are mirrored;
* ``measurements.csv``: one row per object (see :mod:`napari_selfsup_seg.batch._measure`);
* ``summary.csv``: one row per image (object count, area statistics, status, reason, seconds);
* ``run.json``: the run's manifest (model and its hash, input folder, prediction settings,
  version, times, counts);
* ``report.html``: the QC report (see :mod:`napari_selfsup_seg.batch._report`);
* ``.segment_folder/``: the journal of finished images and the per-image measurement parts, which
  let a rerun skip what is done.

Nothing is ever half written: images, parts and CSVs go to temporary files renamed into place;
the journal gets one line per finished image. In process, the next images are read in a
background thread while the model works, and labels are written and measured in another, through
bounded queues, so memory does not grow with the number of files.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import Any

from .._config import PredictConfig
from .._errors import InputError
from .._progress import Progress, drain
from ._fingerprint import model_hash, settings_hash
from ._folder_plan import check_outputs, earlier_outputs, list_inputs, plan_run
from ._job import JOURNAL, PARTS_DIR, STATE_DIR, make_job
from ._outputs import finalise_run
from ._pipeline import Journal, run_serial
from ._records import ImageOutcome, ImageResult, LargeImageOptions, RunInfo


def _prepare_out_dir(out_dir: Path) -> None:
    try:
        (out_dir / STATE_DIR / PARTS_DIR).mkdir(parents=True, exist_ok=True)
        probe = out_dir / STATE_DIR / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise InputError(f"{out_dir}: output folder is not writable ({exc.strerror})") from None


def segment_folder_iter(
    model_dir: str | os.PathLike,
    in_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    pattern: str | None = None,
    recursive: bool = False,
    overwrite: bool = False,
    workers: int = 0,
    scheduler: Any = None,
    predict_config: PredictConfig | None = None,
    stop: Callable[[], bool] | None = None,
    large: LargeImageOptions | None = None,
    scheduler_timeout: float = 10.0,
    input_channels: Sequence[int] | int | None = None,
    scene: int | str | None = None,
) -> Generator[ImageResult, None, dict]:
    """Segment every matching image of a folder, yielding one record per image.

    Parameters
    ----------
    model_dir : path-like
        A trained MODEL_DIR, or a bioimage.io package (``.zip``) written by ``export-bioimageio``.
    in_dir, out_dir : path-like
        Input folder; output folder (created if needed).
    pattern : str, optional
        Glob pattern of the inputs, e.g. ``"*.czi"``. ``None`` (default): every image this
        package reads (``.tif``/``.tiff``, ``.zarr`` folders, ``.nd2``, ``.czi``, ``.lif``, in any
        case; the last three need the ``[formats]`` extra, else they fail with the install hint).
    recursive : bool
        Also search subfolders (their layout is mirrored in ``out_dir``).
    overwrite : bool
        Redo images already done by an earlier run with the same model and settings.
    workers : int
        0: run in this process. N > 0: a local Dask cluster of N processes, one thread each.
    scheduler : str or distributed.Client, optional
        Address of a running Dask scheduler (or a client); overrides ``workers``.
    predict_config : PredictConfig, optional
        Tiling, thresholds and device.
    stop : callable, optional
        Checked between images; when it returns True no new image is started, the ones under
        way are finished and the CSVs are written for what is done.
    large : LargeImageOptions, optional
        Threshold, block size and halo of block-wise segmentation.
    scheduler_timeout : float
        Seconds to wait for ``scheduler`` to answer.
    input_channels : int or sequence of int, optional
        Channel(s) of each file to feed the model instead of those it records (by name or
        index, see :func:`napari_selfsup_seg.models._channels.model_channels`).
    scene : int or str, optional
        The scene (by index or name) to segment in every file holding several; ``None``: the
        first. A file without that scene fails with the scenes it has.

    Yields
    ------
    ImageResult
        One per image, skipped ones first, then in the order they finish.

    Returns
    -------
    dict
        :meth:`~napari_selfsup_seg.batch._records.RunSummary.to_dict`: counts (``total``,
        ``done``, ``skipped``, ``n_failed``), ``failed`` (list of ``{"path", "reason"}``),
        ``n_objects``, ``seconds``, ``images_per_s`` and the paths of the CSVs, the manifest and
        the QC report.

    Raises
    ------
    InputError
        Missing model or input folder, no matching file, output folder not writable, scheduler
        not answering.
    """
    from ..models._factory import read_model_config
    from ..models._package import model_folder

    config = predict_config or PredictConfig()
    if input_channels is not None:
        chans = (input_channels,) if isinstance(input_channels, int) else tuple(input_channels)
        config = dataclasses.replace(config, input_channels=chans)
    large = large or LargeImageOptions()
    source = Path(model_dir)  # a MODEL_DIR or a package, named in run.json
    model_dir, in_dir, out_dir = model_folder(model_dir), Path(in_dir), Path(out_dir)
    read_model_config(model_dir)
    m_hash = model_hash(model_dir)
    s_hash = settings_hash(config, large, scene)
    earlier = earlier_outputs(out_dir)
    files = list_inputs(in_dir, pattern, recursive, out_dir, earlier)
    jobs = [make_job(in_dir, out_dir, p, scene) for p in files]
    check_outputs(jobs, files, in_dir, earlier)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{out_dir}: cannot create output folder ({exc.strerror})") from None
    _prepare_out_dir(out_dir)
    journal = Journal(out_dir / STATE_DIR / JOURNAL)
    try:
        plan = plan_run(jobs, journal, overwrite, m_hash, s_hash)
        model, cluster = _start(plan.todo, model_dir, config, workers, scheduler, scheduler_timeout)
    except BaseException:
        journal.close()  # nothing was written: the earlier run's outputs stay as they were
        raise
    started = time.time()
    run_id = f"{started:.6f}-{os.getpid()}"
    skipped: set[str] = set()
    todo = plan.todo
    total = len(jobs)
    n = 0
    results: Generator[ImageOutcome, None, None] | None = None
    try:
        for outcome in plan.first:
            n += 1
            if outcome.status == "skipped":
                skipped.add(outcome.key)
            else:
                journal.add({**outcome.to_dict(), "run": run_id})
            yield _record(outcome, n, total)

        def record(result: ImageOutcome) -> None:
            journal.add({**result.to_dict(), "input": plan.inputs.get(result.key),
                         "model_hash": m_hash, "settings_hash": s_hash, "run": run_id})  # fmt: skip

        if todo:
            if cluster is not None:
                results = _cluster_results(
                    cluster, model_dir, m_hash, todo, config, large, stop, workers, record
                )
            else:
                results = _in_process(model, todo, config, large, stop, record)
            for result in results:
                n += 1
                yield _record(result, n, total)
    finally:
        if results is not None:
            results.close()  # finish the images under way before the journal closes
        if cluster is not None and cluster[2]:
            cluster[0].close()
            if cluster[1] is not None:
                cluster[1].close()
        journal.close()
        run = RunInfo(
            out_dir, source, m_hash, run_id, started, config, large, workers, scheduler, in_dir
        )
        summary = finalise_run(run, jobs, journal.entries, skipped)
    return summary.to_dict()


def _start(todo, model_dir, config, workers, scheduler, timeout):
    """Load the model (checking it for a cluster run) and connect to the cluster, if any.

    Done before anything is written, so a broken model or an unreachable scheduler leaves an
    earlier run's outputs as they were.
    """
    if not todo:
        return None, None
    from ..models._factory import load_model

    cluster = workers or scheduler is not None
    model = load_model(model_dir, "cpu" if cluster else config.device)
    if not cluster:
        return model, None
    from ._distributed import connect

    del model  # the workers load their own
    return None, connect(workers, scheduler, timeout)


def _in_process(model, todo, config, large, stop, record) -> Generator[ImageOutcome, None, None]:
    """:func:`run_serial` with two images predicted at once, the CPU threads split between them.

    Small images keep few cores busy inside one forward pass; two passes side by side use the
    cores better. Torch's thread count is restored afterwards.
    """
    from ..models._device import cpu_threads, usable_cores

    predictors = 2 if usable_cores() >= 2 else 1
    with cpu_threads(jobs=predictors):
        yield from run_serial(model, todo, config, large, stop, record, predictors)


def _record(outcome: ImageOutcome, n: int, total: int) -> ImageResult:
    return ImageResult(
        stage="segment-folder",
        done=n,
        total=total,
        message=Path(outcome.path).name,
        path=outcome.path,
        status=outcome.status,
        reason=outcome.reason,
        n_objects=outcome.n_objects,
        seconds=outcome.seconds,
        output=outcome.output,
    )


def _cluster_results(
    cluster, model_dir, m_hash, todo, config, large, stop, workers, record
) -> Generator[ImageOutcome, None, None]:
    from ..models._device import cpu_thread_count
    from ._distributed import run_on_cluster

    client, local, _ = cluster
    # A local cluster shares this machine: split its cores between the worker processes.
    threads = cpu_thread_count(jobs=workers) if local is not None else None
    for result in run_on_cluster(
        client, str(model_dir.resolve()), m_hash, todo, config, large, stop, threads
    ):
        record(result)
        yield result


def segment_folder(
    model_dir: str | os.PathLike,
    in_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    callback: Callable[[Progress], Any] | None = None,
    **kwargs: Any,
) -> dict:
    """Run :func:`segment_folder_iter` to the end and return its summary.

    Parameters
    ----------
    model_dir, in_dir, out_dir : path-like
        As in :func:`segment_folder_iter`.
    callback : callable, optional
        Called with every :class:`ImageResult`.
    **kwargs
        Any other argument of :func:`segment_folder_iter`.
    """
    gen = segment_folder_iter(model_dir, in_dir, out_dir, **kwargs)
    try:
        return drain(gen, callback)
    finally:
        gen.close()  # on Ctrl-C: finish the image being written and write the CSVs now
