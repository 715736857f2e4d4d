"""A small matplotlib canvas that fits in a dock widget."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure

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
