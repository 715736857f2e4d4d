"""A model trained in the GUI on one channel of 2-channel files segments those files as they are."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_selfsup_seg._napari.widgets.segment_folder import AS_TRAINED
from napari_selfsup_seg.data._synthetic import make_sample
from napari_selfsup_seg.io._image import read_image
from napari_selfsup_seg.io._tiff_write import write_image

pytestmark = pytest.mark.gui

PLUGIN = "napari-selfsup-seg"


@pytest.fixture
def two_channel_folder(tmp_path):
    """Three 2-channel TIFFs: brightfield + DAPI named, the same unnamed, and DAPI first."""
    folder = tmp_path / "data"
    folder.mkdir()
    samples = [make_sample((64, 64), seed=s) for s in (1, 2, 3)]
    bf_dapi = np.stack([samples[0].brightfield, samples[0].fluorescence])
    write_image(folder / "named.ome.tif", bf_dapi, axes="CYX", channel_names=["BF", "DAPI"])
    write_image(folder / "plain.tif", samples[1].stack(), axes="CYX")
    dapi_bf = np.stack([samples[2].fluorescence, samples[2].brightfield])
    write_image(folder / "swapped.ome.tif", dapi_bf, axes="CYX", channel_names=["DAPI", "BF"])
    return folder, samples[0].labels


def _wait(qtbot, worker, until):
    with qtbot.waitSignal(worker.finished, timeout=120000):
        pass
    qtbot.waitUntil(until, timeout=10000)


def test_train_on_channel_layer_then_segment_original_files(
    viewer, qtbot, tmp_path, errors, two_channel_folder
):
    folder, labels = two_channel_folder
    layers = viewer.open(folder / "named.ome.tif", plugin=PLUGIN)
    assert [(ly.metadata["channel"], ly.metadata["channel_name"]) for ly in layers] == [
        (0, "BF"),
        (1, "DAPI"),
    ]
    dapi = layers[1]
    viewer.add_labels(labels.astype(np.int32), name="nuclei masks")

    _, train = viewer.window.add_plugin_dock_widget(PLUGIN, "4. Train")
    train.image.value = dapi.name
    train.masks.value = "nuclei masks"
    train.depth.value = 3
    train.steps.value = 3
    train.tile_size.value = 64
    train.batch_size.value = 2
    train.device.value = "cpu"
    train.preview_every.value = 0
    model_dir = tmp_path / "model"
    train.save_dir.value = model_dir
    worker = train.start()
    assert worker is not None, errors
    _wait(qtbot, worker, lambda: not train.controls.running)
    assert errors == []
    cfg = json.loads((model_dir / "config.json").read_text())
    assert cfg["input_channels"] == [1] and cfg["input_channel_names"] == ["DAPI"]

    _, seg = viewer.window.add_plugin_dock_widget(PLUGIN, "5. Segment folder")
    seg.model_dir.value = model_dir
    assert seg.channel_info.value == "Model reads channel 1 (DAPI) of each file"
    assert seg.input_channel.value == AS_TRAINED
    assert seg.input_channel.native.currentText() == "as trained (1, DAPI)"
    seg.in_dir.value = folder
    seg.out_dir.value = tmp_path / "out"
    seg.device.value = "cpu"
    worker = seg.run()
    _wait(qtbot, worker, lambda: seg.summary is not None)
    assert errors == []
    assert seg.summary["done"] == 3 and seg.summary["failed"] == []
    for stem in ("named", "plain", "swapped"):
        out = read_image(tmp_path / "out" / f"{stem}_labels.tif")
        assert out.shape == (64, 64)

    # The user's choice of channel goes into the run (and is recorded in its manifest).
    seg.input_channel.value = 0
    seg.out_dir.value = tmp_path / "out0"
    worker = seg.run()
    _wait(qtbot, worker, lambda: seg.summary is not None)
    manifest = json.loads((tmp_path / "out0" / "run.json").read_text())
    assert manifest["predict_config"]["input_channels"] == [0]
    assert seg.summary["done"] == 3


def test_segment_folder_channel_line_for_unrecorded_model(viewer, model_dir, tmp_path):
    _, seg = viewer.window.add_plugin_dock_widget(PLUGIN, "5. Segment folder")
    seg.model_dir.value = model_dir
    assert "single-channel" in seg.channel_info.value
    assert [c for c in seg.input_channel.choices][:3] == [AS_TRAINED, 0, 1]
    seg.model_dir.value = tmp_path
    assert "not a model folder" in seg.channel_info.value
    assert list(seg.input_channel.choices) == [AS_TRAINED]
