"""Data widget: opening files, channel roles and planes."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_selfsup_seg._errors import InputError
from napari_selfsup_seg._napari.widgets.data import DataWidget, parse_planes

pytestmark = pytest.mark.gui


def test_parse_planes():
    assert parse_planes("all", 4) == [0, 1, 2, 3]
    assert parse_planes(" 0-1, 3 ", 4) == [0, 1, 3]
    with pytest.raises(InputError, match="out of range"):
        parse_planes("5", 4)
    with pytest.raises(InputError, match="cannot read"):
        parse_planes("a-b", 4)


def test_open_and_assign_roles(viewer, tmp_path, errors):
    data = np.random.default_rng(0).integers(0, 500, (3, 2, 48, 48), dtype=np.uint16)
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, data, metadata={"axes": "ZCYX"})
    widget = DataWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.open_files([str(path)])
    assert [ly.name for ly in viewer.layers] == ["stack [ch 0]", "stack [ch 1]"]
    widget.brightfield.value = "stack [ch 0]"
    widget.fluorescent.value = "stack [ch 1]"
    widget.planes.value = "0, 2"
    assert widget.apply()
    assert viewer.layers["stack [ch 0]"].metadata["role"] == "brightfield"
    assert viewer.layers["stack [ch 1]"].metadata["role"] == "fluorescent"
    assert viewer.layers["stack [ch 1]"].metadata["planes"] == [0, 2]
    assert "ZYX" in widget.info.value
    assert errors == []


def test_bad_input_gives_notifications(viewer, tmp_path, errors):
    widget = DataWidget(viewer)
    bad = tmp_path / "broken.tif"
    bad.write_bytes(b"nope")
    assert widget.open_files([str(bad)]) == []
    assert len(errors) == 1 and "broken.tif" in errors[0]
    viewer.add_image(np.zeros((2, 16, 16)), name="a")
    widget.brightfield.value = "a"
    widget.planes.value = "7"
    assert not widget.apply()
    assert "out of range" in errors[-1]
    widget.fluorescent.value = "a"
    widget.planes.value = "all"
    assert not widget.apply()
    assert "different layers" in errors[-1]
