"""Correct dock widget: fix pseudo-masks on top of napari's painting tools, with autosave.

Besides napari's own brush, fill and eraser, it adds: delete an object with one click, paint a
region "not reviewed" (the ignore value, which training skips), clear the ignore value in a
frame, accept a frame as it is, and a running count of reviewed frames. Corrections are saved a
moment after each change (debounced on a QTimer, atomic writes) to a project folder next to the
data, ``<data dir>/<stem>.selfsup/``, so a crash loses nothing.

The widget holds one core
:class:`~napari_selfsup_seg.workflows._correction.CorrectionSession` per Labels layer, which
decides what each action changes, which frames are reviewed and how the folder is written; the
widget applies its edits with napari's undoable painting and mirrors the reviewed frames into
``layer.metadata["reviewed"]``, where the Train widget reads them. Below them, the review round
(:mod:`._review_tiles`): "Next tile to review" proposes the tile a correction would teach most,
and accepting it starts a short fine-tuning burst of the current model.
"""

from __future__ import annotations

from pathlib import Path

import napari.viewer
import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Label, PushButton
from qtpy.QtCore import QTimer

from ..._config import IGNORE_LABEL
from ...io._workspace import project_dir
from ...workflows._correction import (
    REVIEWED_BOXES_KEY,
    REVIEWED_KEY,
    CorrectionSession,
    PixelEdit,
)
from ._choices import FollowingChoice, FollowingPath, default_masks, on_state_changed
from ._common import folder_edit
from ._dock import DockContainer
from ._layers import SOURCE_KEY, current_plane, layer_kind, mark_edited, plane_axes, watch_edits
from ._review_tiles import ReviewTiles
from ._workers import report_error

AUTOSAVE_DELAY_MS = 1000


def default_project_dir(viewer, labels_layer) -> Path:
    """Where corrections of ``labels_layer`` are autosaved when the user has not chosen a folder.

    ``<data dir>/<stem>.selfsup`` for the first layer that came from a file; for data without a
    file (sample data, layers made in napari), a folder named after the image in the per-user
    workspace (see :mod:`napari_selfsup_seg.io._workspace`).
    """
    for layer in [labels_layer, *viewer.layers]:
        path = layer.metadata.get("path") if layer is not None else None
        if path:
            return project_dir(path, layer.name)
    name = labels_layer.metadata.get(SOURCE_KEY) or labels_layer.name
    return project_dir(None, name)


