"""Atomic writes: write to a temporary file (or folder) in the target folder, then rename it."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .._errors import InputError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def share_like_new_file(path: str | os.PathLike) -> None:
    """Give a temporary file the permissions of a newly created file (``0o666`` less umask).

    ``tempfile.mkstemp`` creates files readable by their owner only.
    """
    os.chmod(path, 0o666 & ~_umask())


def share_like_new_folder(path: str | os.PathLike) -> None:
    """Give a folder made by ``tempfile.mkdtemp`` (mode 0o700) the mode of a new folder."""
    os.chmod(path, 0o777 & ~_umask())


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


def _replace_folder(tmp: Path, path: Path) -> None:
    """Remove whatever is at ``path``, then rename ``tmp`` there."""
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
    os.replace(tmp, path)


@contextmanager
def atomic_folder(
    path: str | os.PathLike,
    *,
    prefix: str | None = None,
    replace: Callable[[Path, Path], object] = _replace_folder,
) -> Iterator[Path]:
    """A temporary folder beside ``path`` that takes its place when the block ends normally.

    Used for outputs that are folders (a ``.zarr`` store, a model folder). By default whatever
    was at ``path`` is removed just before the rename; on any error (or Ctrl-C) the temporary
    folder is removed and ``path`` is left as it was.

    Parameters
    ----------
    path : path-like
        The final folder; its parent must exist.
    prefix : str, optional
        Name prefix of the temporary folder (default ``".<name>."``, with suffix ``.part``).
    replace : callable, optional
        ``replace(tmp, path)`` puts the complete temporary folder in the place of ``path``
        (default: remove ``path``, then rename).

    Yields
    ------
    pathlib.Path
        The temporary folder to fill.
    """
    path = Path(path)
    suffix = ".part" if prefix is None else ""
    prefix = f".{path.name}." if prefix is None else prefix
    tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=path.parent))
    try:
        yield tmp
        share_like_new_folder(tmp)
        replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
