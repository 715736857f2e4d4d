"""The object diameter a model records from its training masks, and prediction sized by it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_selfsup_seg._config import (
    IGNORE_LABEL,
    ModelBundleConfig,
    ModelConfig,
    PredictConfig,
    TrainConfig,
)
from napari_selfsup_seg.cli._common import config_from_args
from napari_selfsup_seg.cli.main import build_parser
from napari_selfsup_seg.data._diameter import diameter_of_labels, sizes_for_diameter
from napari_selfsup_seg.data._synthetic import make_sample
from napari_selfsup_seg.inference._input import model_predict_config
from napari_selfsup_seg.inference._postprocess import post_sizes, probabilities_to_instances
from napari_selfsup_seg.pseudo._threshold import ThresholdConfig, derived_sizes

torch = pytest.importorskip("torch")


def discs(radius: float, shape=(160, 160), centres=((40, 40), (40, 120), (120, 40), (120, 120))):
    """Labels ``(Y, X)`` of discs of one radius."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    labels = np.zeros(shape, np.int32)
    for k, (cy, cx) in enumerate(centres, start=1):
        labels[(yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2] = k
    return labels


def holed_probabilities(labels: np.ndarray) -> np.ndarray:
    """Class probabilities ``(3, Y, X)`` of ``labels`` whose predicted interiors have three
    small dim spots each (as a textured large nucleus gives): still foreground, not interior."""
    yy, xx = np.indices(labels.shape)
    spots = np.zeros(labels.shape, bool)
    for y, x in ndi.center_of_mass(labels > 0, labels, range(1, labels.max() + 1)):
        for dy, dx in ((-8, -6), (7, 9), (3, -12)):
            spots |= (yy - y - dy) ** 2 + (xx - x - dx) ** 2 <= 16
    fg = labels > 0
    inner = ndi.binary_erosion(fg, iterations=2) & ~spots
    p1 = np.where(inner, 0.9, np.where(fg, 0.3, 0.05))
    p2 = np.where(fg & ~inner, 0.6, 0.02)
    return np.stack([1 - p1 - p2, p1, p2]).astype(np.float32)


def test_diameter_of_labels_ignores_background_unreviewed_and_specks():
    labels = discs(20.0)
    true = 2 * np.sqrt((labels == 1).sum() / np.pi)
    labels[:, 150:] = IGNORE_LABEL  # a large unreviewed band is no object
    labels[2:4, 2:4] = 9  # a speck
    assert diameter_of_labels([labels]) == pytest.approx(true, rel=1e-6)
    assert diameter_of_labels(labels) == diameter_of_labels([labels])  # one plane as an array
    assert diameter_of_labels([np.zeros((32, 32), np.int32)]) is None
    # a (Z, Y, X) array is split into planes
    assert diameter_of_labels(np.stack([discs(10.0), discs(10.0)])) == pytest.approx(
        2 * np.sqrt((discs(10.0) == 1).sum() / np.pi)
    )


def test_prediction_and_teacher_share_the_size_rule():
    for d in (8.0, 15.0, 50.0):
        assert derived_sizes(ThresholdConfig(), d) == tuple(sizes_for_diameter(d))
    sizes = sizes_for_diameter(50.0)
    assert post_sizes(PredictConfig(diameter=50.0)) == (
        sizes.min_size,
        sizes.min_distance,
        sizes.sigma,
    )
    # an explicit min_size wins over the derived one
    assert post_sizes(PredictConfig(diameter=50.0, min_size=7))[0] == 7


def test_without_a_diameter_the_sizes_are_the_fixed_ones():
    assert post_sizes(PredictConfig()) == (16, 4, 1.0)
    assert post_sizes(PredictConfig(min_size=5)) == (5, 4, 1.0)


def test_large_diameter_keeps_large_objects_whole():
    labels = discs(25.0)
    probs = holed_probabilities(labels)
    fixed = probabilities_to_instances(probs, PredictConfig())
    sized = probabilities_to_instances(probs, PredictConfig(diameter=50.0))
    pieces = [len(np.unique(sized[labels == k])) for k in range(1, 5)]
    assert pieces == [1, 1, 1, 1] and sized.max() == 4
    # the fixed sizes, made for ~15 px nuclei, split these 50 px ones into fragments
    assert fixed.max() > 4


def test_training_records_the_diameter_of_its_masks():
    from napari_selfsup_seg.train._supervised import train

    s = make_sample((128, 128), n_nuclei=5, radius=(18.0, 22.0), touching=0.0, seed=1)
    masks = s.labels.copy()
    masks[:8] = IGNORE_LABEL
    model = train(
        [s.fluorescence],
        [masks],
        train_config=TrainConfig(steps=1, batch_size=1, tile_size=64, device="cpu"),
        model_config=ModelConfig.tiny(),
    )
    assert model.config.diameter == pytest.approx(40.0, rel=0.2)
    assert model.config.diameter == pytest.approx(diameter_of_labels([masks]))
    # the model's diameter sizes its prediction unless the config names another one
    assert model_predict_config(model, PredictConfig()).diameter == model.config.diameter
    assert model_predict_config(model, PredictConfig(diameter=12.0)).diameter == 12.0


def test_old_model_without_a_diameter_loads_and_predicts_as_before(model_dir, tmp_path):
    from napari_selfsup_seg.inference._predict import predict_labels, predict_probabilities
    from napari_selfsup_seg.models._factory import load_model

    old = tmp_path / "old"
    old.mkdir()
    for f in model_dir.iterdir():
        (old / f.name).write_bytes(f.read_bytes())
    raw = json.loads((old / "config.json").read_text())
    raw.pop("diameter", None)
    (old / "config.json").write_text(json.dumps(raw))
    assert ModelBundleConfig.from_dict(raw).diameter is None
    model = load_model(old, device="cpu")
    assert model.config.diameter is None
    image = make_sample((64, 64), seed=0).fluorescence
    config = PredictConfig(device="cpu", tile_size=64, overlap=16)
    probs = predict_probabilities(model, image, config)
    # fixed sizes: min_size 16, seeds 4 px apart, 1 px smoothing
    before = probabilities_to_instances(probs, config, min_distance=4)
    assert np.array_equal(predict_labels(model, image, config), before)


@pytest.mark.parametrize(
    "argv",
    [
        ["segment", "--model", "m", "a.tif", "--out", "o"],
        ["segment-folder", "--model", "m", "i", "o"],
    ],
)
def test_diameter_flag_overrides(argv):
    parser = build_parser()
    assert config_from_args(PredictConfig, parser.parse_args(argv)) == PredictConfig()
    args = parser.parse_args([*argv, "--diameter", "30"])
    assert config_from_args(PredictConfig, args).diameter == 30.0
