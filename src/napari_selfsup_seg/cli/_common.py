"""Helpers shared by the subcommands: output folders, progress bars, device flags."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from .._errors import InputError
from ..progress import Progress


def ensure_out_dir(path: str | os.PathLike) -> Path:
    """Create an output folder (and parents) or raise a one-line :class:`InputError`."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{path}: cannot create output folder ({exc.strerror})") from None
    if not os.access(path, os.W_OK):
        raise InputError(f"{path}: output folder is not writable")
    return path


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    """``--device auto|cpu|cuda|mps``."""
    parser.add_argument(
        "--device",
        default="auto",
        choices=("auto", "cpu", "cuda", "mps"),
        help="where to run (auto: CUDA, then MPS, then CPU)",
    )


class ProgressBar:
    """A tqdm bar on stderr fed with :class:`~napari_selfsup_seg.progress.Progress` records.

    Use as a context manager and pass the instance as the ``callback`` of
    :func:`~napari_selfsup_seg.progress.drain`. It stays quiet when stderr is not a terminal
    and ``quiet`` is set.
    """

    def __init__(self, desc: str, quiet: bool = False) -> None:
        self.desc = desc
        self.quiet = quiet
        self._bar = None

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.close()

    def __call__(self, record: Progress) -> None:
        if self.quiet:
            return
        from tqdm import tqdm

        if self._bar is None or (record.total and self._bar.total != record.total):
            if self._bar is not None:
                self._bar.close()
            self._bar = tqdm(
                total=record.total or None,
                desc=record.stage if record.stage == self.desc else f"{self.desc}: {record.stage}",
                file=sys.stderr,
                dynamic_ncols=True,
                mininterval=0.5,
            )
        self._bar.n = record.done
        postfix = {}
        loss = getattr(record, "loss", None)
        if loss is not None and loss == loss:
            postfix["loss"] = f"{loss:.4f}"
        if record.message:
            postfix["at"] = record.message[:40]
        if postfix:
            self._bar.set_postfix(postfix, refresh=False)
        self._bar.refresh()


Callback = Callable[[Progress], None]
