"""Running a folder on a Dask cluster: one task per image, the model loaded once per worker.

Workers read their image, predict, and write the labels and the measurement part themselves
(the output folder must be reachable from every worker, as on a cluster's shared file system);
only a small :class:`~napari_selfsup_seg.batch._records.ImageOutcome` travels back. Each worker
keeps the loaded model in a process-level cache keyed by the model folder, its content hash and
the device, so a model is loaded once per worker, not once per image.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Generator, Iterable
from typing import Any

from .._config import PredictConfig
from .._errors import InputError
from ._job import failure_reason, run_job
from ._records import ImageJob, ImageOutcome, LargeImageOptions

_MODELS: dict[tuple[str, str, str], Any] = {}
_LOCK = threading.Lock()


def connect(
    workers: int = 0, scheduler: Any = None, timeout: float = 10.0
) -> tuple[Any, Any, bool]:
    """Start a local cluster or connect to a running scheduler.

    Parameters
    ----------
    workers : int
        With no ``scheduler``: number of worker processes of a local cluster (one thread each).
    scheduler : str or distributed.Client, optional
        Address of a running scheduler (``tcp://host:8786``), or a client to use as it is.
    timeout : float
        Seconds to wait for the scheduler to answer.

    Returns
    -------
    tuple
        ``(client, cluster or None, owned)``; ``owned`` says the caller must close them.

    Raises
    ------
    InputError
        The scheduler does not answer within ``timeout``.
    """
    from distributed import Client, LocalCluster

    if scheduler is not None and not isinstance(scheduler, str):
        return scheduler, None, False
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(
                f"{scheduler}: no Dask scheduler answered within {timeout:g} s ({reason})"
            ) from None
        return client, None, True
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=40,
    )
    client = Client(cluster, set_as_default=False)
    client.run(_preload)
    return client, cluster, True


def _preload() -> None:
    """Import the heavy modules on a fresh worker so the first image does not pay for it."""
    import torch  # noqa: F401

    from ..inference import _predict  # noqa: F401
    from ..models import _factory  # noqa: F401


def n_workers(client: Any) -> int:
    """Number of workers the scheduler currently knows (at least 1)."""
    try:
        return max(1, len(client.scheduler_info(n_workers=-1)["workers"]))
    except Exception:
        return 1


def worker_model(model_dir: str, model_hash: str, device: str, torch_threads: int | None):
    """The model of ``model_dir`` for this worker process, loaded on first use."""
    from ..models._factory import load_model

    key = (str(model_dir), model_hash, device)
    with _LOCK:
        model = _MODELS.get(key)
        if model is None:
            from ..models._device import set_cpu_threads

            if torch_threads:
                set_cpu_threads(torch_threads)
            _MODELS.clear()
            model = load_model(model_dir, device)
            _MODELS[key] = model
    return model


def segment_task(
    model_dir: str,
    model_hash: str,
    device: str,
    job: ImageJob,
    predict_config: dict,
    large: LargeImageOptions,
    torch_threads: int | None = None,
) -> ImageOutcome:
    """The work of one image on a worker (see :func:`napari_selfsup_seg.batch._job.run_job`)."""
    model = worker_model(model_dir, model_hash, device, torch_threads)
    return run_job(model, job, PredictConfig.from_dict(predict_config), large)


def run_on_cluster(
    client: Any,
    model_dir: str,
    model_hash: str,
    jobs: Iterable[ImageJob],
    config: PredictConfig,
    large: LargeImageOptions,
    stop: Callable[[], bool] | None = None,
    torch_threads: int | None = None,
) -> Generator[ImageOutcome, None, None]:
    """Submit one task per image, at most two per worker at a time; yield results as they end.

    Results come in completion order. Stopping submits nothing more and waits for the tasks
    already running, so every output that was started is finished.
    """
    from distributed import as_completed

    jobs = iter(jobs)
    limit = 2 * n_workers(client)
    cfg = config.to_dict()
    pending: dict[Any, ImageJob] = {}

    def submit(job: ImageJob):
        fut = client.submit(
            segment_task,
            str(model_dir),
            model_hash,
            config.device,
            job,
            cfg,
            large,
            torch_threads,
            pure=False,
            key=f"segment-{os.urandom(8).hex()}",
        )
        pending[fut] = job
        return fut

    queue = as_completed([submit(j) for _, j in zip(range(limit), jobs)], loop=client.loop)
    for fut in queue:
        job = pending.pop(fut)
        try:
            result = fut.result()
        except Exception as exc:  # a worker died or the task could not run
            result = ImageOutcome.failure(
                job, f"task failed on the cluster ({failure_reason(exc)})"
            )
        yield result
        if stop is not None and stop():
            continue
        nxt = next(jobs, None)
        if nxt is not None:
            queue.add(submit(nxt))
