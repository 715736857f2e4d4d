"""Correct widget: delete on click, ignore regions, accepted frames, autosave."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_selfsup_seg._config import IGNORE_LABEL
from napari_selfsup_seg._napari.widgets.correct import CorrectWidget
from napari_selfsup_seg.io._image import read_image

pytestmark = pytest.mark.gui


def _labels_stack():
    lab = np.zeros((2, 64, 64), np.int32)
    lab[0, 5:15, 5:15] = 1
    lab[0, 30:40, 30:40] = 2
    lab[1, 5:15, 5:15] = 1
    lab[1, 50:60, 0:10] = IGNORE_LABEL
    return lab


def test_delete_ignore_accept_and_autosave(viewer, qtbot, tmp_path, errors):
    image = viewer.add_image(
        np.zeros((2, 64, 64), np.float32),
        name="cells",
        metadata={"path": str(tmp_path / "cells.tif")},
    )
    layer = viewer.add_labels(_labels_stack(), name="cells pseudo")
    widget = CorrectWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.labels_layer.value = "cells pseudo"
    assert str(widget.project_dir.value) == str(tmp_path / "cells.selfsup")
    assert image is not None

    viewer.dims.set_current_step(0, 0)
    assert widget.delete_object_at((0, 35, 35)) == 2
    assert not (layer.data[0] == 2).any() and (layer.data[0] == 1).sum() == 100
    assert widget.delete_object_at((0, 60, 60)) == 0  # background: nothing happens
    assert layer.metadata["edited"] is True
    assert widget.reviewed() == [0]

    viewer.dims.set_current_step(0, 1)
    assert widget.clear_ignore_in_frame() == 100
    assert not (layer.data == IGNORE_LABEL).any()
    assert (layer.data[1] == 1).sum() == 100  # objects untouched
    widget.accept_frame()
    assert widget.reviewed() == [0, 1]
    assert widget.review_count.value == "Reviewed frames: 2 / 2"

    widget.paint_ignore()
    assert layer.selected_label == IGNORE_LABEL and layer.mode == "paint"

    saved = tmp_path / "cells.selfsup" / "cells_pseudo.tif"
    qtbot.waitUntil(saved.exists, timeout=5000)
    np.testing.assert_array_equal(read_image(saved).data, layer.data)
    state = json.loads(saved.with_suffix(".json").read_text())
    assert state["reviewed"] == [0, 1]
    assert errors == []


def test_click_callback_deletes_object(viewer):
    layer = viewer.add_labels(_labels_stack()[0], name="m")
    widget = CorrectWidget(viewer)
    widget.labels_layer.value = "m"
    assert widget._on_click in layer.mouse_drag_callbacks

    class Event:
        type = "mouse_press"
        position = (35.0, 35.0)

    layer.mode = "pan_zoom"
    gen = widget._on_click(layer, Event)
    next(gen)
    Event.type = "mouse_release"
    with pytest.raises(StopIteration):
        next(gen)
    assert not (layer.data == 2).any()


def test_cleared_project_folder_writes_nothing(viewer, tmp_path):
    viewer.add_labels(_labels_stack(), name="x")
    widget = CorrectWidget(viewer)
    widget.labels_layer.value = "x"
    widget.project_dir.line_edit.value = ""  # the user empties the folder box
    assert widget.save_now() is None
    assert "project folder" in widget.status.value


def test_defaults_never_truth_and_autosave_without_a_file(viewer, qtbot, tmp_path, errors):
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-selfsup-seg", "3. Correct")
    viewer.add_labels(_labels_stack(), name="true labels")
    assert widget.labels_layer.value is None  # ground truth is never offered by default
    assert "No Labels layer" in widget.review_count.value
    pseudo = viewer.add_labels(
        _labels_stack(),
        name="fluo pseudo (threshold)",
        metadata={"provenance": {"method": "threshold"}, "source": "fluo"},
    )
    viewer.add_labels(_labels_stack(), name="nuclei GT")
    assert widget.labels_layer.value == "fluo pseudo (threshold)"
    # Data without a file: corrections still autosave, to the per-user workspace.
    folder = tmp_path / "workspace" / "fluo"
    assert str(widget.project_dir.value) == str(folder)
    viewer.dims.set_current_step(0, 0)
    assert widget.delete_object_at((0, 35, 35)) == 2
    saved = folder / "fluo_pseudo_threshold.tif"
    qtbot.waitUntil(saved.exists, timeout=5000)
    np.testing.assert_array_equal(read_image(saved).data, pseudo.data)
    assert errors == []


def test_click_on_another_labels_layer_deletes_nothing(viewer):
    other = viewer.add_labels(_labels_stack()[0], name="other")
    viewer.add_labels(_labels_stack()[0], name="m")
    widget = CorrectWidget(viewer)
    widget.labels_layer.value = "other"
    widget.labels_layer.value = "m"  # both layers are hooked now

    class Event:
        type = "mouse_press"
        position = (35.0, 35.0)

    other.mode = "pan_zoom"
    with pytest.raises(StopIteration):  # not the layer being corrected: ends at once
        next(widget._on_click(other, Event))
    assert (other.data == 2).any() and (viewer.layers["m"].data == 2).any()
