"""The in-process pipeline of a folder run and its journal of finished images.

:func:`run_serial` overlaps three things through bounded queues: a background thread reads the
next images (at most ``READ_AHEAD`` ahead), the calling thread runs the model, and another
background thread writes labels and measurement parts. Memory therefore depends on the size of
an image, not on the number of images.
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from .._config import PredictConfig
from ..inference._blockwise import Stopped
from ..io._image import read_image
from ._job import failure_reason, is_large, predict_stack_labels, run_job, write_outputs
from ._records import ImageJob, ImageOutcome, LargeImageOptions

READ_AHEAD = 2


class Journal:
    """Append-only record of finished images (one JSON line each); the last line of a key wins."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, dict] = {}
        self._lock = threading.Lock()
        if path.exists():
            with open(path) as fh:
                for line in fh:
                    try:
                        entry = json.loads(line)
                        self.entries[entry["key"]] = entry
                    except (ValueError, KeyError, TypeError):
                        continue  # a line cut short by a crash
        self._fh = open(path, "a")

    def add(self, entry: dict) -> None:
        with self._lock:
            self.entries[entry["key"]] = entry
            self._fh.write(json.dumps(entry, default=str) + "\n")
            self._fh.flush()
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()


def run_serial(
    model,
    jobs: list[ImageJob],
    config: PredictConfig,
    large: LargeImageOptions,
    stop: Callable[[], bool] | None,
    record: Callable[[ImageOutcome], None],
    predictors: int = 1,
) -> Iterator[ImageOutcome]:
    """Segment ``jobs`` in this process and yield one outcome per image as it finishes.

    A reader thread reads ahead, ``predictors`` threads run the model (each image on one
    thread; the network releases the GIL, so two images are predicted at once), and a writer
    thread writes labels and measurement parts. Every result is passed to ``record`` (the
    journal) from the thread that finished it, before it is yielded.
    """
    read_q: queue.Queue = queue.Queue(maxsize=READ_AHEAD + predictors - 1)
    write_q: queue.Queue = queue.Queue(maxsize=READ_AHEAD)
    done_q: queue.Queue = queue.Queue()
    halt = threading.Event()

    def failed(job: ImageJob, t0: float, exc: BaseException) -> ImageOutcome:
        return ImageOutcome.failure(job, failure_reason(exc), time.perf_counter() - t0)

    def finish(result: ImageOutcome) -> None:
        try:
            record(result)
        except Exception as exc:  # the journal cannot be written (disk full...)
            result = dataclasses.replace(result, status="failed", reason=f"not recorded: {exc}")
        done_q.put(result)

    def reader() -> None:
        for job in [*jobs, *([None] * predictors)]:
            item: tuple | None = None
            if job is not None and not halt.is_set():
                t0 = time.perf_counter()
                try:
                    big = is_large(job.path, large, job.scene)
                    item = (job, "large", None, t0) if big else None
                    item = item or (job, "image", read_image(job.path, scene=job.scene), t0)
                except Exception as exc:
                    item = (job, "error", exc, t0)
            while not halt.is_set():
                try:
                    read_q.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue

    def predictor() -> None:
        while not halt.is_set():
            try:
                item = read_q.get(timeout=0.1)
            except queue.Empty:
                continue
            if item is None:
                return
            job, kind, payload, t0 = item
            try:
                if kind == "error":
                    finish(failed(job, t0, payload))
                elif kind == "large":
                    result = run_job(model, job, config, large, stop=halt.is_set)
                    finish(result.with_seconds(time.perf_counter() - t0))
                else:
                    labels, diameter = predict_stack_labels(model, payload, config)
                    write_q.put((job, payload, labels, diameter, t0))
            except Stopped:
                return
            except Exception as exc:
                finish(failed(job, t0, exc))

    def writer() -> None:
        while (item := write_q.get()) is not None:
            job, stack, labels, diameter, t0 = item
            try:
                result = write_outputs(job, stack, labels, diameter)
                result = result.with_seconds(time.perf_counter() - t0)
            except Exception as exc:
                result = failed(job, t0, exc)
            finish(result)

    workers = [threading.Thread(target=predictor, daemon=True) for _ in range(predictors)]
    others = [threading.Thread(target=f, daemon=True) for f in (reader, writer)]
    for t in [*others, *workers]:
        t.start()

    def wind_down() -> None:
        for t in workers:
            t.join()
        if others[1].is_alive():
            write_q.put(None)
            others[1].join()

    try:
        while any(t.is_alive() for t in workers) or not done_q.empty():
            if stop is not None and stop():
                halt.set()  # start no new image; the ones under way are finished
            try:
                yield done_q.get(timeout=0.05)
            except queue.Empty:
                continue
        wind_down()
        while not done_q.empty():
            yield done_q.get_nowait()
    finally:
        # Interrupted or closed: start nothing new and finish what is under way, so every
        # output on disk is whole and recorded in the journal.
        halt.set()
        wind_down()
