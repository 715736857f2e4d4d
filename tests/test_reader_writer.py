"""The napari reader, writer, sample data and manifest."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_selfsup_seg._errors import InputError
from napari_selfsup_seg._napari.reader import napari_get_reader, read_layers
from napari_selfsup_seg._napari.sample_data import sample_nuclei, sample_stack, sample_two_channel
from napari_selfsup_seg._napari.writer import write_labels
from napari_selfsup_seg.io._image import read_image


def _ome_two_channel(path, pixel_size=(0.5, 0.25)):
    data = np.random.default_rng(0).integers(0, 1000, (3, 2, 32, 40), dtype=np.uint16)
    tifffile.imwrite(
        path,
        data,
        ome=True,
        metadata={
            "axes": "ZCYX",
            "PhysicalSizeY": pixel_size[0],
            "PhysicalSizeX": pixel_size[1],
            "Channel": {"Name": ["BF", "DAPI"]},
        },
    )
    return data


def test_reader_splits_channels_keeps_z_and_scale(tmp_path):
    path = tmp_path / "cells.ome.tif"
    data = _ome_two_channel(path)
    reader = napari_get_reader(str(path))
    assert reader is not None
    layers = reader(str(path))
    assert [kw["name"] for _, kw, _ in layers] == ["cells BF", "cells DAPI"]
    assert all(kind == "image" for *_, kind in layers)
    arr, kw, _ = layers[1]
    np.testing.assert_array_equal(arr, data[:, 1])
    assert kw["scale"] == [1.0, 0.5, 0.25]
    assert kw["metadata"]["axes"] == "ZYX"
    assert kw["metadata"]["channel"] == 1


def test_reader_names_unnamed_channels_and_opens_labels(tmp_path):
    img = np.arange(2 * 16 * 16, dtype=np.uint16).reshape(2, 16, 16)
    tifffile.imwrite(tmp_path / "plain.tif", img, metadata={"axes": "CYX"})
    names = [kw["name"] for _, kw, _ in read_layers(str(tmp_path / "plain.tif"))]
    assert names == ["plain [ch 0]", "plain [ch 1]"]
    lab = np.zeros((16, 16), np.uint16)
    lab[2:6, 2:6] = 1
    tifffile.imwrite(tmp_path / "plain_labels.tif", lab)
    ((arr, kw, kind),) = read_layers(str(tmp_path / "plain_labels.tif"))
    assert kind == "labels" and kw["name"] == "plain_labels"
    np.testing.assert_array_equal(arr, lab)


def test_reader_declines_other_files_and_reports_bad_tiff(tmp_path):
    assert napari_get_reader(str(tmp_path / "a.png")) is None
    bad = tmp_path / "broken.tif"
    bad.write_bytes(b"not a tiff at all")
    with pytest.raises(InputError, match=r"broken\.tif"):
        read_layers(str(bad))


def test_writer_round_trip_keeps_axes_and_pixel_size(tmp_path):
    lab = np.zeros((2, 20, 24), np.int32)
    lab[0, 3:9, 4:10] = 1
    lab[1, 10:15, 10:20] = 70000  # needs uint32
    out = write_labels(
        str(tmp_path / "seg"), lab, {"metadata": {"axes": "ZYX"}, "scale": (1, 0.5, 0.5)}
    )
    assert out == [str(tmp_path / "seg.tif")]
    back = read_image(out[0])
    assert back.axes == "ZYX"
    np.testing.assert_array_equal(back.data, lab)
    assert back.pixel_size == pytest.approx((0.5, 0.5))


def test_sample_data_pairs_channels_with_true_labels():
    bf, fl, lab = sample_nuclei()
    assert bf[0].shape == fl[0].shape == lab[0].shape == (256, 256)
    assert (bf[2], fl[2], lab[2]) == ("image", "image", "labels")
    assert bf[1]["metadata"]["role"] == "brightfield"
    assert lab[0].max() > 10
    img, lab2 = sample_two_channel()
    assert img[0].shape == (2, 256, 256) and lab2[0].shape == (256, 256)
    stack = sample_stack()
    assert stack[0][0].shape == (4, 256, 256) and stack[2][0].shape == (4, 256, 256)


def test_manifest_is_valid_and_lists_contributions():
    from npe2 import PluginManifest

    manifest = PluginManifest.from_distribution("napari-selfsup-seg")
    contrib = manifest.contributions
    assert len(contrib.widgets) == 5
    assert {"*.tif", "*.ome.tif"} <= set(contrib.readers[0].filename_patterns)
    assert contrib.writers[0].layer_types == ["labels"]
    assert {s.key for s in contrib.sample_data} == {"nuclei", "two_channel", "stack", "artifacts"}
    # Every command points at an importable object.
    import importlib

    for cmd in contrib.commands:
        module, name = cmd.python_name.split(":")
        assert callable(getattr(importlib.import_module(module), name)), cmd.python_name


@pytest.mark.gui
def test_viewer_opens_file_with_plugin(viewer, tmp_path):
    path = tmp_path / "cells.ome.tif"
    _ome_two_channel(path)
    viewer.open(str(path), plugin="napari-selfsup-seg")
    assert [ly.name for ly in viewer.layers] == ["cells BF", "cells DAPI"]
    assert tuple(viewer.layers["cells DAPI"].scale) == (1.0, 0.5, 0.25)
