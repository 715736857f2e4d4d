"""Pseudo-masks widget: threshold with sweep and live preview, PSM, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from napari_selfsup_seg._napari.widgets.pseudo_masks import PseudoMasksWidget
from napari_selfsup_seg.data._diameter import sizes_for_diameter
from napari_selfsup_seg.data._synthetic import make_sample_stack

pytestmark = pytest.mark.gui


def _add_stack(viewer, n=2, size=96):
    image, labels = make_sample_stack(n, (size, size), seed=3)
    viewer.add_image(image[:, 0], name="bf", metadata={"role": "brightfield"})
    viewer.add_image(image[:, 1], name="fluo", metadata={"role": "fluorescent"})
    return labels


def test_threshold_in_worker_with_sweep_and_live_preview(viewer, qtbot, errors):
    truth = _add_stack(viewer)
    widget = PseudoMasksWidget(viewer)
    viewer.window.add_dock_widget(widget)
    assert widget.source.value == "fluo"  # the fluorescent role is picked for thresholds
    worker = widget.run()
    with qtbot.waitSignal(worker.finished, timeout=120000):
        pass
    qtbot.waitUntil(lambda: not widget.controls.running, timeout=5000)
    assert "fluo pseudo (threshold)" in viewer.layers and "fluo threshold map" in viewer.layers
    pseudo = viewer.layers["fluo pseudo (threshold)"]
    prob = viewer.layers["fluo threshold map"]
    assert pseudo.data.shape == truth.shape and prob.data.dtype == np.float32
    # Objects found on every plane, about as many as there are nuclei.
    for k in range(2):
        n_true = len(np.unique(truth[k])) - 1
        assert 0.6 * n_true <= pseudo.data[k].max() <= 1.4 * n_true
    # The sweep plot shows the automatic choice, the slider sits on it.
    sweep = widget.cut.cache["sweeps"][0]
    assert widget.threshold.value == pytest.approx(round(sweep.best_threshold, 2))
    assert widget.plot.axes.lines  # curve and marker drawn
    # Live preview: a high cut on the cached map keeps fewer foreground pixels.
    viewer.dims.set_current_step(0, 0)
    before = (pseudo.data[0] > 0).sum()
    widget.threshold.value = 0.95
    qtbot.waitUntil(lambda: (pseudo.data[0] > 0).sum() < before, timeout=3000)
    assert (pseudo.data[1] > 0).sum() > 0
    assert errors == []


def test_psm_inline_generator(viewer, errors):
    _add_stack(viewer, n=1, size=64)
    widget = PseudoMasksWidget(viewer)
    widget.method.value = "psm"
    assert widget.source.value == "fluo"
    widget.psm_steps.value = 3
    assert widget.run(inline=True) is None  # drained in this thread, no worker
    assert errors == []
    assert viewer.layers["fluo pseudo (psm)"].data.max() > 0
    assert viewer.layers["fluo pseudo (psm)"].metadata["provenance"]["method"] == "psm"


def test_edited_pseudo_layer_is_never_overwritten(viewer, errors):
    _add_stack(viewer, n=1, size=64)
    widget = PseudoMasksWidget(viewer)
    widget.run(inline=True)
    layer = viewer.layers["fluo pseudo (threshold)"]
    layer.paint((0, 10, 10), 99)  # the user paints
    assert layer.metadata["edited"]
    edited = layer.data.copy()
    widget.threshold.value = 0.9
    assert widget.preview() is None
    widget.run(inline=True)
    np.testing.assert_array_equal(layer.data, edited)
    assert "fluo pseudo (threshold) [2]" in viewer.layers


def test_bad_input_gives_notification(viewer, errors):
    widget = PseudoMasksWidget(viewer)
    assert widget.run() is None
    assert errors and "source image" in errors[0]
    viewer.add_image(np.full((64, 64), 7, np.uint16), name="flat")
    widget.source.value = "flat"
    widget.run(inline=True)
    assert len(errors) == 2 and "constant" in errors[1]
    assert not [ly for ly in viewer.layers if "pseudo" in ly.name]


def test_scorecam_from_marked_frames(viewer, qtbot, errors):
    from napari_selfsup_seg.data._synthetic import make_sample

    # Four frames with nuclei, two empty ones (background only).
    frames = [make_sample((64, 64), seed=s).fluorescence for s in range(4)]
    empty = [make_sample((64, 64), n_nuclei=1, seed=9).fluorescence for _ in range(2)]
    rng = np.random.default_rng(0)
    for e in empty:
        e[:] = rng.normal(110, 4, e.shape).clip(0).astype(np.uint16)
    viewer.add_image(np.stack(frames + empty), name="cells")
    widget = PseudoMasksWidget(viewer)
    widget.method.value = "scorecam"
    widget.source.value = "cells"
    widget.cam_steps.value = 4
    widget.cam_input.value = "64"
    assert widget.cam_refine.value == "auto"  # the default refinement; objects on request
    widget.cam_refine.value = "objects"
    for k, has in [(0, True), (1, True), (2, True), (4, False), (5, False)]:
        viewer.dims.set_current_step(0, k)
        assert widget.weak.mark(has) == (k, 0, 0, 0, int(has))
    widget.weak.mark(False)  # marking the same frame again replaces its mark
    assert widget.weak.table.shape[0] == 5
    assert widget.weak.summary.value == "3 marked 'has it', 2 'has not'"
    # Five marks are too few for the held-out check to show anything: forced, with a warning.
    widget.weak.allow_chance.value = True
    worker = widget.run()
    with qtbot.waitSignal(worker.finished, timeout=120000):
        pass
    qtbot.waitUntil(lambda: not widget.controls.running, timeout=5000)
    assert errors == []
    pseudo = viewer.layers["cells pseudo (scorecam)"].data
    prob = viewer.layers["cells scorecam map"].data
    assert pseudo.shape == (6, 64, 64)
    assert prob[0].max() > 0 and prob[3].max() == 0  # frame 3 was not marked
    assert not pseudo[4].any() and not pseudo[5].any()  # "has not" frames stay empty
    assert viewer.layers["cells pseudo (scorecam)"].metadata["provenance"]["input_size"] == 64
    assert viewer.layers["cells pseudo (scorecam)"].metadata["provenance"]["refine"] == "objects"
    assert "not shown better than chance" in widget.controls.status.value
    provenance = viewer.layers["cells pseudo (scorecam)"].metadata["provenance"]
    assert (
        provenance["allow_chance"]
        and not provenance["classifier"]["held_out"]["better_than_chance"]
    )


def test_scorecam_needs_both_kinds_of_marks(viewer, errors):
    viewer.add_image(np.random.default_rng(0).random((3, 64, 64)), name="x")
    widget = PseudoMasksWidget(viewer)
    widget.method.value = "scorecam"
    widget.source.value = "x"
    widget.weak.mark(True)
    assert widget.run() is None
    assert "has not" in errors[0]


def test_source_follows_roles_when_docked_before_the_data(viewer, errors):
    from napari_selfsup_seg._napari.widgets.data import DataWidget

    _dock, widget = viewer.window.add_plugin_dock_widget("napari-selfsup-seg", "2. Pseudo-masks")
    image, labels = make_sample_stack(1, (64, 64), seed=3)
    viewer.add_image(image[:, 0], name="bf")  # no roles yet: the first image is shown
    viewer.add_image(image[:, 1], name="fluo")
    viewer.add_labels(labels, name="true labels")
    assert widget.source.value == "bf"
    data = DataWidget(viewer)
    data.brightfield.value, data.fluorescent.value = "bf", "fluo"
    assert data.apply()
    assert widget.source.value == "fluo"  # roles set later still move the default
    assert "fluo" in widget.source_hint.value
    widget.source.value = "bf"  # the user's pick stays, with a warning for thresholds
    viewer.add_image(image[:, 1], name="other")
    assert widget.source.value == "bf"
    assert "fluorescent" in widget.source_hint.value
    assert errors == []


def test_each_method_writes_its_own_layer(viewer, errors):
    _add_stack(viewer, n=1, size=64)
    widget = PseudoMasksWidget(viewer)
    widget.run(inline=True)
    widget.method.value = "psm"
    widget.psm_steps.value = 2
    widget.run(inline=True)
    assert errors == []
    names = [ly.name for ly in viewer.layers]
    assert "fluo pseudo (threshold)" in names and "fluo pseudo (psm)" in names


def test_sizes_from_the_diameter_grey_out_the_size_boxes_and_report_it(viewer, errors):
    _add_stack(viewer, n=1, size=96)
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-selfsup-seg", "2. Pseudo-masks")
    boxes = (widget.sigma, widget.min_size, widget.min_distance)
    assert widget.auto_sizes.value and not any(b.enabled for b in boxes)
    widget.auto_sizes.value = False
    assert all(b.enabled for b in boxes)
    widget.auto_sizes.value = True
    widget.method.value = "psm"  # PSM uses the boxes as they are
    assert widget.min_size.enabled and widget.min_distance.enabled
    widget.method.value = "threshold"
    widget.run(inline=True)
    assert errors == []
    assert "px across" in widget.controls.status.value
    # The greyed boxes show what was used: the sizes derived from the estimated diameter.
    layer = viewer.layers["fluo pseudo (threshold)"]
    diameter = float(np.median(layer.metadata["provenance"]["diameters"]))
    derived = sizes_for_diameter(diameter)
    assert widget.min_size.value == derived.min_size
    assert widget.min_distance.value == derived.min_distance
    assert widget.sigma.value == pytest.approx(derived.sigma, abs=0.05)


def test_own_edges_box_reaches_the_threshold_config(viewer, errors):
    _add_stack(viewer, n=1, size=96)
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-selfsup-seg", "2. Pseudo-masks")
    assert widget.edge.value == pytest.approx(0.3)
    widget.run(inline=True)
    layer = viewer.layers["fluo pseudo (threshold)"]
    assert layer.metadata["provenance"]["edge_fraction"] == pytest.approx(0.3)
    own = np.array(layer.data)
    widget.edge.value = 0.0
    widget.run(inline=True)
    layer = viewer.layers["fluo pseudo (threshold)"]
    assert layer.metadata["provenance"]["edge_fraction"] == 0.0
    assert not np.array_equal(own, np.array(layer.data))
    widget.method.value = "psm"  # the box belongs to the threshold method: hidden for PSM
    assert widget.edge.native.isHidden()
    widget.method.value = "threshold"
    assert not widget.edge.native.isHidden()
    assert errors == []


def test_status_names_the_refinement_auto_chose():
    from napari_selfsup_seg._napari.widgets._scorecam_marks import classifier_note

    held = {"accuracy": 1.0, "correct": 8, "n": 8, "better_than_chance": True}
    record = {"classifier": {"held_out": held}}
    assert classifier_note(record) == "; held-out accuracy 1.00 (8/8)"
    record["refine_chosen"] = {"refine": "objects", "planes": ["objects", "guided", "objects"]}
    assert classifier_note(record).endswith(
        "; map refinement auto: objects on 2 plane(s), guided on 1"
    )
