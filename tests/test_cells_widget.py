"""The Pseudo-masks widget's "cells" target gives the labels of the API and the command line.

The widget is opened from the Plugins menu the way napari does; the cell layer is the source and
the nuclear layer the seed. A seed layer that is the cell layer is refused in one line.
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from cells_data import make_cells
from napari_selfsup_seg import api
from napari_selfsup_seg.cli.main import main

pytestmark = pytest.mark.gui

PLUGIN, WIDGET = "napari-selfsup-seg", "2. Pseudo-masks"


def test_cells_same_in_widget_api_and_cli(viewer, tmp_path, errors):
    pairs = [make_cells(n_side=3, seed=s)[:2] for s in (2, 3)]
    cyto, nuclei = np.stack([c for c, _ in pairs]), np.stack([n for _, n in pairs])
    viewer.add_image(cyto, name="cyto")
    viewer.add_image(nuclei, name="dapi")
    _dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    widget.method.value = "threshold"
    widget.source.value = "cyto"
    widget.cells.target.value = "cells"
    assert not widget.cells.seeds.native.isHidden()
    widget.cells.seeds.value = "dapi"
    widget.auto.value = False  # the slider's 0.5: the automatic threshold, as the CLI's default
    widget.threshold.value = 0.5
    assert widget.run(inline=True) is None
    assert errors == []
    shown = np.array(viewer.layers["cyto pseudo (threshold)"].data)
    meta = viewer.layers["cyto pseudo (threshold)"].metadata["provenance"]
    assert meta["target"] == "cells" and meta["seed_layer"] == "dapi"
    path = tmp_path / "two.tif"
    tifffile.imwrite(path, np.stack([nuclei, cyto], 1), imagej=True, metadata={"axes": "TCYX"})
    out = tmp_path / "out"
    args = ["pseudo-mask", "--method", "threshold", "--target", "cells", str(path), "--quiet"]
    assert main([*args, "--channel", "1", "--seed-channel", "0", "--out", str(out)]) == 0
    assert shown.max() > 0
    np.testing.assert_array_equal(shown, np.stack(api.cell_pseudo_masks(cyto, nuclei).labels))
    np.testing.assert_array_equal(shown, tifffile.imread(out / "two_pseudo.tif"))
    # The slider re-cuts the displayed plane with the same seeds.
    viewer.dims.set_current_step(0, 1)
    widget.threshold.value = 0.7
    assert widget.preview() is not None
    cut = api.cell_pseudo_masks(
        cyto[1], nuclei[1], api.ThresholdConfig(target="cells", threshold=0.7)
    )
    np.testing.assert_array_equal(viewer.layers["cyto pseudo (threshold)"].data[1], cut.labels[0])


def test_seed_layer_that_is_the_cell_layer_is_refused(viewer, errors):
    cyto, _nuclei, _truth = make_cells(n_side=2, seed=0)
    viewer.add_image(cyto, name="cyto")
    _dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    widget.source.value = "cyto"
    widget.cells.target.value = "cells"
    widget.cells.seeds.value = "cyto"
    assert widget.run(inline=True) is None
    assert len(errors) == 1 and "seed layer is the cell layer" in errors[0]
    assert "cyto pseudo (threshold)" not in viewer.layers
