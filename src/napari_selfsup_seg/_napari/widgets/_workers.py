"""Running core generators in napari thread workers, or inline (for tests and scripts).

The widget builds the job on the GUI thread (arrays and config objects, never layers), then
:func:`run_job` drives the generator in a ``thread_worker``: every yielded record goes to
``on_yield`` and the returned value to ``on_return``, both on the GUI thread. Errors become one
notification line instead of a traceback.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Generator
from typing import Any

from napari.utils.notifications import show_error

from ..._errors import InputError
from ..._progress import drain


def error_line(exc: BaseException) -> str:
    """One line describing ``exc`` for a notification."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, InputError):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def report_error(exc: BaseException, what: str = "") -> None:
    """Show ``exc`` as one error notification line, prefixed by what was being done."""
    show_error(f"{what}: {error_line(exc)}" if what else error_line(exc))


def keep_triton_out() -> None:
    """Keep Triton from being imported in this process, unless it already was.

    torch imports Triton lazily, the first time an optimiser is made. Importing it after an
    OpenGL context exists crashes the process when OpenGL is Mesa's llvmpipe: both bring their
    own LLVM. The widgets never use ``torch.compile``, so every dock calls this when it opens and
    :func:`run_job` before any job; a ``None`` entry in ``sys.modules`` makes torch see
    Triton as not installed.
    """
    sys.modules.setdefault("triton", None)  # type: ignore[arg-type]


def leave_core_for_gui() -> int | None:
    """Let torch use all cores but one in this thread, so the GUI thread is not starved.

    Returns
    -------
    int or None
        The previous number of torch threads (``None`` when torch is not installed).
    """
    try:
        import torch  # noqa: F401
    except ImportError:
        return None
    from ...models._device import set_cpu_threads

    return set_cpu_threads(spare=1)


#: Longest time (s) a thread holding the interpreter lock keeps it while the GUI thread waits
#: for it, during jobs. Python's default (5 ms) is paid again each time the GUI thread gets
#: the lock back after a Qt call, so one redraw of a few dozen Qt calls could wait ~100 ms
#: while the worker runs Python code between its numerical steps.
JOB_SWITCH_INTERVAL_S = 0.001


_switch = {"jobs": 0, "before": 0.005}
_switch_lock = threading.Lock()


def _short_switch_interval(on: bool) -> None:
    """Shorten the switch interval while at least one job runs; restore it after the last."""
    with _switch_lock:
        if on:
            if _switch["jobs"] == 0:
                _switch["before"] = sys.getswitchinterval()
                sys.setswitchinterval(min(_switch["before"], JOB_SWITCH_INTERVAL_S))
            _switch["jobs"] += 1
        else:
            _switch["jobs"] -= 1
            if _switch["jobs"] == 0:
                sys.setswitchinterval(_switch["before"])


def _drive(gen: Generator[Any, Any, Any], limit_threads: bool) -> Generator[Any, Any, Any]:
    before = leave_core_for_gui() if limit_threads else None
    _short_switch_interval(True)
    try:
        return (yield from gen)
    finally:
        _short_switch_interval(False)
        if before is not None:
            from ...models._device import set_cpu_threads

            set_cpu_threads(before)


def run_job(
    gen: Generator[Any, Any, Any],
    on_yield: Callable[[Any], Any] | None = None,
    on_return: Callable[[Any], Any] | None = None,
    on_error: Callable[[BaseException], Any] | None = None,
    on_finish: Callable[[], Any] | None = None,
    inline: bool = False,
    limit_threads: bool = True,
    what: str = "",
):
    """Run a progress generator in a napari thread worker (or inline) and route its events.

    Parameters
    ----------
    gen : generator
        A core job: yields progress records, returns its result.
    on_yield, on_return : callable, optional
        Called on the GUI thread with each record and with the result.
    on_error : callable, optional
        Called with the exception; the default shows a one-line error notification.
    on_finish : callable, optional
        Called last in every case (success, error, stop).
    inline : bool
        Drain the generator in the calling thread instead (no Qt thread), e.g. in tests.
    limit_threads : bool
        Leave one CPU core for the GUI thread while the job runs.
    what : str
        Prefix of error notifications, e.g. ``"Training"``.

    Returns
    -------
    napari.qt.threading.GeneratorWorker or None
        The started worker (``None`` when ``inline``).
    """

    keep_triton_out()

    def _error(exc: BaseException) -> None:
        if on_error is not None:
            on_error(exc)
        else:
            report_error(exc, what)

    if inline:
        try:
            result = drain(gen, on_yield)
            if on_return is not None:
                on_return(result)
        except Exception as exc:
            _error(exc)
        finally:
            if on_finish is not None:
                on_finish()
        return None

    from napari.qt.threading import create_worker

    worker = create_worker(_drive, gen, limit_threads, _start_thread=False)
    if on_yield is not None:
        worker.yielded.connect(on_yield)
    if on_return is not None:
        worker.returned.connect(on_return)
    worker.errored.connect(_error)
    if on_finish is not None:
        worker.finished.connect(on_finish)
    worker.start()
    return worker
