"""Correct dock widget: fix pseudo-masks on top of napari's painting tools, with autosave.

Besides napari's own brush, fill and eraser, it adds: delete an object with one click, paint a
region "not reviewed" (the ignore value, which training skips), clear the ignore value in a
frame, accept a frame as it is, and a running count of reviewed frames. Corrections are saved a
moment after each change (debounced on a QTimer, atomic writes) to a project folder next to the
data, ``<data dir>/<stem>.selfsup/``, so a crash loses nothing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import napari.viewer
import numpy as np
from magicgui.widgets import CheckBox, ComboBox, FileEdit, Label, PushButton
from qtpy.QtCore import QTimer

from ...io._tiff_write import write_labels
from ...io._workspace import project_dir, safe_name
from ._choices import FollowingChoice, default_masks
from ._dock import DockContainer
from ._layers import SOURCE_KEY, current_plane, layer_kind, mark_edited, plane_axes, watch_edits
from ._workers import report_error

IGNORE_VALUE = 65535
REVIEWED_KEY = "reviewed"
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
        self._default_dir: Path | None = None
        self.project_dir = FileEdit(label="Project folder", mode="d", value="")
        self.project_dir.tooltip = "Corrections are saved here (default: <data dir>/<stem>.selfsup)"
        self.delete_on_click = CheckBox(text="Click deletes an object (pan/zoom mode)", value=True)
        self.ignore_button = PushButton(text="Paint 'not reviewed' region")
        self.clear_ignore_button = PushButton(text="Mark frame's ignored pixels reviewed")
        self.accept_button = PushButton(text="Accept frame as is")
        self.count = Label(value="")
        self.status = Label(value="")
        super().__init__(
            [
                self.labels_layer,
                self.project_dir,
                self.delete_on_click,
                self.ignore_button,
                self.clear_ignore_button,
                self.accept_button,
                self.count,
                self.status,
            ]
        )
        self._timer = QTimer()
        self._timer.setSingleShot(True)
        self._timer.setInterval(AUTOSAVE_DELAY_MS)
        self._timer.timeout.connect(self.save_now)
        self._hooked: set[str] = set()  # unique_id of layers already hooked
        self.labels_layer.changed.connect(self._on_layer_changed)
        self.ignore_button.changed.connect(self.paint_ignore)
        self.clear_ignore_button.changed.connect(self.clear_ignore_in_frame)
        self.accept_button.changed.connect(self.accept_frame)
        viewer.layers.events.inserted.connect(self._refresh)
        viewer.layers.events.removed.connect(self._refresh)
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

    def _on_layer_changed(self, _value=None) -> None:
        layer = self.layer
        if layer is None:
            self.count.value = "No Labels layer to correct (make pseudo-masks first)."
            return
        if str(layer.unique_id) not in self._hooked:
            self._hooked.add(str(layer.unique_id))
            watch_edits(layer)
            layer.events.paint.connect(self._schedule_save)
            layer.events.data.connect(self._schedule_save)
            layer.mouse_drag_callbacks.append(self._on_click)
        current = str(self.project_dir.value)
        if current in ("", ".") or Path(current) == self._default_dir:
            # Not chosen by the user: follow the layer being corrected.
            self._default_dir = default_project_dir(self.viewer, layer)
            self.project_dir.value = self._default_dir
        self._update_count()

    def n_planes(self) -> int:
        """Number of 2D frames of the current Labels layer."""
        layer = self.layer
        return int(np.prod(layer.data.shape[:-2])) if layer is not None else 0

    def reviewed(self) -> list[int]:
        """Frames accepted or corrected so far (flat plane indices)."""
        layer = self.layer
        return sorted(layer.metadata.get(REVIEWED_KEY, [])) if layer is not None else []

    def _update_count(self) -> None:
        self.count.value = f"Reviewed frames: {len(self.reviewed())} / {self.n_planes()}"

    def _plane_view(self, layer) -> tuple[tuple[int, ...], np.ndarray]:
        """Index prefix of the displayed plane and that plane (a view into layer.data)."""
        flat = current_plane(self.viewer, layer)
        prefix = np.unravel_index(flat, layer.data.shape[:-2]) if layer.data.ndim > 2 else ()
        prefix = tuple(int(i) for i in prefix)
        return prefix, np.asarray(layer.data[prefix])

    def _mark_reviewed(self, layer) -> None:
        flat = current_plane(self.viewer, layer)
        done = set(layer.metadata.get(REVIEWED_KEY, []))
        done.add(flat)
        layer.metadata[REVIEWED_KEY] = sorted(done)
        self._update_count()

    def _set_pixels(self, layer, prefix, where: np.ndarray, value: int) -> None:
        """Set pixels of one plane with napari's undoable ``data_setitem``."""
        ys, xs = np.nonzero(where)
        if ys.size == 0:
            return
        index = (*tuple(np.full(ys.shape, p) for p in prefix), ys, xs)
        layer.data_setitem(index, value)
        mark_edited(layer)
        self._schedule_save()

    # -- actions -----------------------------------------------------------------------------
    def delete_object_at(self, position) -> int:
        """Delete the object under ``position`` (data coordinates) in the displayed frame.

        Returns
        -------
        int
            The deleted label value (0 when there was no object there).
        """
        layer = self.layer
        if layer is None:
            return 0
        prefix, plane = self._plane_view(layer)
        y, x = (round(float(v)) for v in position[-2:])
        if not (0 <= y < plane.shape[0] and 0 <= x < plane.shape[1]):
            return 0
        value = int(plane[y, x])
        if value in (0, IGNORE_VALUE):
            return 0
        self._set_pixels(layer, prefix, plane == value, 0)
        self._mark_reviewed(layer)
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
        layer.selected_label = IGNORE_VALUE
        layer.mode = "paint"
        self.viewer.layers.selection.active = layer

    def clear_ignore_in_frame(self) -> int:
        """Turn the displayed frame's 'not reviewed' pixels into reviewed background.

        Returns
        -------
        int
            Number of pixels changed.
        """
        layer = self.layer
        if layer is None:
            return 0
        prefix, plane = self._plane_view(layer)
        where = plane == IGNORE_VALUE
        self._set_pixels(layer, prefix, where, 0)
        self._mark_reviewed(layer)
        return int(where.sum())

    def accept_frame(self) -> None:
        """Mark the displayed frame reviewed as it is."""
        layer = self.layer
        if layer is None:
            report_error(ValueError("choose a Labels layer first"), "Correct")
            return
        self._mark_reviewed(layer)
        self._schedule_save()

    # -- autosave ----------------------------------------------------------------------------
    def _schedule_save(self, _event=None) -> None:
        self._timer.start()

    def save_path(self) -> Path | None:
        """Where the current layer is autosaved, or ``None`` without a project folder."""
        folder = self.project_dir.line_edit.value.strip()  # the text as typed: "" when cleared
        layer = self.layer
        if layer is None or folder in ("", "."):
            return None
        return Path(folder) / f"{safe_name(layer.name)}.tif"

    def save_now(self) -> Path | None:
        """Write the labels and the list of reviewed frames to the project folder now."""
        self._timer.stop()
        layer, path = self.layer, self.save_path()
        if layer is None or path is None:
            self.status.value = "Choose a project folder to autosave corrections."
            return None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_labels(path, np.asarray(layer.data), axes=plane_axes(layer))
            state = path.with_suffix(".json")
            tmp = state.with_name(f".{state.name}.part")
            tmp.write_text(json.dumps({"layer": layer.name, "reviewed": self.reviewed()}, indent=1))
            os.replace(tmp, state)
        except Exception as exc:
            report_error(exc, "Autosave")
            return None
        self.status.value = f"Saved {path.name}"
        return path
