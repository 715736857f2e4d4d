"""Helpers shared by the subcommands: output folders, flags, progress display, devices.

Flags that set a config field are made from the field (:func:`add_config_arguments` and
:func:`config_from_args`, in ``_flags.py`` with the number and channel value types), so their
names, defaults and checks come from ``napari_selfsup_seg._config``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._errors import InputError
from .._progress import Progress
from ._flags import (
    DEVICE,
    add_config_arguments,
    add_device_argument,
    add_scene_argument,
    channel_list,
    config_from_args,
    finite_float,
    positive_float,
)

__all__ = [
    "DEVICE",
    "Callback",
    "ProgressBar",
    "add_config_arguments",
    "add_device_argument",
    "add_scene_argument",
    "channel_list",
    "config_from_args",
    "ensure_out_dir",
    "finite_float",
    "model_out_dir",
    "name_file",
    "positive_float",
]


def ensure_out_dir(path: str | os.PathLike) -> Path:
    """Create an output folder (and parents) or raise a one-line :class:`InputError`."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{path}: exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{path}: cannot create output folder ({exc.strerror})") from None
    if not os.access(path, os.W_OK):
        raise InputError(f"{path}: output folder is not writable")
    return path


def name_file(exc: InputError, path: str | os.PathLike) -> InputError:
    """``exc`` with ``path`` in front of its message unless the message names the file."""
    text = str(exc)
    if str(path) in text or Path(path).name in text:
        return exc
    for placeholder in ("image: ", "<array>: "):  # the name of an array with no file
        text = text.removeprefix(placeholder)
    return type(exc)(f"{path}: {text}")


def model_out_dir(path: str | os.PathLike) -> Path:
    """A folder to save a model in: new, empty, or an earlier model (checked before training)."""
    from ..models._folder import check_model_target

    check_model_target(Path(path))
    return ensure_out_dir(path)


class ProgressBar:
    """Progress of a job on stderr, fed with :class:`~napari_selfsup_seg._progress.Progress`.

    On a terminal it is a tqdm bar. When stderr is not a terminal (a log file, a cluster job's
    output) it prints one plain line at most every :attr:`interval` seconds, and one at the end,
    instead of carriage-return redraws. Use as a context manager and pass the instance as the
    ``callback`` of :func:`~napari_selfsup_seg._progress.drain`. ``quiet`` prints nothing.
    """

    #: Seconds between two lines when stderr is not a terminal.
    interval: float = 10.0

    def __init__(self, desc: str, quiet: bool = False) -> None:
        self.desc = desc
        self.quiet = quiet
        self._bar: Any = None
        self._tty = sys.stderr.isatty()
        self._last_line = 0.0
        self._pending: Progress | None = None

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.close()
        if self._pending is not None:
            self._print_line(self._pending)

    def _label(self, record: Progress) -> str:
        return record.stage if record.stage == self.desc else f"{self.desc}: {record.stage}"

    @staticmethod
    def _postfix(record: Progress) -> dict[str, str]:
        postfix = {}
        loss = getattr(record, "loss", None)
        if loss is not None and loss == loss:
            postfix["loss"] = f"{loss:.4f}"
        if record.message:
            postfix["at"] = record.message[:40]
        return postfix

    def _print_line(self, record: Progress) -> None:
        done = f"{record.done}/{record.total}" if record.total else str(record.done)
        if record.total:
            done += f" ({100 * record.done / record.total:.0f}%)"
        extra = " ".join(f"{k} {v}" for k, v in self._postfix(record).items())
        print(f"{self._label(record)}: {done} {extra}".rstrip(), file=sys.stderr, flush=True)
        self._last_line = time.monotonic()
        self._pending = None

    def __call__(self, record: Progress) -> None:
        if self.quiet:
            return
        if not self._tty:
            finished = bool(record.total) and record.done >= record.total
            if finished or time.monotonic() - self._last_line >= self.interval:
                self._print_line(record)
            else:
                self._pending = record
            return
        from tqdm import tqdm

        if self._bar is None or (record.total and self._bar.total != record.total):
            if self._bar is not None:
                self._bar.close()
            self._bar = tqdm(
                total=record.total or None,
                desc=self._label(record),
                file=sys.stderr,
                dynamic_ncols=True,
                mininterval=0.5,
            )
        self._bar.n = record.done
        postfix = self._postfix(record)
        if postfix:
            self._bar.set_postfix(postfix, refresh=False)
        self._bar.refresh()


Callback = Callable[[Progress], None]
