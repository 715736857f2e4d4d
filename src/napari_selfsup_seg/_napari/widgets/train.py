"""Train dock widget: fine-tune the U-Net on the corrected Labels layer while napari stays live.

The image and label planes are copied to numpy arrays on the GUI thread, then the core's
:func:`~napari_selfsup_seg.workflows._train_and_predict.train_and_predict_iter` runs in a thread
worker and :class:`._train_live.LiveTraining` shows it. Every few steps its prediction of the
displayed frame refreshes the Labels layer ``"<image> prediction"``; at the end the model is saved
and every frame of the image is predicted. Stop ends training within one step and keeps the model
trained so far. The settings start at the defaults of ``ModelConfig`` and ``TrainConfig``, the
same as the command line's.
"""

from __future__ import annotations

import napari.viewer
import numpy as np
from magicgui.widgets import CheckBox, ComboBox, FloatSpinBox, Label, SpinBox

from ..._config import ModelConfig, TrainConfig
from ..._config._run import SYMMETRIES
from ..._errors import InputError
from ...io._workspace import next_free_dir, project_dir
from ...workflows._correction import REVIEWED_BOXES_KEY, boxes_by_frame
from ...workflows._train_and_predict import train_and_predict_iter
from ._choices import FollowingChoice, FollowingPath, default_image, default_masks, on_state_changed
from ._common import JobControls, chosen_path, folder_edit
from ._dock import DockContainer
from ._layers import as_planes, chosen_planes, current_plane, layer_kind
from ._train_live import LiveTraining, TrainTarget
from ._train_seeds import TrainSeeds
from ._workers import report_error, run_job

#: Encoders offered, the default first.
ENCODERS = tuple(
    dict.fromkeys(
        (ModelConfig().encoder, "resnet18", "resnet34", "efficientnet-b0", "mobilenet_v2")
    )
)
#: Encoder depths a U-Net may have (see ModelConfig.encoder_depth).
DEPTHS = (3, 5)


