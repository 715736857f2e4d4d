"""Atomic file writes: write to a temporary file in the target folder, then rename it."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from .._errors import InputError


def share_like_new_file(path: str | os.PathLike) -> None:
    """Give a temporary file the permissions of a newly created file (``0o666`` less umask).

    ``tempfile.mkstemp`` creates files readable by their owner only.
    """
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


def atomic_write(path: str | os.PathLike, write: Callable[[str], object]) -> Path:
    """Call ``write(tmp_path)`` and rename the result to ``path`` once it is complete.

    Parameters
    ----------
    path : path-like
        The final file; its folder must exist.
    write : callable
        Writes the whole content to the temporary path it is given.

    Returns
    -------
    pathlib.Path
        ``path``. On any error (or Ctrl-C) the temporary file is removed and ``path`` is left as
        it was.
    """
    path = Path(path)
    if not path.parent.exists():
        raise InputError(f"{path.parent}: output folder does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        share_like_new_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
