"""The widget, the Python API and the command line give identical pseudo-masks for every method.

Each method runs on the same small generated input through the three faces: the Pseudo-masks
widget opened from the Plugins menu, ``napari_selfsup_seg.api``, and ``napari-selfsup-seg
pseudo-mask``. The automatic cut and the slider preview at a fixed cut must give the same
labels as the API and the CLI at that cut (for PSM on brightfield this includes its hole
filling).
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import torch

from napari_selfsup_seg import api
from napari_selfsup_seg.cli.main import main
from napari_selfsup_seg.data._synthetic import make_sample, make_sample_stack

pytestmark = pytest.mark.gui

PLUGIN, WIDGET = "napari-selfsup-seg", "2. Pseudo-masks"
CUT = 0.7


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _open(viewer, data, name, method):
    viewer.add_image(data, name=name)
    _dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    widget.method.value = method
    widget.source.value = name
    return widget


def _run_widget(viewer, widget, name, method):
    widget.auto.value = True
    assert widget.run(inline=True) is None
    return np.array(viewer.layers[f"{name} pseudo ({method})"].data)


def _preview(viewer, widget, name, method, plane):
    """Labels of ``plane`` after moving the slider to CUT (the live re-cut)."""
    viewer.dims.set_current_step(0, plane)
    widget.threshold.value = CUT
    assert widget.preview() is not None
    return np.array(viewer.layers[f"{name} pseudo ({method})"].data[plane])


def _cli(tmp_path, path, method, cut, *extra):
    out = tmp_path / f"out_{method}_{cut}"
    args = ["pseudo-mask", "--method", method, *(str(p) for p in path), "--out", str(out)]
    assert main([*args, "--threshold", str(cut), "--quiet", *extra]) == 0
    return out


@pytest.fixture
def stack():
    image, _truth = make_sample_stack(2, (64, 64), seed=3)  # (Z, C, Y, X)
    return image


def test_threshold_same_in_widget_api_and_cli(viewer, tmp_path, stack, errors):
    fluo = stack[:, 1]
    path = tmp_path / "fluo.tif"
    tifffile.imwrite(path, fluo, metadata={"axes": "ZYX"}, imagej=True)
    widget = _open(viewer, fluo, "fluo", "threshold")
    auto = _run_widget(viewer, widget, "fluo", "threshold")
    preview = _preview(viewer, widget, "fluo", "threshold", 1)
    assert errors == []
    api_auto = [api.threshold_pseudo_mask(p, api.ThresholdConfig(threshold=None))[0] for p in fluo]
    api_cut = api.threshold_pseudo_mask(fluo[1], api.ThresholdConfig(threshold=CUT))[0]
    cli_auto = tifffile.imread(_cli(tmp_path, [path], "threshold", "auto") / "fluo_pseudo.tif")
    cli_cut = tifffile.imread(_cli(tmp_path, [path], "threshold", CUT) / "fluo_pseudo.tif")
    assert auto.max() > 0
    np.testing.assert_array_equal(auto, np.stack(api_auto))
    np.testing.assert_array_equal(auto, cli_auto)
    np.testing.assert_array_equal(preview, api_cut)
    np.testing.assert_array_equal(preview, cli_cut[1])


def test_psm_brightfield_same_in_widget_api_and_cli(viewer, tmp_path, stack, errors):
    bf = stack[:1, 0]
    path = tmp_path / "bf.tif"
    tifffile.imwrite(path, bf[0])
    widget = _open(viewer, bf, "bf", "psm")
    widget.psm_steps.value = 3
    widget.psm_modality.value = "brightfield"
    auto = _run_widget(viewer, widget, "bf", "psm")
    preview = _preview(viewer, widget, "bf", "psm", 0)
    assert errors == []
    flags = ("--steps", "3", "--modality", "brightfield")
    cfg = {"steps": 3, "modality": "brightfield"}
    ((api_auto, _),) = api.psm_pseudo_mask([bf[0]], api.PSMConfig(threshold=None, **cfg))
    ((api_cut, _),) = api.psm_pseudo_mask([bf[0]], api.PSMConfig(threshold=CUT, **cfg))
    cli_auto = tifffile.imread(_cli(tmp_path, [path], "psm", "auto", *flags) / "bf_pseudo.tif")
    cli_cut = tifffile.imread(_cli(tmp_path, [path], "psm", CUT, *flags) / "bf_pseudo.tif")
    assert auto.max() > 0 and preview.max() > 0
    np.testing.assert_array_equal(auto[0], api_auto)
    np.testing.assert_array_equal(auto[0], cli_auto)
    np.testing.assert_array_equal(preview, api_cut)
    np.testing.assert_array_equal(preview, cli_cut)


def test_scorecam_same_in_widget_api_and_cli(viewer, tmp_path, errors):
    frames = [make_sample((64, 64), seed=s).fluorescence for s in range(3)]
    rng = np.random.default_rng(0)
    empty = [rng.normal(110, 4, (64, 64)).clip(0).astype(np.uint16) for _ in range(2)]
    images, weak = frames + empty, [1, 1, 1, 0, 0]
    paths = []
    for i, img in enumerate(images):
        paths.append(tmp_path / f"f{i}.tif")
        tifffile.imwrite(paths[-1], img)
    csv = tmp_path / "weak.csv"
    csv.write_text("path,label\n" + "".join(f"{p.name},{w}\n" for p, w in zip(paths, weak)))
    widget = _open(viewer, np.stack(images), "cells", "scorecam")
    widget.cam_steps.value = 4
    # Five weak labels are too few for the held-out check: every face is forced past it alike.
    widget.weak.allow_chance.value = True
    for k, has in enumerate(weak):
        viewer.dims.set_current_step(0, k)
        widget.weak.mark(bool(has))
    auto = _run_widget(viewer, widget, "cells", "scorecam")
    preview = _preview(viewer, widget, "cells", "scorecam", 1)
    assert errors == []
    forced = {"steps": 4, "allow_chance": True}
    api_auto = api.scorecam_pseudo_masks(images, weak, api.ScoreCAMConfig(threshold=None, **forced))
    api_cut = api.scorecam_pseudo_masks(images, weak, api.ScoreCAMConfig(threshold=CUT, **forced))
    cli = ("--weak-labels", str(csv), "--steps", "4", "--allow-chance")
    out_auto = _cli(tmp_path, [], "scorecam", "auto", *cli)
    out_cut = _cli(tmp_path, [], "scorecam", CUT, *cli)
    assert all(auto[k].max() > 0 for k in range(3)) and not auto[3:].any()
    for k in range(3):
        np.testing.assert_array_equal(auto[k], api_auto[k][0])
        np.testing.assert_array_equal(auto[k], tifffile.imread(out_auto / f"f{k}_pseudo.tif"))
    np.testing.assert_array_equal(preview, api_cut[1][0])
    np.testing.assert_array_equal(preview, tifffile.imread(out_cut / "f1_pseudo.tif"))