class TrainWidget(DockContainer):
    """Fine-tune the segmentation network on (corrected) pseudo-masks.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        Injected by napari when the widget is opened from the Plugins menu.
    """

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self.viewer = viewer
        model, recipe = ModelConfig(), TrainConfig()
        self.image = ComboBox(label="Image", choices=self._names("image"))
        self.masks = ComboBox(label="Masks", choices=self._names("labels"), nullable=True)
        self.masks_info = Label(value="")
        self.seeding = TrainSeeds(viewer, self.image, self.masks)
        self._image_choice = FollowingChoice(
            self.image, lambda: default_image(self.viewer, ("brightfield", "fluorescent"))
        )
        self._masks_choice = FollowingChoice(
            self.masks, lambda: default_masks(self.viewer, self._image_shape()), nullable=True
        )
        self.encoder = ComboBox(label="Encoder", choices=list(ENCODERS), value=model.encoder)
        self.depth = SpinBox(
            label="Network depth (smaller = faster on CPU)",
            value=model.encoder_depth,
            min=DEPTHS[0],
            max=DEPTHS[1],
        )
        self.depth.tooltip = "Encoder stages of the U-Net: 3 is small and fast, 5 sees more context"
        self.steps = SpinBox(label="Steps", value=recipe.steps, min=1, max=1_000_000)
        self.early_stop = CheckBox(text="Stop when it stops improving", value=recipe.early_stop)
        self.early_stop.tooltip = (
            "End training when the loss (or the held-out frame's AP) has not improved for "
            f"{recipe.patience} steps; Steps is then the most it runs"
        )
        self.tile_size = SpinBox(
            label="Tile size", value=recipe.tile_size, min=32, max=1024, step=32
        )
        self.batch_size = SpinBox(label="Batch size", value=recipe.batch_size, min=1, max=256)
        self.learning_rate = FloatSpinBox(
            label="Learning rate", value=recipe.learning_rate, min=1e-6, max=1.0, step=0.0005
        )
        self.learning_rate.native.setDecimals(5)
        self.symmetry = ComboBox(
            label="Turn tiles", choices=list(SYMMETRIES), value=recipe.symmetry
        )
        self.symmetry.tooltip = (
            "Flips and 90° turns of the training tiles. auto: all eight, unless the objects "
            "look different when turned (light from one side, as in oblique brightfield or "
            "DIC); then only the turns that keep their look. Prediction's flips follow"
        )
        self.device = ComboBox(label="Device", choices=["auto", "cpu", "cuda", "mps"])
        self.device.value = recipe.device
        self.device_info = Label(value="")
        self.init = folder_edit("Start from model")
        self.init.tooltip = "Leave empty to train from scratch; or choose an earlier MODEL_DIR"
        self.save_dir = folder_edit("Save model to")
        self.save_dir.tooltip = (
            "Every run saves its model, also after Stop (default: a new folder next to the data)"
        )
        self._save = FollowingPath(self.save_dir)
        self.preview_every = SpinBox(label="Preview every", value=25, min=0, max=100000)
        self.hold_out = CheckBox(text="Hold out a reviewed frame for validation", value=False)
        self.controls = JobControls("Start training")
        self.live = LiveTraining(viewer, self.controls)
        self.loss_plot, self.scores = self.live.loss_plot, self.live.scores
        super().__init__(
            [
                self.image,
                self.masks,
                self.masks_info,
                *self.seeding.widgets,
                self.encoder,
                self.depth,
                self.steps,
                self.early_stop,
                self.tile_size,
                self.batch_size,
                self.learning_rate,
                self.symmetry,
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
        #: Leave one CPU core to the GUI thread while training (see ``_workers.run_job``).
        self.limit_threads = True
        self.controls.run_button.changed.connect(self.start)
        self.device.changed.connect(self._show_device)
        self.image.changed.connect(self._on_image_changed)
        self.masks.changed.connect(self._show_masks_info)
        viewer.layers.events.inserted.connect(self._refresh)
        viewer.layers.events.removed.connect(self._refresh)
        on_state_changed(self, self._refresh)
        self._refresh()
        self._show_device()

    @property
    def model(self):
        """The model of the last finished run (``LoadedModel``), or ``None``."""
        return self.live.model

    @property
    def last_preview_step(self) -> int:
        """Training step of the last preview shown (0 before the first)."""
        return self.live.last_preview_step

    def _names(self, kind: str):
        def names(_widget=None) -> list[str]:
            return [ly.name for ly in self.viewer.layers if layer_kind(ly) == kind]

        return names

    def _image_shape(self) -> tuple[int, ...] | None:
        name = self.image.value
        return tuple(self.viewer.layers[name].data.shape) if name in self.viewer.layers else None

    def _refresh(self, _event=None) -> None:
        self._image_choice.refresh()
        self._on_image_changed()

    def _on_image_changed(self, _value=None) -> None:
        self._masks_choice.refresh()
        self._show_masks_info()
        self._show_default_save()

    def _show_masks_info(self, _value=None) -> None:
        self.seeding.refresh()
        name = self.masks.value
        if name is None or name not in self.viewer.layers:
            self.masks_info.value = "No masks: make pseudo-masks first."
            return
        layer = self.viewer.layers[name]
        n_frames = int(np.prod(layer.data.shape[:-2])) if layer.data.ndim > 2 else 1
        method = layer.metadata.get("provenance", {}).get("method", "")
        reviewed = len(layer.metadata.get("reviewed", []))
        tiles = sum(len(v) for v in boxes_by_frame(layer.metadata.get(REVIEWED_BOXES_KEY)).values())
        self.masks_info.value = (
            f"{method + ' pseudo-masks, ' if method else ''}{n_frames} frame(s), "
            f"{reviewed} reviewed" + (f", {tiles} reviewed tile(s)" if tiles else "")
        )

    def _show_default_save(self, advance: bool = False) -> None:
        """Put the next free model folder in "Save model to" unless the user chose one.

        The folder shown stays put after a run (it says where that model went) until the image
        changes or ``advance`` is asked for, as at Start.
        """
        name = self.image.value
        if not self._save.follows() or name is None or name not in self.viewer.layers:
            return
        folder = project_dir(self.viewer.layers[name].metadata.get("path"), name)
        shown = self._save.default
        if advance or shown is None or shown.parent != folder:
            self._save.offer(next_free_dir(folder, "model"))

    def _show_device(self, _value=None) -> None:
        from ...models._factory import describe_device

        try:
            self.device_info.value = describe_device(self.device.value)
        except InputError as exc:
            self.device_info.value = str(exc)

    def configs(self) -> tuple[TrainConfig, ModelConfig]:
        """The recipe and the architecture set in the widget (raises InputError when invalid)."""
        recipe = TrainConfig(
            steps=int(self.steps.value),
            early_stop=bool(self.early_stop.value),
            batch_size=int(self.batch_size.value),
            tile_size=int(self.tile_size.value),
            learning_rate=float(self.learning_rate.value),
            symmetry=self.symmetry.value,
            device=self.device.value,
        )
        return recipe, ModelConfig(encoder=self.encoder.value, encoder_depth=int(self.depth.value))

    def make_job(self):
        """Copy the layers' data on the GUI thread and build the train-and-predict job.

        Returns
        -------
        (generator, TrainTarget)

        Raises
        ------
        InputError
            Missing layers, mismatching shapes, or invalid settings.
        """
        if self.image.value is None or self.masks.value is None:
            raise InputError("choose an image layer and a Labels layer with masks")
        image_layer = self.viewer.layers[self.image.value]
        labels_layer = self.viewer.layers[self.masks.value]
        images, masks = as_planes(image_layer.data), as_planes(labels_layer.data)
        if images.shape != masks.shape:
            raise InputError(
                f"{labels_layer.name}: shape {labels_layer.data.shape} does not match "
                f"{image_layer.name} {image_layer.data.shape}"
            )
        recipe, architecture = self.configs()
        # A seed layer is the second input; the model records the source channels it reads.
        inputs, seeded = self.seeding.job_inputs(image_layer)
        target = TrainTarget(
            image_layer.name,
            tuple(image_layer.data.shape),
            current_plane(self.viewer, image_layer),
            image_layer.metadata.get("axes"),
        )
        job = train_and_predict_iter(
            images,
            masks,
            recipe,
            architecture,
            frames=chosen_planes(image_layer),
            reviewed=labels_layer.metadata.get("reviewed", []),
            reviewed_boxes=boxes_by_frame(labels_layer.metadata.get(REVIEWED_BOXES_KEY)),
            hold_out=bool(self.hold_out.value),
            init=chosen_path(self.init),
            save_dir=chosen_path(self.save_dir),
            provenance={
                "masks_layer": labels_layer.name,
                "pseudo": labels_layer.metadata.get("provenance", {}),
                **seeded,
            },
            stop=self.controls.stop_event.is_set,
            preview_frame=target.preview_plane,
            preview_every=int(self.preview_every.value),
            **inputs,
        )
        return job, target

    def start(self, inline: bool = False):
        """Start training in a worker (or inline); returns the worker."""
        if self.controls.running:
            return None
        self._show_default_save(advance=True)  # a new folder if the last run used the default
        try:
            job, target = self.make_job()
        except InputError as exc:
            report_error(exc, "Training")
            return None
        self.live.begin(target)
        self.controls.started()
        self.controls.worker = run_job(
            job,
            on_yield=self.live.on_record,
            on_return=self.live.on_done,
            on_error=self.live.on_error,
            on_finish=self.controls.finished,
            inline=inline,
            limit_threads=self.limit_threads,
            what="Training",
        )
        return self.controls.worker
