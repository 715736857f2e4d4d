"""Train widget: live preview, predictions for every frame, Stop, inline run, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from napari_selfsup_seg._config import IGNORE_LABEL
from napari_selfsup_seg._napari.widgets.train import TrainWidget
from napari_selfsup_seg.data._synthetic import make_sample_stack
from napari_selfsup_seg.models._factory import read_model_config

pytestmark = pytest.mark.gui


def _setup(viewer, n=2, size=64):
    image, labels = make_sample_stack(n, (size, size), seed=5)
    viewer.add_image(image[:, 0], name="bf", metadata={"role": "brightfield"})
    masks = labels.astype(np.int32)
    masks[0, :16, :16] = IGNORE_LABEL  # a region left unreviewed
    layer = viewer.add_labels(masks, name="bf pseudo", metadata={"reviewed": [1]})
    return layer


def _tiny(widget, steps):
    widget.depth.value = 3
    widget.steps.value = steps
    widget.tile_size.value = 64
    widget.batch_size.value = 2
    widget.device.value = "cpu"
    widget.preview_every.value = 2


def test_train_in_worker_previews_saves_and_predicts_all_frames(viewer, qtbot, tmp_path, errors):
    _setup(viewer)
    widget = TrainWidget(viewer)
    viewer.window.add_dock_widget(widget)
    assert widget.image.value == "bf" and widget.masks.value == "bf pseudo"
    assert "CPU" in widget.device_info.value
    _tiny(widget, 4)
    widget.hold_out.value = True
    widget.save_dir.value = tmp_path / "model"
    previews = []
    worker = widget.start()
    worker.yielded.connect(lambda r: previews.append(getattr(r, "labels", None) is not None))
    with qtbot.waitSignal(worker.finished, timeout=120000):
        pass
    qtbot.waitUntil(lambda: not widget.controls.running, timeout=5000)
    assert errors == []
    assert any(previews)
    pred = viewer.layers["bf prediction"]
    assert pred.data.shape == (2, 64, 64) and pred.data.dtype == np.int32
    assert read_model_config(tmp_path / "model").provenance["held_out"] == [1]
    assert widget.model.path == tmp_path / "model"
    assert "AP@0.5" in widget.scores.value
    assert "turned" not in widget.controls.status.value  # "auto" kept all eight turns here
    assert widget.loss_plot.series["loss"][0].size >= 1


def test_stop_ends_training_and_saves_model(viewer, qtbot, tmp_path, errors):
    _setup(viewer)
    widget = TrainWidget(viewer)
    _tiny(widget, 10_000)
    widget.preview_every.value = 0
    widget.symmetry.value = "none"
    steps = []

    def on_record(record):
        if record.stage == "train":
            steps.append(record.done)
            if record.done == 2:
                widget.controls.stop()

    worker = widget.start()
    worker.yielded.connect(on_record)
    with qtbot.waitSignal(worker.finished, timeout=120000):
        pass
    qtbot.waitUntil(lambda: not widget.controls.running, timeout=5000)
    assert errors == []
    assert widget.model is not None
    assert max(steps) <= 4  # stopped within a step or two of the request, not after 10,000
    assert "bf prediction" in viewer.layers
    # No folder was chosen: the model is saved all the same, in the per-user workspace.
    saved = tmp_path / "workspace" / "bf" / "model"
    assert widget.model.path == saved and (saved / "weights.pt").exists()
    assert "…/bf/model" in widget.controls.status.value
    # The turns chosen in the widget reach the model, and the status says they were limited.
    assert widget.model.config.symmetries == ["identity"]
    assert widget.controls.status.value.endswith("; tiles not turned")
    assert str(saved) in widget.controls.status.tooltip
    assert str(widget.save_dir.value) == str(saved)


def test_inline_generator_and_edited_prediction_is_kept(viewer, errors):
    _setup(viewer, n=1)
    widget = TrainWidget(viewer)
    _tiny(widget, 2)
    assert widget.start(inline=True) is None
    assert errors == []
    pred = viewer.layers["bf prediction"]
    pred.paint((0, 5, 5), 77)  # the user edits the prediction
    widget.start(inline=True)
    assert (pred.data == 77).any()
    assert "bf prediction [2]" in viewer.layers


def test_bad_input_gives_notification(viewer, errors):
    viewer.add_image(np.zeros((64, 64), np.float32), name="img")
    viewer.add_labels(np.zeros((32, 32), np.int32), name="small")
    widget = TrainWidget(viewer)
    widget.image.value = "img"
    widget.masks.value = "small"
    assert widget.start() is None
    assert len(errors) == 1 and "does not match" in errors[0]
    viewer.add_labels(np.zeros((64, 64), np.int32), name="empty")
    widget.masks.value = "empty"
    _tiny(widget, 2)
    widget.start(inline=True)  # all-background masks: the core refuses them
    assert len(errors) == 2 and errors[1].startswith("Training:")
    assert "img prediction" not in viewer.layers


def test_masks_default_prefers_corrected_masks_and_never_truth(viewer, errors):
    from napari_selfsup_seg.data._synthetic import make_sample_stack

    _dock, widget = viewer.window.add_plugin_dock_widget("napari-selfsup-seg", "4. Train")
    image, labels = make_sample_stack(2, (64, 64), seed=5)
    viewer.add_image(image[:, 0], name="bf", metadata={"role": "brightfield"})
    viewer.add_labels(labels, name="true labels")
    assert widget.masks.value is None and "No masks" in widget.masks_info.value
    prov = {"provenance": {"method": "threshold"}}
    corrected = viewer.add_labels(labels, name="fluo pseudo (threshold)", metadata=prov)
    viewer.add_labels(labels[:1], name="other shape (threshold)", metadata=prov)
    assert widget.masks.value == "fluo pseudo (threshold)"  # same shape as the image
    corrected.metadata["reviewed"] = [0]
    viewer.add_labels(labels, name="fluo pseudo (scorecam)", metadata={"provenance": {}})
    assert widget.masks.value == "fluo pseudo (threshold)"  # corrected beats newer
    assert "1 reviewed" in widget.masks_info.value
    # A second run never saves over the first run's model.
    first = widget.save_dir.value
    (first / "weights.pt").parent.mkdir(parents=True)
    (first / "weights.pt").write_bytes(b"model")
    widget._show_default_save()
    assert widget.save_dir.value == first  # still shows where the last model went
    widget._show_default_save(advance=True)  # as Start does
    assert widget.save_dir.value == first.with_name("model-2")
    assert errors == []


def test_settings_follow_the_core_defaults(viewer, monkeypatch):
    from functools import partial

    from napari_selfsup_seg._config import ModelConfig, TrainConfig
    from napari_selfsup_seg._napari.widgets import train as train_module

    widget = TrainWidget(viewer)
    recipe, model = widget.configs()
    assert model.encoder_depth == ModelConfig().encoder_depth == widget.depth.value
    assert model.encoder == ModelConfig().encoder
    defaults = TrainConfig()
    for name in ("steps", "tile_size", "batch_size", "learning_rate", "symmetry", "device"):
        assert getattr(recipe, name) == getattr(defaults, name), name
    widget.symmetry.value = "none"  # the turns of the training tiles reach the recipe
    assert widget.configs()[0].symmetry == "none"
    # A new default in ModelConfig reaches the widget without touching it.
    monkeypatch.setattr(train_module, "ModelConfig", partial(ModelConfig, encoder_depth=4))
    assert TrainWidget(viewer).depth.value == 4
