"""The tutorial's loop as a user runs it: every widget from the Plugins menu, every step a click.

Sample data → threshold pseudo-masks (the fluorescent channel picked by default) → delete one
object → train a few steps → prediction layer and a saved model → segment a folder of the
original 2-channel files → results table.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_helpers import click, open_from_menu
from napari_selfsup_seg.data._synthetic import make_sample
from napari_selfsup_seg.io._image import read_image
from napari_selfsup_seg.io._tiff_write import write_image

pytestmark = pytest.mark.gui


def _wait_idle(qtbot, widget, timeout=120_000) -> None:
    qtbot.waitUntil(lambda: widget.controls.running, timeout=20_000)
    qtbot.waitUntil(lambda: not widget.controls.running, timeout=timeout)


def test_tutorial_loop_through_the_widgets(make_napari_viewer, qtbot, tmp_path, errors):
    viewer = make_napari_viewer(show=True)
    viewer.open_sample("napari-selfsup-seg", "nuclei")
    pseudo_w = open_from_menu(viewer, "2. Pseudo-masks")
    correct_w = open_from_menu(viewer, "3. Correct")
    train_w = open_from_menu(viewer, "4. Train")
    folder_w = open_from_menu(viewer, "5. Segment folder")

    # 1. Pseudo-masks from the fluorescent channel, chosen by default.
    assert pseudo_w.method.value == "threshold" and pseudo_w.source.value == "fluorescence"
    click(qtbot, pseudo_w.controls.run_button)
    _wait_idle(qtbot, pseudo_w)
    pseudo = viewer.layers["fluorescence pseudo (threshold)"]
    n_true = len(np.unique(viewer.layers["true labels"].data)) - 1
    n_pseudo = len(np.unique(pseudo.data)) - 1
    assert 0.7 * n_true <= n_pseudo <= 1.3 * n_true

    # 2. Correct: the new pseudo-masks are picked; delete one object; it is autosaved.
    assert correct_w.labels_layer.value == pseudo.name
    ys, xs = np.nonzero(pseudo.data == pseudo.data.max())
    assert correct_w.delete_object_at((ys.mean(), xs.mean())) > 0
    assert len(np.unique(pseudo.data)) - 1 == n_pseudo - 1
    saved = tmp_path / "workspace" / "fluorescence" / "fluorescence_pseudo_threshold.tif"
    qtbot.waitUntil(saved.exists, timeout=5000)
    np.testing.assert_array_equal(read_image(saved).data, pseudo.data)

    # 3. Train on the brightfield layer with the corrected masks; the model is saved.
    assert train_w.image.value == "brightfield" and train_w.masks.value == pseudo.name
    train_w.steps.value, train_w.tile_size.value, train_w.batch_size.value = 6, 64, 2
    train_w.device.value = "cpu"
    click(qtbot, train_w.controls.run_button)
    _wait_idle(qtbot, train_w)
    assert errors == []
    prediction = viewer.layers["brightfield prediction"]
    assert prediction.data.shape == pseudo.data.shape
    model_dir = tmp_path / "workspace" / "brightfield" / "model"
    config = json.loads((model_dir / "config.json").read_text())
    assert config["input_channels"] == [0]
    assert config["input_channel_names"] == ["brightfield"]

    # 4. Segment a folder of the original 2-channel files with that model.
    plate = tmp_path / "plate"
    plate.mkdir()
    for k in range(2):
        s = make_sample((96, 96), seed=20 + k)
        write_image(plate / f"field{k}.tif", s.stack(), axes="CYX")
    assert str(folder_w.model_dir.value) == str(model_dir)  # the model just trained
    assert "channel 0 (brightfield)" in folder_w.channel_info.value
    folder_w.in_dir.value = plate
    assert str(folder_w.out_dir.value) == str(tmp_path / "plate_segmented")
    click(qtbot, folder_w.controls.run_button)
    _wait_idle(qtbot, folder_w)
    assert errors == []
    table = folder_w.table.to_dict("list")
    assert sorted(table["file"]) == ["field0.tif", "field1.tif"]  # in the order they finish
    assert table["status"] == ["done", "done"] and min(table["objects"]) > 0
    for k in range(2):
        out = read_image(tmp_path / "plate_segmented" / f"field{k}_labels.tif").data
        assert out.shape == (96, 96)
    assert (tmp_path / "plate_segmented" / "summary.csv").exists()
