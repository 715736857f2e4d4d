"""The threshold slider, sweep plot and live re-cut of the Pseudo-masks widget.

After a run, :class:`CutPreview` holds the run's
:class:`~napari_selfsup_seg.pseudo._result.PseudoMaskResult` and the Labels layer it was shown
in. Moving the slider re-cuts the displayed plane's map with
the method's own labelling (:meth:`PseudoMaskResult.recut`); changing the displayed plane moves
the slider to that plane's cut and plots its sweep curve.
"""

from __future__ import annotations

from collections.abc import Callable

import napari.viewer
import numpy as np
from magicgui.widgets import FloatSlider, Label
from qtpy.QtCore import QTimer

from ...pseudo._result import PseudoMaskResult
from ._layers import EDITED_KEY, current_plane
from ._plot import PlotCanvas


class CutPreview:
    """Slider, plot and re-cut of the last result.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
    status : callable
        Shows a one-line message (the widget's status line).
    """

    def __init__(self, viewer: napari.viewer.Viewer, status: Callable[[str], None]) -> None:
        self.viewer = viewer
        self._status = status
        self.threshold = FloatSlider(label="Threshold", value=0.5, min=0.05, max=0.95, step=0.01)
        self.plot = PlotCanvas("threshold", "variance explained", height=2.0)
        self.plot_label = Label(value="")
        self.cache: dict | None = None
        self._timer = QTimer()
        self._timer.setSingleShot(True)
        self._timer.setInterval(60)
        self._timer.timeout.connect(self.preview)
        self._syncing = False
        self.threshold.changed.connect(self._on_slider)
        viewer.dims.events.current_step.connect(self.on_plane_changed)

    def show(self, result: PseudoMaskResult, layer_name: str, frames) -> None:
        """Keep ``result`` (one entry per frame of ``frames``) shown in layer ``layer_name``."""
        self.cache = {
            "layer": layer_name,
            "result": result,
            "index": {k: i for i, k in enumerate(frames)},
            "sweeps": dict(zip(frames, result.sweeps)),
            "thresholds": dict(zip(frames, result.thresholds)),
        }
        self.on_plane_changed()

    def _plane(self) -> int | None:
        if self.cache is None or self.cache["layer"] not in self.viewer.layers:
            return None
        k = current_plane(self.viewer, self.viewer.layers[self.cache["layer"]])
        return k if k in self.cache["index"] else None

    def _plot(self, k: int) -> None:
        sweep = self.cache["sweeps"][k] if self.cache is not None else None
        if sweep is not None:
            self.plot.plot_lines(
                {"score": (sweep.thresholds, sweep.scores)}, marker_x=self.threshold.value
            )

    def on_plane_changed(self, _event=None) -> None:
        """Move the slider to the displayed plane's cut and plot its sweep."""
        k = self._plane()
        if k is None or self.cache is None:
            return
        t = float(self.cache["thresholds"][k])
        self._syncing = True
        try:
            self.threshold.value = round(min(max(t, 0.05), 0.95), 2)
        finally:
            self._syncing = False
        self._plot(k)
        sweep = self.cache["sweeps"][k]
        if sweep is not None:
            cut, score = sweep.best_threshold, sweep.best_score
            self.plot_label.value = f"Plane {k}: automatic cut {cut:.2f} (score {score:.3f})"

    def _on_slider(self, _value=None) -> None:
        if not self._syncing:
            self._timer.start()

    def preview(self) -> int | None:
        """Re-cut the displayed plane's map at the slider's threshold.

        Returns
        -------
        int or None
            Number of objects in the new mask (``None`` when there is nothing to preview).
        """
        k = self._plane()
        if k is None or self.cache is None:
            return None
        layer = self.viewer.layers[self.cache["layer"]]
        if layer.metadata.get(EDITED_KEY):
            self._status("The pseudo-mask layer was edited; run again for a new one.")
            return None
        t = float(self.threshold.value)
        self.cache["thresholds"][k] = t
        lab = self.cache["result"].recut(self.cache["index"][k], t)
        if layer.data.ndim > 2:
            prefix = np.unravel_index(k, layer.data.shape[:-2])
            layer.data[tuple(int(i) for i in prefix)] = lab
        else:
            layer.data[...] = lab
        layer.refresh()
        self._plot(k)
        return int(lab.max())
