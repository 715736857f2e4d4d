"""Refuse images too large to read, from the file's header, before any pixel is decoded.

A small compressed TIFF can decode to gigabytes (a 2.6 MB zlib file of 50,000 x 50,000 pixels
holds 2.5 GB). Before reading, the pixel count and data type from the header give the memory an
image needs: its decoded pixels plus :data:`WORK_BYTES_PER_VALUE` bytes per value for the working
copies of processing (float copies, normalised input, class probabilities, labels). An image that
needs more than the limit is refused with one line. The limit is the memory available at the
time, unless set with :func:`image_memory_limit` (the command line's ``--max-image-gb``) or the
``NAPARI_SELFSUP_SEG_MAX_IMAGE_GB`` environment variable.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator, Sequence

import numpy as np

from .._errors import InputError

#: Working memory per pixel value besides the decoded pixels (bytes).
WORK_BYTES_PER_VALUE = 32
ENV_VAR = "NAPARI_SELFSUP_SEG_MAX_IMAGE_GB"

_limit_gb: float | None = None


@contextlib.contextmanager
def image_memory_limit(gb: float | None) -> Iterator[None]:
    """Use ``gb`` gigabytes as the limit inside the block (``None``: keep the current one)."""
    global _limit_gb
    before = _limit_gb
    if gb is not None:
        if not (math.isfinite(gb) and gb > 0):
            raise InputError(f"the image memory limit must be a number > 0 GB, got {gb}")
        _limit_gb = float(gb)
    try:
        yield
    finally:
        _limit_gb = before


def available_memory() -> int:
    """Bytes of memory available to a new allocation (about, as the system reports it)."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # no psutil, or a platform it does not know
        try:
            return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            return 1 << 62


def limit_bytes() -> tuple[int, str]:
    """The limit in bytes and where it comes from (for the message)."""
    if _limit_gb is not None:
        return int(_limit_gb * 1e9), "--max-image-gb"
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        try:
            gb = float(env)
        except ValueError:
            gb = float("nan")
        if not (math.isfinite(gb) and gb > 0):
            raise InputError(f"{ENV_VAR} must be a number of GB > 0, got {env!r}")
        return int(gb * 1e9), ENV_VAR
    return available_memory(), "available memory"


def check_image_size(name: object, shape: Sequence[int], dtype: np.dtype | str) -> None:
    """Raise :class:`InputError` when an image of ``shape`` and ``dtype`` needs too much memory.

    Parameters
    ----------
    name : object
        The file, for the message.
    shape : sequence of int
        Shape from the file's header.
    dtype : numpy.dtype
        Data type from the header.
    """
    values = math.prod(int(n) for n in shape)
    need = values * (np.dtype(dtype).itemsize + WORK_BYTES_PER_VALUE)
    limit, source = limit_bytes()
    if need > limit:
        dims = "x".join(str(int(n)) for n in shape)
        raise InputError(
            f"{name}: a {dims} {np.dtype(dtype)} image needs about {need / 1e9:.3g} GB to read "
            f"and process, more than the {limit / 1e9:.3g} GB limit ({source}); "
            "raise it with --max-image-gb"
        )
