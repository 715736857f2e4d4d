"""What the Train widget shows while a job runs: progress, loss plot, scores, previews, result.

:class:`LiveTraining` receives the records of
:func:`~napari_selfsup_seg.workflows._train_and_predict.train_and_predict_iter` on the GUI thread.
The progress bar and the loss plot are refreshed a few times a second at most (drawing costs the
GUI thread); each preview is written in place into the Labels layer ``"<image> prediction"``,
which is made at Start; the final prediction replaces it, unless the user edited that layer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import Label

from ...workflows._train_and_predict import TrainPredictResult
from ._choices import STATE_EVENTS
from ._common import JobControls
from ._layers import EDITED_KEY, put_labels
from ._plot import LinePlot
from ._workers import report_error

if TYPE_CHECKING:
    import napari.viewer

    from ...models._factory import LoadedModel

#: The loss plot is redrawn at most this often while training (drawing costs the GUI thread).
PLOT_INTERVAL_S = 1.0
#: Progress records arrive every step; the progress bar follows them at most this often.
UI_INTERVAL_MS = 250


@dataclass(frozen=True)
class TrainTarget:
    """The image layer a job trains on, as it was at Start.

    Attributes
    ----------
    image : str
        Name of the image layer.
    shape : tuple of int
        Its data shape ``(..., Y, X)``.
    preview_plane : int
        Flat index of the frame shown in the viewer (the one previewed).
    axes : str or None
        Its axes, e.g. ``"ZYX"``.
    """

    image: str
    shape: tuple[int, ...]
    preview_plane: int
    axes: str | None = None

    @property
    def prediction_name(self) -> str:
        """Name of the Labels layer that shows the prediction."""
        return f"{self.image} prediction"


class LiveTraining:
    """Show a training job of the Train widget in the viewer.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
    controls : JobControls
        Its progress bar and status line show the records.
    """

    def __init__(self, viewer: napari.viewer.Viewer, controls: JobControls) -> None:
        from qtpy.QtCore import QTimer

        self.viewer = viewer
        self.controls = controls
        self.loss_plot = LinePlot("step", "loss", height=2.0)
        self.scores = Label(value="")
        self.model: LoadedModel | None = None
        self.preview_layer = None
        self.last_preview_step = 0
        self.target: TrainTarget | None = None
        self._pending = None
        self._last_plot = 0.0
        self._losses: list[tuple[int, float]] = []
        self._timer = QTimer()
        self._timer.setSingleShot(True)
        self._timer.setInterval(UI_INTERVAL_MS)
        self._timer.timeout.connect(self._flush_ui)

    def _like(self):
        name = self.target.image if self.target is not None else None
        return self.viewer.layers[name] if name in self.viewer.layers else None

    def begin(self, target: TrainTarget) -> None:
        """Clear the last run and make the prediction layer, so previews only refresh pixels."""
        self.target = target
        self._losses, self._pending, self._last_plot = [], None, 0.0
        self.loss_plot.clear()
        self.scores.value = ""
        self.preview_layer = put_labels(
            self.viewer,
            target.prediction_name,
            np.zeros(target.shape, np.int32),
            like=self._like(),
            metadata={"axes": target.axes, "preview_step": 0},
        )
        self.last_preview_step = 0

    def on_record(self, record) -> None:
        """Keep the record; the progress bar and plot are refreshed a few times a second."""
        self._pending = record
        loss = getattr(record, "loss", None)
        if record.stage == "train" and loss is not None:
            self._losses.append((record.done, float(loss)))
            val = record.extra.get("val_ap50") if record.extra else None
            if val is not None:
                f1 = record.extra.get("val_pixel_f1", float("nan"))
                self.scores.value = (
                    f"Validation at step {record.done}: AP@0.5 {val:.3f}, pixel F1 {f1:.3f}"
                )
        labels = getattr(record, "labels", None)
        if labels is not None:
            self._show_preview(labels, record.done)
        if not self._timer.isActive():
            self._timer.start()

    def _loss_curve(self) -> tuple[list[float], list[float]]:
        return [s for s, _ in self._losses], [v for _, v in self._losses]

    def _flush_ui(self) -> None:
        """Show the latest record and, at most once per PLOT_INTERVAL_S, redraw the loss."""
        if self._pending is not None:
            self.controls.show_progress(self._pending)
        now = time.perf_counter()
        if self._losses and now - self._last_plot >= PLOT_INTERVAL_S:
            self._last_plot = now
            self.loss_plot.update_series({"loss": self._loss_curve()})

    def _show_preview(self, labels: np.ndarray, step: int) -> None:
        """Write the preview of the displayed frame into the prediction layer, in place."""
        assert self.target is not None
        layer = self.preview_layer
        if (
            layer is None
            or layer not in self.viewer.layers
            or layer.metadata.get(EDITED_KEY)
            or layer.data.shape != self.target.shape
        ):
            # The user removed or edited it: never overwrite, make a new one.
            data = np.zeros(self.target.shape, np.int32)
            layer = self.preview_layer = put_labels(
                self.viewer, self.target.prediction_name, data, like=self._like()
            )
        k = self.target.preview_plane
        prefix = np.unravel_index(k, layer.data.shape[:-2]) if layer.data.ndim > 2 else ()
        layer.data[tuple(int(i) for i in prefix)] = labels
        layer.metadata["preview_step"] = step
        layer.refresh()
        self.last_preview_step = step

    def on_error(self, exc: BaseException) -> None:
        """Report the error; drop the prediction layer made at Start if nothing reached it."""
        report_error(exc, "Training")
        layer = self.preview_layer
        if (
            layer is not None
            and layer in self.viewer.layers
            and not layer.metadata.get(EDITED_KEY)
            and not self.last_preview_step
        ):
            self.viewer.layers.remove(layer)
        self.preview_layer = None

    def on_done(self, result: TrainPredictResult) -> None:
        """Show the prediction of every frame, the loss curve and where the model went."""
        assert self.target is not None
        self._timer.stop()
        if self._pending is not None:
            self.controls.show_progress(self._pending)
        model = self.model = result.model
        put_labels(
            self.viewer,
            self.target.prediction_name,
            result.labels.reshape(self.target.shape),
            like=self._like(),
            metadata={"axes": self.target.axes, "model": str(model.path or "")},
        )
        if self._losses:
            self.loss_plot.plot_lines({"loss": self._loss_curve()})
        path = Path(model.path) if model.path else None
        # The dock is narrow: the end of the path says which model; the tooltip has all of it.
        saved = f", saved to …/{path.parent.name}/{path.name}" if path else ""
        turns = [t for t in model.config.symmetries or [] if t != "identity"]
        # Said only when fewer than all eight were used (e.g. "auto" under light from one side).
        only = (
            ""
            if model.config.symmetries in (None, []) or len(turns) == 7
            else (f"; tiles turned only by {', '.join(turns)}" if turns else "; tiles not turned")
        )
        self.controls.status.value = (
            f"Done after {len(model.log) and model.log[-1]['step']} steps{saved}{only}"
        )
        self.controls.status.tooltip = f"Model saved to {path}" if path else ""
        STATE_EVENTS.changed.emit()  # e.g. Segment folder offers the model just saved
