"""The Correct widget's review round: next tile, accept with edits, burst, refreshed prediction."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_helpers import click
from napari_selfsup_seg._config import ModelConfig, TrainConfig
from napari_selfsup_seg.data._synthetic import make_sample
from napari_selfsup_seg.workflows._boxes import box_overlap
from napari_selfsup_seg.workflows._fine_tune import FineTuneConfig
from napari_selfsup_seg.workflows._queue import QueueConfig

pytestmark = pytest.mark.gui

PLUGIN = "napari-selfsup-seg"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny U-Net trained a few steps on a 96 px field and saved, and that field."""
    from napari_selfsup_seg.models._device import cpu_threads
    from napari_selfsup_seg.train._supervised import train

    sample = make_sample((96, 96), radius=(4.0, 6.0), seed=2)
    path = tmp_path_factory.mktemp("review") / "model"
    recipe = TrainConfig(batch_size=1, tile_size=32, learning_rate=1e-2, device="cpu", seed=3)
    with cpu_threads(1):
        train(
            [sample.fluorescence], [sample.labels], steps=4, model_config=ModelConfig.tiny(),
            train_config=recipe, model_dir=path,
        )  # fmt: skip
    return path, sample


def _add_layers(viewer, sample, tmp_path):
    teacher = np.stack([sample.labels, sample.labels]).astype(np.int32)
    teacher[0, :48, :48] = 0  # the pseudo-masks missed the objects of one corner
    viewer.add_image(
        np.stack([sample.fluorescence] * 2), name="cells",
        metadata={"path": str(tmp_path / "cells.tif")},
    )  # fmt: skip
    viewer.add_image((teacher > 0).astype(np.float32), name="cells threshold map", visible=False)
    return viewer.add_labels(
        teacher, name="cells pseudo (threshold)",
        metadata={"source": "cells", "provenance": {"method": "threshold"}},
    )  # fmt: skip


def test_review_round(viewer, qtbot, tmp_path, errors, trained, one_torch_thread):
    model_dir, sample = trained
    labels = _add_layers(viewer, sample, tmp_path)
    prediction = viewer.add_labels(
        np.zeros((2, 96, 96), np.int32), name="cells prediction", metadata={"model": str(model_dir)}
    )
    _dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "3. Correct")
    _dock, train = viewer.window.add_plugin_dock_widget(PLUGIN, "4. Train")
    train.masks.value = labels.name
    review = widget.review
    assert widget.labels_layer.value == labels.name
    assert review.image.value == "cells"  # the image of the prediction layer
    assert review.prob_map.value == "cells threshold map"
    assert str(review.model_dir.value) == str(model_dir)
    review.fine_tune_config = FineTuneConfig(max_steps=3, min_steps=0, patience=2, smoothing=1)
    review.queue_config = QueueConfig(tile_size=32)

    viewer.dims.set_current_step(0, 0)
    viewer.reset_view()
    zoom = viewer.scene.camera.zoom
    click(qtbot, review.next_button)
    qtbot.waitUntil(lambda: review.tile is not None and not review.controls.running, timeout=60000)
    plane, tile = review.tile
    y0, x0, y1, x1 = tile.box
    assert plane == 0 and "score" in review.tile_info.value
    outline = viewer.layers["review tile"]
    assert outline.shape_type == ["rectangle"]
    np.testing.assert_array_equal(outline.data[0][:, 0], 0)  # on plane 0
    corners = outline.data[0][:, 1:]
    assert corners.min(0).tolist() == [y0, x0] and corners.max(0).tolist() == [y1, x1]
    assert outline.face_color[0][3] == 0  # edge only
    np.testing.assert_allclose(viewer.scene.camera.center[-2:], ((y0 + y1) / 2, (x0 + x1) / 2))
    assert viewer.scene.camera.zoom > zoom

    # The user fixes the tile (paints the missing objects back), then accepts it with edits.
    truth = sample.labels[y0:y1, x0:x1]
    ys, xs = np.nonzero(truth)
    labels.data_setitem((np.zeros_like(ys), ys + y0, xs + x0), 999)
    click(qtbot, review.edited_button)
    assert labels.metadata["reviewed_boxes"] == {0: [tile.box]}
    assert "1 reviewed tile(s)" in train.masks_info.value
    qtbot.waitUntil(lambda: review.last_burst is not None, timeout=120000)
    qtbot.waitUntil(lambda: not review.controls.running, timeout=10000)
    burst = review.last_burst
    assert 1 <= burst.record["steps"] <= 3 and "Fine-tuned" in review.controls.status.value
    assert review._loop.history == [(0, tile.box, True)]
    assert (review._loop.labels[0][y0:y1, x0:x1][truth > 0] == 999).all()  # the edits trained
    np.testing.assert_array_equal(prediction.data[0], burst.labels)  # refreshed in place
    assert not prediction.data[1].any()
    new_model = burst.model.path
    assert new_model is not None and new_model != model_dir and (new_model / "config.json").exists()
    assert prediction.metadata["model"] == str(new_model)
    assert str(review.model_dir.value) == str(new_model)

    saved = tmp_path / "cells.selfsup" / "cells_pseudo_threshold.json"
    qtbot.waitUntil(
        lambda: saved.exists() and "reviewed_boxes" in json.loads(saved.read_text()), timeout=5000
    )
    assert json.loads(saved.read_text())["reviewed_boxes"] == {"0": [list(tile.box)]}

    # The next tile comes from the fine-tuned model and never covers the reviewed one.
    click(qtbot, review.next_button)
    qtbot.waitUntil(lambda: review.tile is not None and not review.controls.running, timeout=60000)
    assert review._loop.model is burst.model
    assert box_overlap(review.tile[1].box, tile.box) <= 0.1
    assert errors == []


def test_review_without_a_model_says_what_to_do(viewer, qtbot, tmp_path, errors, trained):
    _, sample = trained
    _add_layers(viewer, sample, tmp_path)
    _dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "3. Correct")
    click(qtbot, widget.review.next_button)
    assert errors == ["Next tile: train a model first (Train widget) or choose a model folder"]
    click(qtbot, widget.review.accept_button)
    assert errors[-1] == "Accept tile: press 'Next tile to review' first"
    assert "review tile" not in viewer.layers
