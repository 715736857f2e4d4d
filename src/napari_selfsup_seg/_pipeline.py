"""The in-process pipeline of a folder run and its journal of finished images.

:func:`run_serial` overlaps three things through bounded queues: a background thread reads the
next images (at most ``READ_AHEAD`` ahead), the calling thread runs the model, and another
background thread writes labels and measurement parts. Memory therefore depends on the size of
an image, not on the number of images.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ._job import (
    ImageJob,
    LargeImageOptions,
    failure_reason,
    is_large,
    predict_stack_labels,
    run_job,
    write_outputs,
)
from .config import PredictConfig
from .io import read_image

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
    record: Callable[[dict], None],
) -> Iterator[dict]:
    """Read ahead in one thread, predict here, write and measure in another; yield results."""
    read_q: queue.Queue = queue.Queue(maxsize=READ_AHEAD)
    write_q: queue.Queue = queue.Queue(maxsize=READ_AHEAD)
    done_q: queue.Queue = queue.Queue()
    halt = threading.Event()

    def failed(job: ImageJob, t0: float, exc: BaseException) -> dict:
        return {
            "key": job.key,
            "path": job.path,
            "status": "failed",
            "reason": failure_reason(exc),
            "seconds": round(time.perf_counter() - t0, 4),
        }

    def finish(result: dict) -> None:
        record(result)
        done_q.put(result)

    def reader() -> None:
        for job in [*jobs, None]:
            if halt.is_set():
                return
            item = None
            if job is not None:
                t0 = time.perf_counter()
                try:
                    item = (job, "large", None, t0) if is_large(job.path, large) else None
                    item = item or (job, "image", read_image(job.path), t0)
                except Exception as exc:
                    item = (job, "error", exc, t0)
            while not halt.is_set():
                try:
                    read_q.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue

    def writer() -> None:
        while (item := write_q.get()) is not None:
            job, stack, labels, t0 = item
            try:
                result = {"key": job.key, "path": job.path, "status": "done", "reason": ""}
                result.update(write_outputs(job, stack, labels))
                result["seconds"] = round(time.perf_counter() - t0, 4)
            except Exception as exc:
                result = failed(job, t0, exc)
            finish(result)

    threads = [threading.Thread(target=f, daemon=True) for f in (reader, writer)]
    for t in threads:
        t.start()
    try:
        while not (stop is not None and stop()):
            try:
                item = read_q.get(timeout=0.05)
            except queue.Empty:
                item = False
            while not done_q.empty():
                yield done_q.get_nowait()
            if item is False:
                continue
            if item is None:
                break
            job, kind, payload, t0 = item
            if kind == "error":
                finish(failed(job, t0, payload))
            elif kind == "large":
                result = run_job(model, job, config, large)
                result["seconds"] = round(time.perf_counter() - t0, 4)
                finish(result)
            else:
                try:
                    labels = predict_stack_labels(model, payload, config)
                except Exception as exc:
                    finish(failed(job, t0, exc))
                else:
                    write_q.put((job, payload, labels, t0))
            del item, payload
        write_q.put(None)
        threads[1].join()
        while not done_q.empty():
            yield done_q.get_nowait()
    finally:
        # Interrupted or closed: start nothing new, let the writer finish what it holds, so
        # every output on disk is whole (and recorded in the journal).
        halt.set()
        if threads[1].is_alive():
            write_q.put(None)
            threads[1].join()
