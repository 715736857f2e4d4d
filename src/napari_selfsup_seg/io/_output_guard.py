"""Checks on the files a run will write, made before anything is written.

Every command plans its outputs first with an :class:`OutputPlan`: a run never writes over one
of its own inputs, and never writes two outputs to one path. A refused plan raises a one-line
:class:`~napari_selfsup_seg._errors.InputError` naming both files, and nothing is written.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from .._errors import InputError


def path_key(path: str | os.PathLike) -> str:
    """A key equal for two spellings of one path (symbolic links and ``..`` resolved)."""
    return os.path.normcase(os.path.realpath(path))


def _inode(path: str | os.PathLike) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


class OutputPlan:
    """The outputs of one run, checked against its inputs and against each other.

    Parameters
    ----------
    inputs : iterable of path-like
        Every file the run reads (images, masks, CSVs).
    hint : str
        Appended to the message when an output would overwrite an input, e.g. how to choose
        another output folder.
    """

    def __init__(self, inputs: Iterable[str | os.PathLike], hint: str = "choose another --out"):
        self.hint = hint
        self._inputs: dict[str, str] = {}
        self._inodes: dict[tuple[int, int], str] = {}
        for p in inputs:
            self._inputs[path_key(p)] = str(p)
            node = _inode(p)
            if node is not None:
                self._inodes[node] = str(p)
        self._claims: dict[str, tuple[str, str]] = {}

    def input_at(self, target: str | os.PathLike) -> str | None:
        """The input that ``target`` is (same path, link or hard link), if any."""
        found = self._inputs.get(path_key(target))
        if found is None:
            node = _inode(target)
            found = self._inodes.get(node) if node is not None else None
        return found

    def claim(self, target: str | os.PathLike, source: str | os.PathLike) -> Path:
        """Reserve ``target`` for the output of ``source``.

        Raises
        ------
        InputError
            ``target`` is an input of this run, or another input's output goes there too.
        """
        target, source = Path(target), str(source)
        clash = self.input_at(target)
        if clash is not None:
            raise InputError(
                f"{target}: the output of {source} would overwrite this input; {self.hint}"
            )
        key = path_key(target)
        other = self._claims.get(key)
        if other is not None and other[1] != source:
            raise InputError(
                f"{target}: {other[1]} and {source} would both be written there; rename one "
                "or give them separate output folders"
            )
        self._claims[key] = (str(target), source)
        return target
