"""The Pseudo-masks widget's object diameter: a field in pixels (0 = estimated) that reaches the
threshold method, and a circle of the displayed plane's diameter in the Shapes layer
"object diameter", near the top-left corner, updated (not duplicated) after each run and when the
plane changes. The widget is opened from the Plugins menu the way napari does."""

from __future__ import annotations

import numpy as np
import pytest

from napari_selfsup_seg._napari.widgets._diameter_circle import LAYER, micrometre_size

pytestmark = pytest.mark.gui

PLUGIN, WIDGET = "napari-selfsup-seg", "2. Pseudo-masks"


def _discs(diameter: float, size: int = 160, seed: int = 0) -> np.ndarray:
    """Bright discs of ``diameter`` pixels on a dark, slightly noisy background."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    image = rng.normal(100, 5, (size, size))
    step = int(diameter * 1.8)
    for cy in range(step // 2 + 8, size - step // 2, step):
        for cx in range(step // 2 + 8, size - step // 2, step):
            image[(yy - cy) ** 2 + (xx - cx) ** 2 <= (diameter / 2) ** 2] += 900
    return image.astype(np.float32)


def _circle(viewer) -> tuple[float, float, np.ndarray]:
    """Height, width and corners of the one ellipse in the circle layer."""
    layers = [ly for ly in viewer.layers if ly.name.startswith(LAYER)]
    assert len(layers) == 1  # never duplicated
    layer = layers[0]
    assert layer.shape_type == ["ellipse"] and len(layer.data) == 1
    box = np.asarray(layer.data[0])
    return float(np.ptp(box[:, 0])), float(np.ptp(box[:, 1])), box


def _run(widget, qtbot):
    worker = widget.run()
    with qtbot.waitSignal(worker.finished, timeout=120000):
        pass
    qtbot.waitUntil(lambda: not widget.controls.running, timeout=5000)


def test_circle_shows_estimate_then_typed_diameter(viewer, qtbot, errors):
    viewer.add_image(np.stack([_discs(12), _discs(24, seed=1)]), name="nuclei")
    _dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    widget.method.value = "threshold"
    widget.source.value = "nuclei"
    assert widget.circle.value() is None  # 0 = estimated per plane
    assert not widget.circle.diameter.native.isHidden()
    viewer.dims.set_current_step(0, 0)
    _run(widget, qtbot)  # in a worker thread, layers made on the GUI thread
    assert errors == []
    pseudo = viewer.layers["nuclei pseudo (threshold)"]
    estimates = pseudo.metadata["provenance"]["diameters"]
    assert estimates == [pytest.approx(12, rel=0.25), pytest.approx(24, rel=0.25)]
    h, w, box = _circle(viewer)
    assert h == pytest.approx(estimates[0]) and w == pytest.approx(estimates[0])
    # Inside the image, in its top-left corner: clear of the middle.
    assert box.min() >= 0 and box.max() <= 160 / 3
    # The displayed plane changes: the circle follows that plane's estimate.
    viewer.dims.set_current_step(0, 1)
    h, w, _ = _circle(viewer)
    assert h == pytest.approx(estimates[1]) and w == pytest.approx(estimates[1])
    layer_id = viewer.layers[LAYER].unique_id
    # A typed diameter reaches the threshold config; a second run updates the same layer.
    widget.circle.diameter.value = 30
    _run(widget, qtbot)
    assert errors == []
    assert pseudo.metadata["provenance"]["diameter"] == 30
    assert pseudo.metadata["provenance"]["diameters"] == [30.0, 30.0]
    assert viewer.layers[LAYER].unique_id == layer_id  # the same layer, updated
    h, w, _ = _circle(viewer)
    assert h == pytest.approx(30) and w == pytest.approx(30)
    assert viewer.layers[LAYER].features["label"][0] == "30 px"


def test_diameter_shown_in_micrometres(viewer, qtbot, errors):
    viewer.add_image(_discs(16), name="scaled", scale=(0.5, 0.5))
    viewer.add_image(_discs(16), name="plain")
    _dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    assert micrometre_size(viewer.layers["scaled"]) == 0.5
    assert micrometre_size(viewer.layers["plain"]) is None
    widget.source.value = "scaled"
    widget.circle.diameter.value = 16
    assert widget.circle.in_um.value == "= 8 µm"
    widget.source.value = "plain"
    assert widget.circle.in_um.value == ""
    widget.circle.diameter.value = 0
    assert widget.circle.in_um.value == "0 = estimated per plane"
    # The circle lies over the scaled layer in its own (µm) coordinates.
    widget.source.value = "scaled"
    widget.circle.diameter.value = 16
    assert widget.run(inline=True) is None
    assert errors == []
    layer = viewer.layers[LAYER]
    assert tuple(layer.scale) == (0.5, 0.5)
    h, _w, _ = _circle(viewer)
    assert h == pytest.approx(16)