class CorrectWidget(DockContainer):
    """Review and correct a Labels layer; corrections are autosaved.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        Injected by napari when the widget is opened from the Plugins menu.
    """

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self.viewer = viewer
        self.labels_layer = ComboBox(label="Labels", choices=self._labels_names, nullable=True)
        self._labels_choice = FollowingChoice(
            self.labels_layer, lambda: default_masks(self.viewer), nullable=True
        )
        self.project_dir = folder_edit("Project folder")
        self.project_dir.tooltip = "Corrections are saved here (default: <data dir>/<stem>.selfsup)"
        self._folder = FollowingPath(self.project_dir)
        self.delete_on_click = CheckBox(text="Click deletes an object (pan/zoom mode)", value=True)
        self.ignore_button = PushButton(text="Paint 'not reviewed' region")
        self.clear_ignore_button = PushButton(text="Mark frame's ignored pixels reviewed")
        self.accept_button = PushButton(text="Accept frame as is")
        self.review_count = Label(value="")
        self.status = Label(value="")
        self.review = ReviewTiles(self)
        super().__init__(
            [
                self.labels_layer,
                self.project_dir,
                self.delete_on_click,
                self.ignore_button,
                self.clear_ignore_button,
                self.accept_button,
                self.review_count,
                self.status,
                Label(value="<b>Review round</b> (needs a trained model)"),
                self.review,
            ]
        )
        self._timer = QTimer()
        self._timer.setSingleShot(True)
        self._timer.setInterval(AUTOSAVE_DELAY_MS)
        self._timer.timeout.connect(self.save_now)
        #: One session per Labels layer, by the layer's ``unique_id``.
        self._sessions: dict[str, CorrectionSession] = {}
        self.labels_layer.changed.connect(self._on_layer_changed)
        self.ignore_button.changed.connect(self.paint_ignore)
        self.clear_ignore_button.changed.connect(self.clear_ignore_in_frame)
        self.accept_button.changed.connect(self.accept_frame)
        viewer.layers.events.inserted.connect(self._refresh)
        viewer.layers.events.removed.connect(self._refresh)
        on_state_changed(self, self._refresh)
        self._refresh()

    # -- layer bookkeeping -------------------------------------------------------------------
    def _labels_names(self, _widget=None) -> list[str]:
        return [ly.name for ly in self.viewer.layers if layer_kind(ly) == "labels"]

    def _refresh(self, _event=None) -> None:
        self._labels_choice.refresh()
        self._on_layer_changed()

    @property
    def layer(self):
        """The Labels layer being corrected, or ``None``."""
        name = self.labels_layer.value
        return self.viewer.layers[name] if name and name in self.viewer.layers else None

    @property
    def session(self) -> CorrectionSession | None:
        """The correction session of the current layer, or ``None``."""
        layer = self.layer
        return self._session_for(layer) if layer is not None else None

    def _session_for(self, layer) -> CorrectionSession:
        """The layer's session (made, and the layer hooked, the first time); data kept current."""
        key = str(layer.unique_id)
        if key not in self._sessions:
            reviewed = layer.metadata.get(REVIEWED_KEY, [])
            boxes = layer.metadata.get(REVIEWED_BOXES_KEY)
            self._sessions[key] = CorrectionSession(layer.data, layer.name, reviewed, boxes)
            watch_edits(layer)
            layer.events.paint.connect(self._schedule_save)
            layer.events.data.connect(self._schedule_save)
            layer.mouse_drag_callbacks.append(self._on_click)
        session = self._sessions[key]
        session.labels, session.name = layer.data, layer.name
        return session

    def _on_layer_changed(self, _value=None) -> None:
        layer = self.layer
        if layer is None:
            self.review_count.value = "No Labels layer to correct (make pseudo-masks first)."
            return
        self._session_for(layer)
        self._folder.offer(default_project_dir(self.viewer, layer))
        self._update_count()
        self.review.refresh()

    def n_planes(self) -> int:
        """Number of 2D frames of the current Labels layer."""
        session = self.session
        return session.n_frames if session is not None else 0

    def reviewed(self) -> list[int]:
        """Frames accepted or corrected so far (flat plane indices)."""
        session = self.session
        return session.reviewed if session is not None else []

    def _update_count(self) -> None:
        self.review_count.value = f"Reviewed frames: {len(self.reviewed())} / {self.n_planes()}"

    def _frame(self) -> int:
        return current_plane(self.viewer, self.layer)

    def _show(self, edit: PixelEdit | None) -> None:
        """Apply ``edit`` with napari's undoable painting; show the reviewed frames."""
        layer, session = self.layer, self.session
        if layer is None or session is None:
            return
        if edit is not None and edit.n_pixels:
            layer.data_setitem(edit.index, edit.value)
            mark_edited(layer)
        layer.metadata[REVIEWED_KEY] = session.reviewed
        self._update_count()
        self._schedule_save()

    # -- actions -----------------------------------------------------------------------------
    def delete_object_at(self, position) -> int:
        """Delete the object under ``position`` (data coordinates) in the displayed frame.

        Returns
        -------
        int
            The deleted label value (0 when there was no object there).
        """
        session = self.session
        if session is None:
            return 0
        frame, (y, x) = self._frame(), position[-2:]
        value = session.object_at(frame, y, x)
        if value:
            self._show(session.delete_object(frame, y, x))
        return value

    def _on_click(self, layer, event):
        current = self.layer
        if (
            not self.delete_on_click.value
            or layer.mode != "pan_zoom"
            or current is None
            or current.unique_id != layer.unique_id
        ):
            return
        start = tuple(event.position)
        yield
        moved = False
        while event.type == "mouse_move":
            moved = True
            yield
        if moved and np.hypot(*np.subtract(event.position[-2:], start[-2:])) > 1.0:
            return
        position = layer.world_to_data(event.position)
        self.delete_object_at(position)

    def paint_ignore(self) -> None:
        """Select the 'not reviewed' value and the brush, so the user paints regions to skip."""
        layer = self.layer
        if layer is None:
            report_error(ValueError("choose a Labels layer first"), "Correct")
            return
        layer.selected_label = IGNORE_LABEL
        layer.mode = "paint"
        self.viewer.layers.selection.active = layer

    def clear_ignore_in_frame(self) -> int:
        """Turn the displayed frame's 'not reviewed' pixels into reviewed background.

        Returns
        -------
        int
            Number of pixels changed.
        """
        session = self.session
        if session is None:
            return 0
        edit = session.clear_ignore(self._frame())
        self._show(edit)
        return edit.n_pixels

    def accept_frame(self) -> None:
        """Mark the displayed frame reviewed as it is."""
        session = self.session
        if session is None:
            report_error(ValueError("choose a Labels layer first"), "Correct")
            return
        session.mark_reviewed(self._frame())
        self._show(None)

    # -- autosave ----------------------------------------------------------------------------
    def _schedule_save(self, _event=None) -> None:
        self._timer.start()

    def save_path(self) -> Path | None:
        """Where the current layer is autosaved, or ``None`` without a project folder."""
        folder, session = self._folder.text(), self.session  # the text as typed: "" when cleared
        if session is None or folder in ("", "."):
            return None
        return session.save_path(folder)

    def save_now(self) -> Path | None:
        """Write the labels and the list of reviewed frames to the project folder now."""
        self._timer.stop()
        layer, session, path = self.layer, self.session, self.save_path()
        if layer is None or session is None or path is None:
            self.status.value = "Choose a project folder to autosave corrections."
            return None
        try:
            session.save(path.parent, axes=plane_axes(layer))
        except Exception as exc:
            report_error(exc, "Autosave")
            return None
        self.status.value = f"Saved {path.name}"
        return path
