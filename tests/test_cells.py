"""Whole-cell pseudo-masks: nuclei of a seed channel grown over a cell channel, and without seeds.

Generated cells (``cells_data.make_cells``): nuclei discs inside larger touching Voronoi-like
cells with a brighter cytoplasm. The seeded cells must match the truth cell by cell, the
slider's re-cut must reproduce the run, and a seed channel that is missing or is the cell
channel must be refused in one clear line.
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from cells_data import make_cells, mean_best_iou
from napari_selfsup_seg import api
from napari_selfsup_seg._errors import InputError
from napari_selfsup_seg.cli.main import main
from napari_selfsup_seg.pseudo._propagate import (
    contrast_kind,
    normalised,
    propagate,
    propagation_cost,
)


@pytest.fixture(scope="module")
def cells():
    return make_cells(seed=1)


def test_seeded_cells_match_truth(cells):
    cyto, nuclei, truth = cells
    result = api.cell_pseudo_masks(cyto, nuclei)
    labels = result.labels[0]
    assert labels.max() == truth.max()
    assert mean_best_iou(labels, truth) > 0.75
    # Every cell holds its nucleus; the diameter is the foreground's area per nucleus.
    assert np.all(labels[result.seeds[0] > 0] == result.seeds[0][result.seeds[0] > 0])
    assert 24 < result.diameters[0] < 36
    assert result.polarities == ["bright"]


@pytest.mark.parametrize("spacing", [30, 50])
def test_cell_diameter_is_the_foreground_per_nucleus(spacing):
    """The same nuclei (12 px) in cells of two sizes: the cell diameter follows the cells."""
    from skimage.measure import regionprops

    cyto, nuclei, truth = make_cells(spacing=spacing, seed=1)
    result = api.cell_pseudo_masks(cyto, nuclei)
    true = float(np.median([p.equivalent_diameter_area for p in regionprops(truth)]))
    assert abs(result.diameters[0] - true) < 0.15 * true
    assert mean_best_iou(result.labels[0], truth) > 0.7


def test_recut_reproduces_the_run_and_moves_with_the_cut(cells):
    cyto, nuclei, _truth = cells
    result = api.cell_pseudo_masks(np.stack([cyto, cyto]), np.stack([nuclei, nuclei]))
    np.testing.assert_array_equal(result.recut(1, result.thresholds[1]), result.labels[1])
    assert (result.recut(1, 0.95) > 0).sum() < (result.labels[1] > 0).sum()


def test_threshold_iter_target_cells_is_the_same_run(cells):
    cyto, nuclei, _truth = cells
    config = api.ThresholdConfig(target="cells")
    via_registry = api.drain(api.get_method("threshold").run_iter([cyto], config, seeds=[nuclei]))
    np.testing.assert_array_equal(
        via_registry.labels[0], api.cell_pseudo_masks(cyto, nuclei).labels[0]
    )


def test_cells_without_seeds_split_by_the_estimated_size(cells):
    cyto, _nuclei, truth = cells
    result = api.cell_pseudo_masks(cyto)
    assert result.seeds == [None]
    assert abs(int(result.labels[0].max()) - int(truth.max())) <= 3
    assert mean_best_iou(result.labels[0], truth) > 0.6


def test_cells_never_grow_over_the_field():
    """Seeds on a flat bright field stay within their reach (a fraction of the cell diameter)."""
    seeds = np.zeros((200, 200), np.int32)
    seeds[100:104, 100:104] = 1
    grown = propagate(np.ones((200, 200)), seeds, np.ones((200, 200), bool), reach=20)
    assert grown.max() == 1
    ys, xs = np.nonzero(grown)
    assert ys.min() >= 79 and ys.max() <= 124 and xs.min() >= 79 and xs.max() <= 124


def test_relief_images_are_told_from_stains():
    rng = np.random.default_rng(0)
    relief = rng.normal(0, 1, (128, 128))
    relief[30:60, 30:60] += np.linspace(-4, 4, 30)[None, :]  # a cell lit from one side
    stain = rng.normal(0, 1, (128, 128))
    stain[30:60, 30:60] += 5
    assert contrast_kind(normalised(relief)) == "relief"
    assert contrast_kind(normalised(stain)) == "bright"


def test_cells_meet_on_lines_of_the_background_polarity():
    """The propagation is cheap inside cells and costly on the thin line between two of them:
    a dark line between bright (or relief) cells, a bright one between dark cells. A line of
    the other polarity inside a cell (a fibre, a fold) costs far less: image edges alone would
    not tell the two apart."""
    rng = np.random.default_rng(0)
    plane = np.full((80, 120), 0.1) + rng.normal(0, 0.02, (80, 120))
    plane[20:60, 20:100] = 1.0
    plane[20:60, 40:42] += 0.7  # a bright line inside a cell: no border
    plane[20:60, 69:71] = 0.3  # the gap between two touching cells
    for cells, image in (("bright", plane), ("relief", plane), ("dark", 1.1 - plane)):
        cost = propagation_cost(image, diameter=32, contrast=cells)
        line, other, inside = cost[30:50, 69:71].mean(), cost[30:50, 40:42].mean(), cost[30:50, 85]
        assert line > 2 * other and line > 2 * inside.mean(), cells
    assert propagation_cost(plane, 32).shape == plane.shape  # "auto" detects the kind


def test_seed_planes_that_are_the_cell_planes_are_refused(cells):
    cyto, nuclei, _truth = cells
    with pytest.raises(InputError, match="seed channel is the cell channel"):
        api.cell_pseudo_masks(cyto, cyto.copy())
    with pytest.raises(InputError, match="differs from cell plane"):
        api.cell_pseudo_masks(cyto, nuclei[:-1])
    run_iter = api.get_method("threshold").run_iter
    with pytest.raises(InputError, match="target"):
        api.drain(run_iter([cyto], api.ThresholdConfig(), seeds=[nuclei]))
    with pytest.raises(InputError, match="cells_iter"):
        api.drain(api.threshold_iter([cyto], api.ThresholdConfig(target="cells")))


def test_cli_cells_match_the_api(cells, tmp_path, capsys):
    cyto, nuclei, _truth = cells
    path = tmp_path / "two.tif"
    tifffile.imwrite(path, np.stack([nuclei, cyto]), imagej=True, metadata={"axes": "CYX"})
    out = tmp_path / "out"
    args = ["pseudo-mask", "--method", "threshold", "--target", "cells", str(path)]
    assert main([*args, "--channel", "1", "--seed-channel", "0", "--out", str(out)]) == 0
    cli = tifffile.imread(out / "two_pseudo.tif")
    np.testing.assert_array_equal(cli, api.cell_pseudo_masks(cyto, nuclei).labels[0])
    capsys.readouterr()
    for extra, message in [
        (["--channel", "1", "--seed-channel", "1"], "is the cell channel"),
        (["--channel", "1", "--seed-channel", "4"], "--seed-channel 4 is missing"),
    ]:
        assert main([*args, *extra, "--out", str(tmp_path / "bad")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0] and "two.tif" in err[0]
    assert main(["pseudo-mask", "--method", "psm", "--target", "cells", str(path),
                 "--channel", "1", "--out", str(tmp_path / "psm")]) == 2  # fmt: skip
    assert "--target cells works with --method threshold" in capsys.readouterr().err


def test_automatic_cut_is_scored_against_the_cell_contrast():
    """The sweep of a cell map scores cuts against the contrast signal the map was made from
    (a brightfield plane's raw intensity does not say where cells are)."""
    from napari_selfsup_seg.pseudo._cell_map import cell_map
    from napari_selfsup_seg.pseudo._sweep import threshold_sweep

    cyto, nuclei, _truth = make_cells(seed=1)
    result = api.cell_pseudo_masks(
        cyto, nuclei, api.ThresholdConfig(target="cells", threshold=None)
    )
    diameter, contrast = result.diameters[0], result.polarities[0]
    prob, signal = cell_map(cyto, diameter, result.config, contrast, seeded=True)
    np.testing.assert_array_equal(prob, result.maps[0])
    expected = threshold_sweep(prob, signal)
    np.testing.assert_allclose(result.sweeps[0].scores, expected.scores)
    assert result.thresholds[0] == expected.best_threshold
