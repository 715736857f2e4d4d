"""Where networks run: device choice and the number of CPU threads torch uses.

:func:`cpu_thread_count` is the one rule for torch's CPU thread count, and
:func:`set_cpu_threads` / :func:`cpu_threads` apply it: the widgets leave a core to the GUI, a
folder run splits the cores between images predicted side by side (or worker processes on this
machine), a Dask worker takes the count it is given, and tests run on one thread.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from .._errors import InputError

if TYPE_CHECKING:
    import torch


def pick_device(name: str = "auto") -> torch.device:
    """Choose where to run: CUDA, then Apple MPS, then the CPU.

    Parameters
    ----------
    name : str
        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"mps"``.

    Returns
    -------
    torch.device

    Raises
    ------
    InputError
        The named device is not available on this machine.
    """
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("device 'cuda' requested but no CUDA GPU is available")
    if name == "mps" and not (
        getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    ):
        raise InputError("device 'mps' requested but Apple MPS is not available")
    if name not in ("cpu", "cuda", "mps"):
        raise InputError(f"unknown device {name!r} (use auto, cpu, cuda or mps)")
    return torch.device(name)


def describe_device(device: torch.device | str = "auto") -> str:
    """A short human-readable description, e.g. ``"CUDA: NVIDIA H100"`` or ``"CPU (8 threads)"``."""
    import torch

    dev = pick_device(device) if isinstance(device, str) else device
    if dev.type == "cuda":
        return f"CUDA: {torch.cuda.get_device_name(dev)}"
    if dev.type == "mps":
        return "Apple MPS"
    return f"CPU ({torch.get_num_threads()} threads)"


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def cpu_thread_count(*, jobs: int = 1, spare: int = 0) -> int:
    """The CPU threads torch should use: the one rule.

    The usable cores, less ``spare`` left to other work, split between ``jobs`` running side by
    side; never more than torch's current count (so a count the user set, e.g. through
    ``OMP_NUM_THREADS``, is an upper bound) and at least 1.

    Parameters
    ----------
    jobs : int
        Jobs that run torch side by side (e.g. images predicted at once, worker processes).
    spare : int
        Cores left to other work (e.g. 1 for the GUI thread).
    """
    import torch

    return max(1, min(torch.get_num_threads(), (usable_cores() - spare) // max(1, jobs)))


def set_cpu_threads(count: int | None = None, *, jobs: int = 1, spare: int = 0) -> int:
    """Set torch's CPU thread count and return the previous one.

    Parameters
    ----------
    count : int, optional
        Threads to use, as given (at least 1); by default :func:`cpu_thread_count` of ``jobs``
        and ``spare``.
    jobs, spare : int
        See :func:`cpu_thread_count`.

    Returns
    -------
    int
        The thread count before the call.
    """
    import torch

    before = torch.get_num_threads()
    if count is None:
        count = cpu_thread_count(jobs=jobs, spare=spare)
    torch.set_num_threads(max(1, int(count)))
    return before


@contextmanager
def cpu_threads(count: int | None = None, *, jobs: int = 1, spare: int = 0) -> Iterator[int]:
    """Run the block with torch's CPU thread count set by :func:`set_cpu_threads`; restore it.

    Yields
    ------
    int
        The thread count in force inside the block.
    """
    import torch

    before = set_cpu_threads(count, jobs=jobs, spare=spare)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
