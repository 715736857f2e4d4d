"""Train widget on whole-cell pseudo-masks seeded by a nuclear layer: the model reads both.

A user opens a two-channel file (nuclei, cytoplasm), makes whole-cell pseudo-masks of the
cytoplasm seeded by the nuclei in the Pseudo-masks widget, then trains on them in the Train
widget: the seed layer is found in the masks' metadata and shown, the model reads both channels
of the file, records the nuclear one as its seed channel and grows one cell per nucleus in its
predictions (live layer and Segment folder on files of the same kind).
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from cells_data import make_cells, mean_best_iou
from napari_selfsup_seg._napari.widgets._train_seeds import NO_SEEDS, input_channels
from napari_selfsup_seg.inference import _seeded
from napari_selfsup_seg.models._factory import read_model_config

pytestmark = pytest.mark.gui

PLUGIN = "napari-selfsup-seg"


def _cells_file(tmp_path):
    """A (T, C, Y, X) file: channel 0 nuclei, channel 1 cytoplasm; and the true cells."""
    made = [make_cells(n_side=3, spacing=32, nucleus=6, seed=s) for s in (5, 6)]
    data = np.stack([np.stack([nuc, cyto]) for cyto, nuc, _ in made])
    path = tmp_path / "cells.tif"
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "TCYX"})
    return path, np.stack([truth for _, _, truth in made])


def _seeded_masks(viewer, path):
    viewer.open(str(path), plugin=PLUGIN)
    nuclei, cyto = (ly.name for ly in viewer.layers)
    _dock, pseudo = viewer.window.add_plugin_dock_widget(PLUGIN, "2. Pseudo-masks")
    pseudo.method.value = "threshold"
    pseudo.source.value = cyto
    pseudo.cells.target.value = "cells"
    pseudo.cells.seeds.value = nuclei
    pseudo.run(inline=True)
    return nuclei, cyto


def test_train_on_seeded_cells_reads_the_seed_layer(viewer, qtbot, tmp_path, errors, monkeypatch):
    grown = []
    grow = _seeded.seeded_cells
    monkeypatch.setattr(_seeded, "seeded_cells", lambda *a, **k: grown.append(1) or grow(*a, **k))
    path, truth = _cells_file(tmp_path)
    nuclei, cyto = _seeded_masks(viewer, path)
    masks = viewer.layers[f"{cyto} pseudo (threshold)"]
    recorded = masks.metadata["provenance"]
    assert recorded["seed_layer"] == nuclei and recorded["seed_diameter"] > 5
    _dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "4. Train")
    widget.image.value = cyto
    assert widget.masks.value == masks.name
    assert widget.seeding.seeds.value == nuclei
    assert nuclei in widget.seeding.info.value and not widget.seeding.info.native.isHidden()
    widget.depth.value, widget.steps.value, widget.tile_size.value = 3, 30, 64
    widget.batch_size.value, widget.device.value, widget.preview_every.value = 2, "cpu", 10
    widget.save_dir.value = tmp_path / "model"
    with qtbot.waitSignal(widget.start().finished, timeout=300000):
        pass
    qtbot.waitUntil(lambda: not widget.controls.running, timeout=5000)
    assert errors == []
    cfg = read_model_config(tmp_path / "model")
    assert cfg.model.in_channels == 2 and cfg.seed_channel == 1
    assert cfg.input_channels == [1, 0]  # cytoplasm, then nuclei: the file's channels
    assert cfg.seed_diameter == pytest.approx(recorded["seed_diameter"])
    assert cfg.provenance["seed_layer"] == nuclei
    # The previews and the final prediction grew the cells from the nuclei: one per nucleus.
    assert len(grown) >= 2 + 3  # both frames at the end, previews at steps 10, 20, 30
    pred = np.asarray(viewer.layers[f"{cyto} prediction"].data)
    assert pred.shape == truth.shape
    for frame in range(len(pred)):
        assert len(np.unique(pred[frame])) == len(np.unique(truth[frame]))
        assert mean_best_iou(pred[frame], truth[frame]) > 0.7

    # Segment folder on a file of the same kind finds both channels by the model's record.
    folder = tmp_path / "more"
    folder.mkdir()
    tifffile.imwrite(folder / "b.tif", tifffile.imread(path)[1], imagej=True,
                     metadata={"axes": "CYX"})  # fmt: skip
    _dock, segment = viewer.window.add_plugin_dock_widget(PLUGIN, "5. Segment folder")
    segment.model_dir.value = tmp_path / "model"
    assert "nuclei of channel 0" in segment.channel_info.value
    segment.in_dir.value, segment.out_dir.value = folder, tmp_path / "out"
    segment.run(inline=True)
    assert errors == []
    (out,) = (tmp_path / "out").glob("b*.tif")
    assert len(np.unique(tifffile.imread(out))) == len(np.unique(truth[1]))

    # Correct's review round reads the seed layer too: next tile, accept, fine-tuning burst.
    from napari_selfsup_seg.workflows._fine_tune import FineTuneConfig
    from napari_selfsup_seg.workflows._queue import QueueConfig

    _dock, correct = viewer.window.add_plugin_dock_widget(PLUGIN, "3. Correct")
    correct.labels_layer.value = masks.name
    review = correct.review
    assert review.image.value == cyto and str(review.model_dir.value) == str(tmp_path / "model")
    review.queue_config = QueueConfig(tile_size=48)
    review.fine_tune_config = FineTuneConfig(max_steps=2, min_steps=0, patience=1, smoothing=1)
    review.next_tile(inline=True)
    assert review.tile is not None and review.review_loop().images.shape[1] == 2
    review.accept(inline=True)
    assert errors == []
    assert review.review_loop().model.config.seed_channel == 1
    qtbot.waitUntil(lambda: not correct._timer.isActive(), timeout=10000)  # autosaved


def test_seed_layer_can_be_turned_off_and_follows_the_masks(viewer, tmp_path, errors):
    path, _truth = _cells_file(tmp_path)
    nuclei, cyto = _seeded_masks(viewer, path)
    _dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "4. Train")
    widget.image.value = cyto
    assert widget.seeding.seeds.value == nuclei
    widget.seeding.seeds.value = NO_SEEDS
    assert "no seeds" in widget.seeding.info.value
    inputs, seeded = widget.seeding.job_inputs(viewer.layers[cyto])
    assert seeded == {} and "seeds" not in inputs and inputs["input_channels"] == [1]
    # Masks that do not record a seed layer bring no seeds and no line.
    viewer.add_labels(np.zeros(viewer.layers[cyto].data.shape, np.int32), name="plain")
    widget.masks.value = "plain"
    assert widget.seeding.seeds.value == NO_SEEDS and widget.seeding.info.native.isHidden()
    widget.masks.value = f"{cyto} pseudo (threshold)"
    assert widget.seeding.seeds.value == nuclei
    assert errors == []


def test_input_channels_of_layers_from_one_file_or_two():
    class Layer:
        def __init__(self, **metadata):
            self.metadata = metadata

    a = Layer(channel=1, channel_name="GFP", path="x.tif")
    b = Layer(channel=0, channel_name="DAPI", path="x.tif")
    assert input_channels(a, b) == {
        "input_channels": [1, 0],
        "input_channel_names": ["GFP", "DAPI"],
    }
    c = Layer(channel=None, channel_name=None, path="nuclei.tif")
    assert input_channels(a, c) == {"input_channels": None, "input_channel_names": None}
    assert input_channels(a) == {"input_channels": [1], "input_channel_names": ["GFP"]}
