"""Pseudo-masks widget, fluorescence-to-brightfield section: one button, a brightfield model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from napari_helpers import click
from napari_selfsup_seg.data._synthetic import make_sample_stack
from napari_selfsup_seg.models._factory import read_model_config

pytestmark = pytest.mark.gui

PLUGIN, WIDGET = "napari-selfsup-seg", "2. Pseudo-masks"


def _add_sample(viewer, n=2, size=96, roles=True):
    """A generated 2-channel stack split into a brightfield and a fluorescence layer."""
    image, truth = make_sample_stack(n, (size, size), seed=3)
    bf_meta = {"role": "brightfield", "channel": 0} if roles else {}
    fl_meta = {"role": "fluorescent", "channel": 1} if roles else {}
    viewer.add_image(image[:, 0], name="bf", metadata=bf_meta)
    viewer.add_image(image[:, 1], name="fluo", metadata=fl_meta)
    return truth


def test_one_button_trains_a_brightfield_model_from_the_stain(viewer, qtbot, errors):
    truth = _add_sample(viewer)
    _dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    recipe = widget.recipe
    assert widget.source.value == "fluo" and recipe.brightfield.value == "bf"  # from the roles
    assert not recipe.native.isHidden()  # shown with the threshold method
    recipe.steps.value = 2
    click(qtbot, recipe.controls.run_button)
    worker = recipe.controls.worker
    assert worker is not None and recipe.controls.stop_button.enabled
    with qtbot.waitSignal(worker.finished, timeout=180000):
        pass
    qtbot.waitUntil(lambda: not recipe.controls.running, timeout=5000)
    assert errors == []
    pseudo = viewer.layers["fluo pseudo (brightfield recipe)"]
    pred = viewer.layers["bf prediction"]
    assert pseudo.data.shape == pred.data.shape == truth.shape
    for k in range(len(truth)):
        n_true = len(np.unique(truth[k])) - 1
        assert 0.6 * n_true <= pseudo.data[k].max() <= 1.4 * n_true  # nuclei of the stain
        assert pred.data[k].max() > 0  # objects found on the brightfield
    assert pseudo.metadata["provenance"]["method"] == "fluorescence_to_brightfield"
    # The model is saved where Segment folder and Train find it, and reads the brightfield.
    model_dir = Path(pred.metadata["model"])
    assert recipe.model.path == model_dir
    config = read_model_config(model_dir)
    assert config.input_channels == [0]
    assert config.provenance["brightfield_layer"] == "bf"
    assert recipe.controls.status.value.startswith("Done after 2 steps, saved to")
    assert "found on brightfield" in recipe.summary.value
    assert recipe.live.loss_plot.series["loss"][0].size >= 1


def test_the_section_shows_with_the_threshold_method_only(viewer, errors):
    _add_sample(viewer, n=1, size=32)
    _dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    widget.method.value = "psm"
    assert widget.recipe.native.isHidden()
    widget.method.value = "threshold"
    assert not widget.recipe.native.isHidden()


def test_bad_input_gives_one_line_in_the_status(viewer, errors):
    _dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    recipe = widget.recipe
    status = recipe.controls.status
    viewer.add_image(np.random.default_rng(0).random((2, 32, 32)), name="fluo")
    assert recipe.brightfield.value is None  # the only image is the stain itself
    assert recipe.start() is None
    assert status.value.startswith("no brightfield layer")
    viewer.add_image(np.random.default_rng(1).random((2, 32, 40)), name="bf")
    assert recipe.brightfield.value == "bf"
    assert recipe.start() is None
    assert "differ in shape" in status.value and "\n" not in status.value
    recipe.brightfield.value = "fluo"
    assert recipe.start() is None
    assert "both Source and Brightfield" in status.value
    assert len(errors) == 3 and not recipe.controls.running
    assert not [ly for ly in viewer.layers if "prediction" in ly.name or "pseudo" in ly.name]


def test_stop_keeps_the_model_trained_so_far(viewer, qtbot, errors):
    _add_sample(viewer, n=1, size=64)
    _dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    recipe = widget.recipe
    recipe.steps.value = 10_000
    stages: list[str] = []
    worker = recipe.start()
    worker.yielded.connect(lambda r: stages.append(str(r.stage)))
    qtbot.waitUntil(lambda: "train" in stages, timeout=120000)
    click(qtbot, recipe.controls.stop_button)
    with qtbot.waitSignal(worker.finished, timeout=120000):
        pass
    qtbot.waitUntil(lambda: not recipe.controls.running, timeout=5000)
    assert errors == []
    assert recipe.model is not None and 0 < len(recipe.model.log) < 10_000
    assert read_model_config(recipe.model.path).provenance["stain_layer"] == "fluo"
    assert "bf prediction" in viewer.layers and "fluo pseudo (brightfield recipe)" in viewer.layers
