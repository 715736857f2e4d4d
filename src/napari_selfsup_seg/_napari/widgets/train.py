"""Train dock widget: fine-tune the U-Net on the corrected Labels layer while napari stays live.

The image and label planes are copied to numpy arrays on the GUI thread, then the core's
``train_iter`` runs in a thread worker. Every few steps its prediction of the displayed frame
refreshes the Labels layer ``"<image> prediction"``; at the end the model is saved (when a folder
is chosen) and every frame of the image is predicted. Stop ends training within one step and keeps
the model trained so far.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from pathlib import Path

import napari.viewer
import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    FileEdit,
    FloatSpinBox,
    Label,
    SpinBox,
)

from ..._config import ModelConfig, PredictConfig, TrainConfig
from ..._errors import InputError
from ..._progress import Progress
from ...io._workspace import next_free_dir, project_dir
from ._choices import STATE_EVENTS, FollowingChoice, default_image, default_masks, on_state_changed
from ._common import JobControls
from ._dock import DockContainer
from ._layers import EDITED_KEY, as_planes, chosen_planes, current_plane, layer_kind, put_labels
from ._plot import LinePlot
from ._workers import report_error, run_job

ENCODERS = ("resnet18", "resnet34", "efficientnet-b0", "mobilenet_v2")
IGNORE_VALUE = 65535
#: The loss plot is redrawn at most this often while training (drawing costs the GUI thread).
PLOT_INTERVAL_S = 1.0
#: Progress records arrive every step; the progress bar follows them at most this often.
UI_INTERVAL_MS = 250


def train_and_predict(
    train_gen: Generator, planes: np.ndarray, save_dir: Path | None, predict: PredictConfig
) -> Generator[Progress, None, tuple]:
    """Train, save the model, then predict every plane.

    Parameters
    ----------
    train_gen : generator
        :func:`~napari_selfsup_seg.train._supervised.train_iter` (returns a LoadedModel).
    planes : numpy.ndarray
        Shape ``(N, Y, X)``: all frames of the input image.
    save_dir : pathlib.Path or None
        Where to save the model.
    predict : PredictConfig

    Returns
    -------
    (LoadedModel, numpy.ndarray)
        The model and labels of shape ``(N, Y, X)``.
    """
    from ...inference._predict import predict_iter

    model = yield from train_gen
    if save_dir is not None:
        model.save(save_dir)
        yield Progress("save", 1, 1, str(save_dir))
    labels, _ = yield from predict_iter(model, planes, predict)
    return model, labels


class TrainWidget(DockContainer):
    """Fine-tune the segmentation network on (corrected) pseudo-masks.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        Injected by napari when the widget is opened from the Plugins menu.
    """

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self.viewer = viewer
        self.image = ComboBox(label="Image", choices=self._names("image"))
        self.masks = ComboBox(label="Masks", choices=self._names("labels"), nullable=True)
        self.masks_info = Label(value="")
        self._image_choice = FollowingChoice(
            self.image, lambda: default_image(self.viewer, ("brightfield", "fluorescent"))
        )
        self._masks_choice = FollowingChoice(
            self.masks, lambda: default_masks(self.viewer, self._image_shape()), nullable=True
        )
        self._default_save: Path | None = None
        self.encoder = ComboBox(label="Encoder", choices=list(ENCODERS), value="resnet18")
        self.small = CheckBox(text="Small network (3 stages, fast on CPU)", value=True)
        self.steps = SpinBox(label="Steps", value=300, min=1, max=1_000_000)
        self.tile_size = SpinBox(label="Tile size", value=128, min=32, max=1024, step=32)
        self.batch_size = SpinBox(label="Batch size", value=8, min=1, max=256)
        self.learning_rate = FloatSpinBox(
            label="Learning rate", value=0.002, min=1e-6, max=1.0, step=0.0005
        )
        self.learning_rate.native.setDecimals(5)
        self.device = ComboBox(label="Device", choices=["auto", "cpu", "cuda", "mps"])
        self.device_info = Label(value="")
        self.init = FileEdit(label="Start from model", mode="d", value="")
        self.init.tooltip = "Leave empty to train from scratch; or choose an earlier MODEL_DIR"
        self.save_dir = FileEdit(label="Save model to", mode="d", value="")
        self.save_dir.tooltip = (
            "Every run saves its model, also after Stop (default: a new folder next to the data)"
        )
        self.preview_every = SpinBox(label="Preview every", value=25, min=0, max=100000)
        self.hold_out = CheckBox(text="Hold out a reviewed frame for validation", value=False)
        self.controls = JobControls("Start training")
        self.loss_plot = LinePlot("step", "loss", height=2.0)
        self.scores = Label(value="")
        super().__init__(
            [
                self.image,
                self.masks,
                self.masks_info,
                self.encoder,
                self.small,
                self.steps,
                self.tile_size,
                self.batch_size,
                self.learning_rate,
                self.device,
                self.device_info,
                self.init,
                self.save_dir,
                self.preview_every,
                self.hold_out,
                self.controls,
                self.scores,
            ]
        )
        self.add_native(self.loss_plot)
        self.model = None
        self.preview_layer = None
        self.last_preview_step = 0
        self._pending = None
        from qtpy.QtCore import QTimer

        self._ui_timer = QTimer()
        self._ui_timer.setSingleShot(True)
        self._ui_timer.setInterval(UI_INTERVAL_MS)
        self._ui_timer.timeout.connect(self._flush_ui)
        #: Leave one CPU core to the GUI thread while training (see ``_workers.run_job``).
        self.limit_threads = True
        self._losses: list[tuple[int, float]] = []
        self._val: list[tuple[int, float]] = []
        self.controls.run_button.changed.connect(self.start)
        self.device.changed.connect(self._show_device)
        self.image.changed.connect(self._on_image_changed)
        self.masks.changed.connect(self._show_masks_info)
        viewer.layers.events.inserted.connect(self._refresh)
        viewer.layers.events.removed.connect(self._refresh)
        on_state_changed(self, self._refresh)
        self._refresh()
        self._show_device()

    def _names(self, kind: str):
        def names(_widget=None) -> list[str]:
            return [ly.name for ly in self.viewer.layers if layer_kind(ly) == kind]

        return names

    def _image_shape(self) -> tuple[int, ...] | None:
        name = self.image.value
        return tuple(self.viewer.layers[name].data.shape) if name in self.viewer.layers else None

    def _refresh(self, _event=None) -> None:
        self._image_choice.refresh()
        self._masks_choice.refresh()
        self._show_masks_info()
        self._show_default_save()

    def _on_image_changed(self, _value=None) -> None:
        self._masks_choice.refresh()
        self._show_masks_info()
        self._show_default_save()

    def _show_masks_info(self, _value=None) -> None:
        name = self.masks.value
        if name is None or name not in self.viewer.layers:
            self.masks_info.value = "No masks: make pseudo-masks first."
            return
        layer = self.viewer.layers[name]
        n_frames = int(np.prod(layer.data.shape[:-2])) if layer.data.ndim > 2 else 1
        method = layer.metadata.get("provenance", {}).get("method", "")
        reviewed = len(layer.metadata.get("reviewed", []))
        self.masks_info.value = (
            f"{method + ' pseudo-masks, ' if method else ''}{n_frames} frame(s), "
            f"{reviewed} reviewed"
        )

    def _show_default_save(self, advance: bool = False) -> None:
        """Put the next free model folder in "Save model to" unless the user chose one.

        The folder shown stays put after a run (it says where that model went) until the image
        changes or ``advance`` is asked for, as at Start.
        """
        text = self.save_dir.line_edit.value.strip()
        if text and (self._default_save is None or Path(text) != self._default_save):
            return
        name = self.image.value
        if name is None or name not in self.viewer.layers:
            return
        layer = self.viewer.layers[name]
        folder = project_dir(layer.metadata.get("path"), name)
        if not advance and self._default_save is not None and self._default_save.parent == folder:
            return
        self._default_save = next_free_dir(folder, "model")
        self.save_dir.value = self._default_save

    def _show_device(self, _value=None) -> None:
        from ...models._factory import describe_device

        try:
            self.device_info.value = describe_device(self.device.value)
        except InputError as exc:
            self.device_info.value = str(exc)

    def _path_or_none(self, widget: FileEdit) -> Path | None:
        text = str(widget.value)
        return None if text in ("", ".") else Path(text)

    def make_job(self):
        """Copy the layers' data on the GUI thread and build the training generator.

        Returns
        -------
        (generator, dict)

        Raises
        ------
        InputError
            Missing layers, mismatching shapes, or invalid settings.
        """
        from ...train._supervised import train_iter

        if self.image.value is None or self.masks.value is None:
            raise InputError("choose an image layer and a Labels layer with masks")
        image_layer = self.viewer.layers[self.image.value]
        labels_layer = self.viewer.layers[self.masks.value]
        images = as_planes(image_layer.data).astype(np.float32, copy=False)
        masks = as_planes(labels_layer.data)
        if images.shape != masks.shape:
            raise InputError(
                f"{labels_layer.name}: shape {labels_layer.data.shape} does not match "
                f"{image_layer.name} {image_layer.data.shape}"
            )
        use = chosen_planes(image_layer)
        val_idx: list[int] = []
        reviewed = [k for k in labels_layer.metadata.get("reviewed", []) if k in use]
        if self.hold_out.value:
            if not reviewed:
                raise InputError("no reviewed frame to hold out (accept a frame in Correct)")
            val_idx = [reviewed[-1]]
        train_idx = [k for k in use if k not in val_idx]
        if not train_idx:
            raise InputError("no frame left to train on after holding out the validation frame")
        tc = TrainConfig(
            steps=int(self.steps.value),
            batch_size=int(self.batch_size.value),
            tile_size=int(self.tile_size.value),
            learning_rate=float(self.learning_rate.value),
            device=self.device.value,
            ignore_value=IGNORE_VALUE,
        )
        mc = ModelConfig(encoder=self.encoder.value, encoder_depth=3 if self.small.value else 5)
        init = self._path_or_none(self.init)
        if init is not None:
            from ...models._factory import read_model_config

            read_model_config(init)
        validation = (
            ([images[k] for k in val_idx], [masks[k] for k in val_idx]) if val_idx else None
        )
        preview_k = current_plane(self.viewer, image_layer)
        # The model records which channel of the source file it reads (see ``_layers``).
        channel = image_layer.metadata.get("channel")
        channel_name = image_layer.metadata.get("channel_name")
        gen = train_iter(
            [images[k] for k in train_idx],
            [masks[k] for k in train_idx],
            train_config=tc,
            model_config=mc,
            init=init,
            provenance={
                "masks_layer": labels_layer.name,
                "frames": train_idx,
                "held_out": val_idx,
                "pseudo": labels_layer.metadata.get("provenance", {}),
            },
            stop=self.controls.stop_event.is_set,
            preview_image=images[preview_k],
            preview_every=int(self.preview_every.value),
            validation=validation,
            input_channels=None if channel is None else [int(channel)],
            input_channel_names=[str(channel_name)] if channel_name else None,
        )
        predict = PredictConfig(tile_size=max(256, tc.tile_size), device=tc.device)
        job = train_and_predict(gen, images, self._path_or_none(self.save_dir), predict)
        context = {
            "image": image_layer.name,
            "shape": image_layer.data.shape,
            "preview_plane": preview_k,
            "axes": image_layer.metadata.get("axes"),
        }
        return job, context

    def start(self, inline: bool = False):
        """Start training in a worker (or inline); returns the worker."""
        if self.controls.running:
            return None
        self._show_default_save(advance=True)  # a new folder if the last run used the default
        try:
            job, context = self.make_job()
        except InputError as exc:
            report_error(exc, "Training")
            return None
        self._losses, self._val = [], []
        self._context = context
        self._pending = None
        self._last_plot = 0.0
        self.loss_plot.clear()
        self.scores.value = ""
        # The prediction layer is made now, so that previews only refresh its pixels.
        self.preview_layer = put_labels(
            self.viewer,
            self._prediction_name(),
            np.zeros(context["shape"], np.int32),
            like=self._like(),
            metadata={"axes": context["axes"], "preview_step": 0},
        )
        self.last_preview_step = 0
        self.controls.started()
        worker = run_job(
            job,
            on_yield=self._on_record,
            on_return=self._on_done,
            on_error=self._on_error,
            on_finish=self.controls.finished,
            inline=inline,
            limit_threads=self.limit_threads,
            what="Training",
        )
        self.controls.worker = worker
        return worker

    def _prediction_name(self) -> str:
        return f"{self._context['image']} prediction"

    def _like(self):
        name = self._context["image"]
        return self.viewer.layers[name] if name in self.viewer.layers else None

    def _on_record(self, record) -> None:
        """Keep the record; the progress bar and plot are refreshed a few times a second."""
        self._pending = record
        labels = getattr(record, "labels", None)
        loss = getattr(record, "loss", None)
        if record.stage == "train" and loss is not None:
            self._losses.append((record.done, float(loss)))
            val = record.extra.get("val_ap50") if record.extra else None
            if val is not None:
                self._val.append((record.done, float(val)))
                f1 = record.extra.get("val_pixel_f1", float("nan"))
                self.scores.value = (
                    f"Validation at step {record.done}: AP@0.5 {val:.3f}, pixel F1 {f1:.3f}"
                )
        if labels is not None:
            self._show_preview(labels, record.done)
        if not self._ui_timer.isActive():
            self._ui_timer.start()

    def _flush_ui(self) -> None:
        """Show the latest record and, at most once per PLOT_INTERVAL_S, redraw the loss."""
        if self._pending is not None:
            self.controls.show_progress(self._pending)
        now = time.perf_counter()
        if self._losses and now - self._last_plot >= PLOT_INTERVAL_S:
            self._last_plot = now
            self.loss_plot.update_series({"loss": tuple(zip(*self._losses))})

    def _show_preview(self, labels: np.ndarray, step: int) -> None:
        """Write the preview of the displayed frame into the prediction layer, in place."""
        k = self._context["preview_plane"]
        layer = self.preview_layer
        if (
            layer is None
            or layer not in self.viewer.layers
            or layer.metadata.get(EDITED_KEY)
            or layer.data.shape != tuple(self._context["shape"])
        ):
            # The user removed or edited it: never overwrite, make a new one.
            data = np.zeros(self._context["shape"], np.int32)
            layer = self.preview_layer = put_labels(
                self.viewer, self._prediction_name(), data, like=self._like()
            )
        prefix = np.unravel_index(k, layer.data.shape[:-2]) if layer.data.ndim > 2 else ()
        layer.data[tuple(int(i) for i in prefix)] = labels
        layer.metadata["preview_step"] = step
        layer.refresh()
        self.last_preview_step = step

    def _on_error(self, exc: BaseException) -> None:
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

    def _on_done(self, result) -> None:
        self._ui_timer.stop()
        if self._pending is not None:
            self.controls.show_progress(self._pending)
        model, labels = result
        self.model = model
        full = np.asarray(labels, np.int32).reshape(self._context["shape"])
        put_labels(
            self.viewer,
            self._prediction_name(),
            full,
            like=self._like(),
            metadata={"axes": self._context["axes"], "model": str(model.path or "")},
        )
        if self._losses:
            self.loss_plot.plot_lines({"loss": tuple(zip(*self._losses))})
        path = Path(model.path) if model.path else None
        # The dock is narrow: the end of the path says which model; the tooltip has all of it.
        saved = f", saved to …/{path.parent.name}/{path.name}" if path else ""
        self.controls.status.value = (
            f"Done after {len(model.log) and model.log[-1]['step']} steps{saved}"
        )
        self.controls.status.tooltip = f"Model saved to {path}" if path else ""
        STATE_EVENTS.changed.emit()  # e.g. Segment folder offers the model just saved
