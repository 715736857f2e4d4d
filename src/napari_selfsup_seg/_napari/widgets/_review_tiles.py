"""The review round of the Correct widget: "Next tile to review", accept, fine-tuning bursts.

:class:`ReviewTiles` is the thin face of the core
:class:`~napari_selfsup_seg.workflows._review.ReviewLoop`. "Next tile to review" ranks the tiles
of the displayed plane in a thread worker, outlines the best one in the Shapes layer
``"review tile"`` and centres the view on it. "Accept tile" and "Accepted with edits" mark it
reviewed (in the correction session, ``layer.metadata["reviewed_boxes"]`` and the autosaved
JSON), then run a short fine-tuning burst of the current model in a worker; at its end the
displayed plane of ``"<image> prediction"`` shows the new model's labels and the model is saved
to a new folder beside the others. The loop keeps the new model for the next tile.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import ComboBox, Container, Label, PushButton
from napari.layers import Shapes

from ..._errors import InputError
from ...io._workspace import next_free_dir, project_dir
from ...workflows._correction import REVIEWED_BOXES_KEY
from ...workflows._fine_tune import FineTuneConfig
from ...workflows._queue import QueueConfig
from ...workflows._review import BurstResult, ReviewLoop
from ._choices import (
    STATE_EVENTS,
    FollowingChoice,
    FollowingPath,
    default_map,
    default_model,
    default_review_image,
)
from ._common import JobControls, folder_edit
from ._layers import EDITED_KEY, as_planes, chosen_planes, layer_kind, put_labels
from ._train_seeds import model_seed_planes
from ._workers import report_error, run_job

if TYPE_CHECKING:
    from ...workflows._queue import QueueTile

#: Name of the Shapes layer that outlines the tile to review.
TILE_LAYER = "review tile"
NO_MODEL = "train a model first (Train widget) or choose a model folder"


class ReviewTiles(Container):
    """Tile-by-tile review with fine-tuning bursts, for the Labels layer of a Correct widget.

    Parameters
    ----------
    owner : CorrectWidget
        Gives the Labels layer (``owner.layer``), its session and the autosave.
    """

    def __init__(self, owner) -> None:
        self.owner = owner
        self.viewer = owner.viewer
        self.image = ComboBox(label="Image", choices=self._names("image"), nullable=True)
        self._image_choice = FollowingChoice(
            self.image, lambda: default_review_image(self.viewer, owner.layer), nullable=True
        )
        self.model_dir = folder_edit("Model")
        self.model_dir.tooltip = "Default: the model of the newest prediction layer"
        self._model = FollowingPath(self.model_dir)
        self.prob_map = ComboBox(
            label="Probability map", choices=self._names("image"), nullable=True
        )
        self._map_choice = FollowingChoice(
            self.prob_map, lambda: default_map(self.viewer, owner.layer), nullable=True
        )
        self.accept_button = PushButton(text="Accept tile")
        self.edited_button = PushButton(text="Accepted with edits")
        self.tile_info = Label(value="")
        self.controls = JobControls("Next tile to review")
        self.next_button = self.controls.run_button
        buttons = Container(widgets=[self.accept_button, self.edited_button], layout="horizontal")
        buttons.margins = (0, 0, 0, 0)
        super().__init__(
            widgets=[
                self.image,
                self.model_dir,
                self.prob_map,
                self.controls,
                buttons,
                self.tile_info,
            ]
        )
        self.margins = (0, 0, 0, 0)
        #: Settings of the queue and the bursts (tests and scripts may shorten them).
        self.queue_config = QueueConfig()
        self.fine_tune_config = FineTuneConfig()
        #: Leave one CPU core to the GUI thread while a job runs (see ``_workers.run_job``).
        self.limit_threads = True
        #: The proposed tile, ``(plane, QueueTile)``, until it is accepted.
        self.tile: tuple[int, QueueTile] | None = None
        self.last_burst: BurstResult | None = None
        self._loop: ReviewLoop | None = None
        self._loop_key: tuple[Any, ...] = ()
        self._loop_source = ""  # the Model box's text the loop's model was loaded from
        self._last_ui = 0.0
        self.next_button.changed.connect(lambda: self.next_tile())
        self.accept_button.changed.connect(lambda: self.accept(edited=False))
        self.edited_button.changed.connect(lambda: self.accept(edited=True))

    def _names(self, kind: str):
        def names(_widget=None) -> list[str]:
            return [ly.name for ly in self.viewer.layers if layer_kind(ly) == kind]

        return names

    def refresh(self) -> None:
        """Look at the default image, map and model again (layers came, went or changed)."""
        self._image_choice.refresh()
        self._map_choice.refresh()
        self._model.offer(default_model(self.viewer))

    def _layer(self, name: str | None):
        return self.viewer.layers[name] if name and name in self.viewer.layers else None

    def _busy(self, running: bool) -> None:
        """While a job runs, only Stop is enabled (the job ends within one step)."""
        (self.controls.started if running else self.controls.finished)()
        self.accept_button.enabled = self.edited_button.enabled = not running

    # -- the loop ---------------------------------------------------------------------------
    def review_loop(self) -> ReviewLoop:
        """The core loop for the chosen layers and model, with the labels as they are now.

        Made again when the layers or the model folder change; otherwise the labels (and the
        user's edits) are copied into it. Runs on the GUI thread.

        Raises
        ------
        InputError
            No Labels layer, image or model, or mismatching shapes.
        """
        labels, session = self.owner.layer, self.owner.session
        image = self._layer(self.image.value)
        if labels is None or session is None:
            raise InputError("choose a Labels layer to correct first")
        if image is None:
            raise InputError("choose the image the model reads")
        text = self._model.text()
        if not text or text == ".":
            raise InputError(NO_MODEL)
        prob = self._layer(self.prob_map.value)
        key = (labels.unique_id, image.unique_id, None if prob is None else prob.unique_id)
        loop = self._loop
        if loop is not None and key == self._loop_key:
            if text in (self._loop_source, str(loop.model.path or "")):
                loop.labels[:] = as_planes(labels.data)  # the user's edits so far
                return loop
        if not (Path(text) / "config.json").exists():
            raise InputError(f"{text}: no model folder here; {NO_MODEL}")
        images = as_planes(image.data)
        if images.shape != as_planes(labels.data).shape:
            raise InputError(
                f"{labels.name}: shape {labels.data.shape} does not match {image.name} "
                f"{image.data.shape}"
            )
        self._loop = ReviewLoop(
            text,
            images,
            as_planes(labels.data),
            None if prob is None else as_planes(prob.data).astype(np.float32),
            reviewed=session.reviewed_boxes,
            planes=chosen_planes(labels),
            queue_config=self.queue_config,
            fine_tune_config=self.fine_tune_config,
            seeds=model_seed_planes(self.viewer, text, image),  # a seed channel's nuclei
        )
        self._loop_key, self._loop_source = key, text
        return self._loop

    # -- next tile --------------------------------------------------------------------------
    def next_tile(self, inline: bool = False):
        """Rank the displayed plane's tiles in a worker, then outline and show the best one."""
        if self.controls.running:
            return None
        try:
            loop = self.review_loop()
        except InputError as exc:
            report_error(exc, "Next tile")
            return None
        plane = self.owner._frame()
        self._busy(True)
        self.controls.worker = run_job(
            loop.next_tile_iter(plane),
            on_yield=self.controls.show_progress,
            on_return=lambda tile: self.show_tile(plane, tile),
            on_finish=lambda: self._busy(False),
            inline=inline,
            limit_threads=self.limit_threads,
            what="Next tile",
        )
        return self.controls.worker

    def show_tile(self, plane: int, tile: QueueTile | None) -> None:
        """Outline ``tile`` of ``plane`` in the ``"review tile"`` layer; centre the view on it."""
        self.controls.progress.value = 1000
        if tile is None:
            self.tile = None
            self.controls.status.value = "Every area of this plane is reviewed."
            return
        self.tile = (plane, tile)
        labels = self.owner.layer
        y0, x0, y1, x1 = tile.box
        lead = [int(i) for i in np.unravel_index(plane, labels.data.shape[:-2])]
        rect = np.array([[*lead, y, x] for y, x in ((y0, x0), (y0, x1), (y1, x1), (y1, x0))])
        layer = self._layer(TILE_LAYER)
        if not isinstance(layer, Shapes) or layer.ndim != rect.shape[1]:
            layer = self.viewer.add_shapes(
                name=TILE_LAYER, ndim=rect.shape[1], edge_color="yellow", face_color="transparent",
                edge_width=max(1.0, (y1 - y0) / 40), scale=labels.scale, translate=labels.translate,
            )  # fmt: skip
        layer.data = [(rect, "rectangle")]
        self.viewer.layers.selection.active = labels  # painting stays on the labels
        self.viewer.reset_view()
        zoom = self.viewer.scene.camera.zoom
        scale, shift = np.asarray(labels.scale[-2:]), np.asarray(labels.translate[-2:])
        centre = shift + scale * np.array([(y0 + y1) / 2, (x0 + x1) / 2])
        self.viewer.scene.camera.center = tuple(float(v) for v in centre)
        self.viewer.scene.camera.zoom = (
            zoom * 0.7 * min(labels.data.shape[-2:]) / max(y1 - y0, x1 - x0)
        )
        self.tile_info.value = (
            f"Plane {plane}, rows {y0}-{y1}, columns {x0}-{x1}\nscore {tile.score:.2f} of "
            f"{self.queue_config.top_score:.2f} (disagreement "
            f"{tile.parts.get('disagreement', 0):.2f}, odd-sized objects "
            f"{tile.parts.get('size_outliers', 0):.2f})"
        )
        self.controls.status.value = "Correct the tile if needed, then accept it."

    # -- accept and burst -------------------------------------------------------------------
    def accept(self, edited: bool = False, inline: bool = False):
        """Mark the proposed tile reviewed, then start a fine-tuning burst; returns the worker."""
        if self.controls.running:
            return None
        session, labels = self.owner.session, self.owner.layer
        if self.tile is None or session is None or labels is None:
            report_error(InputError("press 'Next tile to review' first"), "Accept tile")
            return None
        try:
            loop = self.review_loop()
        except InputError as exc:
            report_error(exc, "Accept tile")
            return None
        plane, tile = self.tile
        loop.accept(plane, tile.box, edited=edited)
        session.mark_box_reviewed(plane, tile.box)
        labels.metadata[REVIEWED_BOXES_KEY] = session.reviewed_boxes
        self.owner._schedule_save()
        STATE_EVENTS.changed.emit()  # the Train widget counts the reviewed tiles
        self.tile = None
        n = sum(len(v) for v in session.reviewed_boxes.values())
        self.tile_info.value = f"{n} reviewed tile(s); fine-tuning…"
        image = self._layer(self.image.value)
        save = next_free_dir(project_dir(image.metadata.get("path"), image.name), "model")
        self._busy(True)
        self.controls.worker = run_job(
            loop.burst_iter(plane, stop=self.controls.stop_event.is_set, save_dir=save),
            on_yield=self._on_record,
            on_return=lambda result: self.on_burst_done(result, image.name),
            on_finish=lambda: self._busy(False),
            inline=inline,
            limit_threads=self.limit_threads,
            what="Fine-tuning",
        )
        return self.controls.worker

    def _on_record(self, record) -> None:
        now = time.perf_counter()
        if now - self._last_ui > 0.2 or record.stage != "train":
            self._last_ui = now
            self.controls.show_progress(record)

    def on_burst_done(self, result: BurstResult, image: str) -> None:
        """Show the new prediction of the burst's plane and where the new model went."""
        self.last_burst = result
        name = f"{image} prediction"
        path = str(result.model.path or "")
        layer = self._layer(name)
        like = self._layer(image)
        shape = tuple(like.data.shape) if like is not None else result.labels.shape
        if (
            layer is None
            or layer_kind(layer) != "labels"
            or layer.metadata.get(EDITED_KEY)
            or tuple(layer.data.shape) != shape
        ):
            layer = put_labels(self.viewer, name, np.zeros(shape, np.int32), like=like)
        lead = np.unravel_index(result.plane, shape[:-2]) if len(shape) > 2 else ()
        layer.data[tuple(int(i) for i in lead)] = result.labels
        layer.metadata["model"] = path
        layer.refresh()
        if path and self._model.offer(path):
            self._loop_source = path
        rec = result.record
        where = f", saved to {Path(path).name}" if path else ""  # the Model box shows the path
        self.controls.status.value = (
            f"Fine-tuned {rec.get('steps', '?')} steps ({rec.get('reason', '?')}){where}"
        )
        self.controls.status.tooltip = f"Model saved to {path}" if path else ""
        self.tile_info.value = "Press 'Next tile to review' for the next one."
        STATE_EVENTS.changed.emit()  # e.g. Segment folder offers the model just saved
