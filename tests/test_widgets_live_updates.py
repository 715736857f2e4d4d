"""Live updates during jobs: the light loss plot, and the interpreter switch interval."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

from napari_selfsup_seg._napari.widgets import _workers
from napari_selfsup_seg._napari.widgets._plot import COLORS, LinePlot
from napari_selfsup_seg._progress import Progress

pytestmark = pytest.mark.gui


def _line_pixels(plot: LinePlot, color: str) -> int:
    """Number of pixels of the painted widget close to ``color``."""
    from qtpy.QtGui import QColor, QImage

    image = plot.grab().toImage().convertToFormat(QImage.Format.Format_RGBA8888)
    ptr = image.constBits()
    ptr.setsize(image.sizeInBytes())
    rows = np.frombuffer(ptr, np.uint8).reshape(image.height(), image.bytesPerLine())
    rgb = rows[:, : 4 * image.width()].reshape(image.height(), image.width(), 4)[..., :3]
    want = QColor(color)
    diff = np.abs(rgb.astype(int) - [want.red(), want.green(), want.blue()]).sum(-1)
    return int((diff < 40).sum())


def test_line_plot_keeps_series_and_paints_them(qtbot):
    plot = LinePlot("step", "loss")
    qtbot.addWidget(plot)
    plot.resize(240, 140)
    assert _line_pixels(plot, COLORS[0]) == 0  # empty axes: no line
    plot.update_series({"loss": ([1, 2, 3, 4], [1.0, 0.5, np.nan, 0.25])})
    x, y = plot.series["loss"]
    assert x.tolist() == [1, 2, 3, 4] and y[1] == 0.5
    assert _line_pixels(plot, COLORS[0]) > 20
    plot.update_series({"val": ([2, 4], [0.3, 0.6])})
    assert list(plot.series) == ["loss", "val"]
    assert _line_pixels(plot, COLORS[1]) > 5
    plot.plot_lines({"loss": ([1], [2.0])})  # one point, replaces both lines
    assert list(plot.series) == ["loss"]
    plot.grab()
    plot.clear()
    assert plot.series == {} and _line_pixels(plot, COLORS[0]) == 0


def _job(seen: list, release: threading.Event):
    seen.append(sys.getswitchinterval())
    yield Progress("work", 1, 2)
    release.wait(10)
    seen.append(sys.getswitchinterval())
    return "done"


def test_jobs_shorten_the_switch_interval_until_the_last_one_ends(qtbot):
    before = sys.getswitchinterval()
    assert before > _workers.JOB_SWITCH_INTERVAL_S  # Python's default, 5 ms
    seen_a, seen_b = [], []
    gate_a, gate_b = threading.Event(), threading.Event()
    a = _workers.run_job(_job(seen_a, gate_a), limit_threads=False)
    b = _workers.run_job(_job(seen_b, gate_b), limit_threads=False)
    qtbot.waitUntil(lambda: len(seen_a) == 1 and len(seen_b) == 1, timeout=10000)
    with qtbot.waitSignal(a.finished, timeout=10000):
        gate_a.set()
    # One job still runs: the interval stays short.
    assert sys.getswitchinterval() == pytest.approx(_workers.JOB_SWITCH_INTERVAL_S)
    with qtbot.waitSignal(b.finished, timeout=10000):
        gate_b.set()
    assert seen_a + seen_b == [pytest.approx(_workers.JOB_SWITCH_INTERVAL_S)] * 4
    assert sys.getswitchinterval() == pytest.approx(before)


def test_jobs_keep_triton_out_and_importing_the_widgets_does_not(monkeypatch):
    import subprocess

    monkeypatch.delitem(sys.modules, "triton", raising=False)
    _workers.run_job(iter(()), inline=True)
    assert "triton" in sys.modules and sys.modules["triton"] is None
    code = (
        "import sys, importlib, pkgutil; import napari_selfsup_seg._napari.widgets as w\n"
        "for m in pkgutil.iter_modules(w.__path__):\n"
        "    importlib.import_module(w.__name__ + '.' + m.name)\n"
        "print('triton' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "False"
