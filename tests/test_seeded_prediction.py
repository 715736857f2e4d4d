"""Prediction of whole cells by a model that records the nuclear channel that seeded its masks.

Generated cells (``cells_data.make_cells``): a cytoplasm channel with darker lines between
touching cells and a nuclear channel. The class probabilities are made by hand as a network
that finds the cells' foreground but not the lines between them: the interiors' distance
watershed then cuts the merged foreground by its shape, while growing cells from the nuclei of
the seed channel along the cytoplasm's lines finds the cells. A model without a seed channel
(nuclei) keeps the interiors' watershed.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from cells_data import make_cells, mean_best_iou
from napari_selfsup_seg._config import ModelBundleConfig, ModelConfig, PredictConfig, TrainConfig
from napari_selfsup_seg._errors import InputError
from napari_selfsup_seg._progress import drain
from napari_selfsup_seg.data._diameter import diameter_of_labels
from napari_selfsup_seg.data._normalize import percentile_normalize
from napari_selfsup_seg.inference._postprocess import probabilities_to_instances
from napari_selfsup_seg.inference._seeded import find_nuclei, plane_instances


@pytest.fixture(scope="module")
def cells():
    cyto, nuc, truth = make_cells(n_side=4, spacing=36, nucleus=6, seed=2)
    x = percentile_normalize(
        np.stack([cyto, nuc]).astype(np.float32), ModelBundleConfig().normalization
    )
    fg = truth > 0
    # Foreground found, lines between cells missed: interior everywhere in the cells.
    probs = np.stack([np.where(fg, 0.05, 0.95), np.where(fg, 0.9, 0.03), np.full(fg.shape, 0.02)])
    return x, probs.astype(np.float32), truth


def _model(seed_channel, seed_diameter=None):
    bundle = ModelBundleConfig(
        model=ModelConfig.tiny(in_channels=2), diameter=36.0, seed_channel=seed_channel,
        seed_diameter=seed_diameter,
    )  # fmt: skip
    return SimpleNamespace(config=bundle)


def test_nuclei_of_the_seed_channel_are_found(cells):
    x, _, truth = cells
    nuclei = find_nuclei(x[1], 12.0)
    assert int(nuclei.max()) == len(np.unique(truth)) - 1
    # One nucleus per cell.
    assert len(np.unique(truth[nuclei > 0])) == int(nuclei.max())


def test_seeded_model_grows_one_cell_per_nucleus(cells):
    x, probs, truth = cells
    config = PredictConfig(diameter=36.0)
    seeded = plane_instances(_model(1, 12.0), probs, x, config)
    assert int(seeded.max()) == len(np.unique(truth)) - 1
    assert mean_best_iou(seeded, truth) > 0.8
    # Without a recorded nucleus diameter, half the cell diameter does as well here.
    assert mean_best_iou(plane_instances(_model(1), probs, x, config), truth) > 0.8
    # The interiors' watershed cuts the merged foreground by its shape instead.
    shape_split = plane_instances(_model(None), probs, x, config)
    assert mean_best_iou(shape_split, truth) < mean_best_iou(seeded, truth) - 0.2


def test_models_without_seed_channel_keep_the_watershed(cells):
    x, probs, _ = cells
    config = PredictConfig(diameter=36.0)
    expected = probabilities_to_instances(probs, config)
    np.testing.assert_array_equal(plane_instances(_model(None), probs, x, config), expected)
    # A single-channel input has no seed channel to read.
    np.testing.assert_array_equal(plane_instances(_model(1), probs, x[:1], config), expected)


def test_seed_channel_is_validated_and_saved():
    with pytest.raises(InputError, match="seed_channel"):
        ModelBundleConfig(model=ModelConfig.tiny(in_channels=2), seed_channel=2)
    with pytest.raises(InputError, match="two inputs"):
        ModelBundleConfig(model=ModelConfig.tiny(in_channels=1), seed_channel=0)
    bundle = _model(1, 11.5).config
    again = ModelBundleConfig.from_dict(bundle.to_dict())
    assert (again.seed_channel, again.seed_diameter) == (1, 11.5)
    assert ModelBundleConfig.from_dict(ModelBundleConfig().to_dict()).seed_channel is None


def test_training_records_the_seed_channel_and_fine_tuning_keeps_it(cells):
    pytest.importorskip("torch")
    from napari_selfsup_seg.train._supervised import train_iter

    cyto, nuc, truth = make_cells(n_side=2, spacing=32, seed=3)
    image = np.stack([cyto, nuc])
    tc = TrainConfig(steps=2, batch_size=2, tile_size=64, device="cpu", seed=0)
    nucleus = diameter_of_labels([find_nuclei(nuc, 12.0)])
    first = drain(train_iter([image], [truth], tc, seed_channel=1, seed_diameter=nucleus))
    assert first.config.seed_channel == 1 and first.config.seed_diameter == pytest.approx(nucleus)
    tuned = drain(train_iter([image], [truth], tc, init=first))
    assert (tuned.config.seed_channel, tuned.config.seed_diameter) == (
        1,
        first.config.seed_diameter,
    )


def test_cli_train_records_the_seed_channel_and_segment_uses_it(tmp_path, capsys):
    pytest.importorskip("torch")
    import json

    import tifffile

    from napari_selfsup_seg.cli.main import main

    cyto, nuc, truth = make_cells(n_side=2, spacing=32, seed=4)
    tifffile.imwrite(tmp_path / "cells.tif", np.stack([cyto, nuc]), metadata={"axes": "CYX"},
                     imagej=True)  # fmt: skip
    tifffile.imwrite(tmp_path / "mask.tif", truth.astype(np.uint16))
    fast = ["--steps", "2", "--batch-size", "2", "--tile-size", "64", "--device", "cpu", "--quiet"]
    train = ["train", "--images", str(tmp_path / "cells.tif"), "--out"]
    assert (
        main(
            [
                *train,
                str(tmp_path / "m"),
                "--masks",
                str(tmp_path / "mask.tif"),
                "--seed-channel",
                "-1",
                *fast,
            ]
        )
        == 0
    )
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["seed_channel"] == 1 and cfg["seed_diameter"] > 1
    capsys.readouterr()
    args = ["segment", "--model", str(tmp_path / "m"), str(tmp_path / "cells.tif")]
    assert main([*args, "--out", str(tmp_path / "seg"), "--device", "cpu", "--quiet"]) == 0
    # Without masks, the seed channel needs the cells' channel beside it.
    assert main([*train, str(tmp_path / "m2"), "--seed-channel", "1", *fast]) == 2
    assert "--seed-channel without --masks needs" in capsys.readouterr().err


def test_cli_label_free_cells_grow_from_the_seed_channel(tmp_path, capsys):
    """``train`` without masks: whole cells of --input-channel grown from --seed-channel's nuclei
    train a two-input network that records its seeds, and ``segment`` reads both channels."""
    pytest.importorskip("torch")
    import json

    import tifffile

    from napari_selfsup_seg.cli.main import main

    cyto, nuc, _truth = make_cells(n_side=3, spacing=32, seed=5)
    path = tmp_path / "cells.tif"
    tifffile.imwrite(path, np.stack([nuc, cyto]), metadata={"axes": "CYX"}, imagej=True)
    fast = ["--steps", "2", "--batch-size", "2", "--tile-size", "64", "--device", "cpu", "--quiet"]
    args = ["train", "--images", str(path), "--out", str(tmp_path / "m"), "--input-channel", "1"]
    assert main([*args, "--seed-channel", "0", "--rounds", "0", *fast]) == 0
    assert "cells grown from nuclei" in capsys.readouterr().out
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["input_channels"] == [1, 0]
    assert cfg["seed_channel"] == 1 and cfg["seed_diameter"] > 1
    assert cfg["model"]["in_channels"] == 2
    assert cfg["provenance"]["pseudo_mask"] == "threshold cells"
    seg = ["segment", "--model", str(tmp_path / "m"), str(path), "--out", str(tmp_path / "seg")]
    assert main([*seg, "--device", "cpu", "--quiet"]) == 0
    assert tifffile.imread(next((tmp_path / "seg").glob("*.tif"))).shape == cyto.shape
    # The seed channel must be another channel than the cells'.
    bad = [*args[:-2], "--input-channel", "0", "--seed-channel", "0", *fast]
    assert main(bad) == 2
    assert "another channel of the images as seeds" in capsys.readouterr().err
