"""Plots that fit in a dock widget: a matplotlib canvas, and a light line plot for live curves."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from qtpy.QtWidgets import QWidget

COLORS = ["#4fc3f7", "#ffb74d", "#aed581", "#f06292"]


class PlotCanvas(FigureCanvasQTAgg):
    """One set of axes with a dark theme matching napari's, redrawn on demand.

    Parameters
    ----------
    xlabel, ylabel : str
        Axis labels.
    height : float
        Figure height in inches.
    """

    def __init__(self, xlabel: str = "", ylabel: str = "", height: float = 2.2) -> None:
        self.figure = Figure(figsize=(3.6, height), dpi=90, facecolor="#262930")
        super().__init__(self.figure)
        self.axes = self.figure.add_subplot(111)
        self.xlabel, self.ylabel = xlabel, ylabel
        self.setMinimumHeight(int(height * 70))
        self._lines: dict = {}
        self.clear()

    def clear(self) -> None:
        """Empty axes with labels."""
        self._lines = {}
        ax = self.axes
        ax.clear()
        ax.set_facecolor("#262930")
        for spine in ax.spines.values():
            spine.set_color("#aaaaaa")
        ax.tick_params(colors="#dddddd", labelsize=7)
        ax.set_xlabel(self.xlabel, color="#dddddd", fontsize=8)
        ax.set_ylabel(self.ylabel, color="#dddddd", fontsize=8)
        self.figure.tight_layout(pad=0.6)
        self.draw_idle()

    def plot_lines(
        self,
        series: dict[str, tuple[Sequence[float], Sequence[float]]],
        marker_x: float | None = None,
        logy: bool = False,
    ) -> None:
        """Draw named ``(x, y)`` series and an optional vertical marker line.

        Parameters
        ----------
        series : dict of str -> (x, y)
            One line per entry, with a legend when there is more than one.
        marker_x : float, optional
            Position of a dashed vertical line (e.g. the chosen threshold).
        logy : bool
            Logarithmic y axis.
        """
        self.clear()
        ax = self.axes
        colors = COLORS
        for i, (name, (x, y)) in enumerate(series.items()):
            ax.plot(list(x), list(y), color=colors[i % len(colors)], lw=1.2, label=name)
        if marker_x is not None:
            ax.axvline(marker_x, color="#ff5252", ls="--", lw=1)
        if logy:
            ax.set_yscale("log")
        if len(series) > 1:
            ax.legend(fontsize=7, facecolor="#262930", labelcolor="#dddddd", edgecolor="#555555")
        self.figure.tight_layout(pad=0.6)
        self.draw_idle()

    def update_series(self, series: dict[str, tuple[Sequence[float], Sequence[float]]]) -> None:
        """Update (or add) lines in place: cheap enough to call while a job runs.

        Unlike :meth:`plot_lines` this does not lay the figure out again, so a redraw costs
        only the drawing itself.
        """
        ax = self.axes
        for name, (x, y) in series.items():
            line = self._lines.get(name)
            if line is None:
                color = COLORS[len(self._lines) % len(COLORS)]
                (line,) = ax.plot([], [], color=color, lw=1.2, label=name)
                self._lines[name] = line
            line.set_data(list(x), list(y))
        ax.relim()
        ax.autoscale_view()
        self.draw_idle()


class LinePlot(QWidget):
    """Line plot painted directly with QPainter: cheap enough to redraw while a job runs.

    A matplotlib draw lays out ticks and text in Python on the GUI thread (around 100 ms on a
    loaded 2-core machine while training competes for the interpreter); this widget paints the
    frame, the lines and four numbers in a few Qt calls, so redrawing it never stalls the
    viewer. Long series are thinned to about two points per pixel column.

    Parameters
    ----------
    xlabel, ylabel : str
        Axis labels.
    height : float
        Height in the units of :class:`PlotCanvas` (inches at 70 px).
    """

    def __init__(self, xlabel: str = "", ylabel: str = "", height: float = 2.2) -> None:
        super().__init__()
        self.xlabel, self.ylabel = xlabel, ylabel
        self.setMinimumHeight(int(height * 70))
        #: Named ``(x, y)`` series as float arrays, drawn in insertion order.
        self.series: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def clear(self) -> None:
        """Remove every line."""
        self.series = {}
        self.update()

    def update_series(self, series: dict[str, tuple[Sequence[float], Sequence[float]]]) -> None:
        """Replace (or add) the named ``(x, y)`` series and schedule a repaint."""
        for name, (x, y) in series.items():
            self.series[name] = (np.asarray(x, float), np.asarray(y, float))
        self.update()

    def plot_lines(self, series: dict[str, tuple[Sequence[float], Sequence[float]]]) -> None:
        """Show exactly these series."""
        self.series = {}
        self.update_series(series)

    def _limits(self) -> tuple[float, float, float, float] | None:
        """``(x0, x1, y0, y1)`` spanning every finite point (y padded by 5 %), or None."""
        points = [(x[np.isfinite(x + y)], y[np.isfinite(x + y)]) for x, y in self.series.values()]
        points = [(x, y) for x, y in points if x.size]
        if not points:
            return None
        x0 = min(float(x.min()) for x, _ in points)
        x1 = max(float(x.max()) for x, _ in points)
        y0 = min(float(y.min()) for _, y in points)
        y1 = max(float(y.max()) for _, y in points)
        pad = 0.05 * (y1 - y0) or 0.05 * (abs(y0) or 1.0)
        return x0, max(x1, x0 + 1e-9), y0 - pad, y1 + pad

    def paintEvent(self, event) -> None:
        """Paint the frame, tick values, labels and lines."""
        from qtpy.QtCore import QPointF, QRectF, Qt
        from qtpy.QtGui import QColor, QFont, QPainter, QPen, QPolygonF

        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor("#262930"))
        font = QFont(p.font())
        font.setPointSizeF(7.5)
        p.setFont(font)
        left, right, top, bottom = 44.0, 8.0, 8.0, 30.0
        box = QRectF(left, top, self.width() - left - right, self.height() - top - bottom)
        text = QColor("#dddddd")
        p.setPen(QPen(QColor("#aaaaaa"), 1))
        p.drawRect(box)
        p.setPen(text)
        label_row = QRectF(left, self.height() - 14, box.width(), 14)
        p.drawText(label_row, Qt.AlignmentFlag.AlignCenter, self.xlabel)
        p.save()
        p.translate(2, top + box.height() / 2)
        p.rotate(-90)
        p.drawText(
            QRectF(-box.height() / 2, 0, box.height(), 12),
            Qt.AlignmentFlag.AlignCenter,
            self.ylabel,
        )
        p.restore()
        limits = self._limits()
        if limits is None or box.width() < 2 or box.height() < 2:
            p.end()
            return
        x0, x1, y0, y1 = limits
        ticks = QRectF(left, box.bottom() + 1, box.width(), 14)
        p.drawText(ticks, Qt.AlignmentFlag.AlignLeft, f"{x0:g}")
        p.drawText(ticks, Qt.AlignmentFlag.AlignRight, f"{x1:g}")
        right_aligned = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        p.drawText(QRectF(0, box.top() - 7, left - 4, 14), right_aligned, f"{y1:.3g}")
        p.drawText(QRectF(0, box.bottom() - 7, left - 4, 14), right_aligned, f"{y0:.3g}")
        sx = box.width() / (x1 - x0)
        sy = box.height() / (y1 - y0)
        for i, (name, (x, y)) in enumerate(self.series.items()):
            keep = np.isfinite(x + y)
            x, y = x[keep], y[keep]
            stride = max(1, x.size // max(1, int(2 * box.width())))
            px = box.left() + (x[::stride] - x0) * sx
            py = box.bottom() - (y[::stride] - y0) * sy
            p.setPen(QPen(QColor(COLORS[i % len(COLORS)]), 1.2))
            if px.size == 1:
                p.drawEllipse(QPointF(px[0], py[0]), 1.5, 1.5)
            else:
                p.drawPolyline(QPolygonF([QPointF(a, b) for a, b in zip(px, py)]))
            if len(self.series) > 1:
                p.drawText(
                    QRectF(box.left() + 4, box.top() + 2 + 12 * i, box.width() - 8, 12),
                    Qt.AlignmentFlag.AlignRight,
                    name,
                )
        p.end()
