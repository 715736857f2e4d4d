"""Tiled prediction, instance post-processing and stacks with channels and planes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from napari_selfsup_seg._config import ModelConfig, PredictConfig, TrainConfig
from napari_selfsup_seg._errors import InputError
from napari_selfsup_seg._progress import Progress, drain
from napari_selfsup_seg.data._synthetic import make_sample
from napari_selfsup_seg.inference._postprocess import probabilities_to_instances
from napari_selfsup_seg.inference._predict import (
    predict_iter,
    predict_labels,
    predict_probabilities,
    predict_stack,
)
from napari_selfsup_seg.inference._tiling import axis_tiles, tile_grid
from napari_selfsup_seg.io._image import ImageStack

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def sample():
    return make_sample((80, 96), n_nuclei=6, seed=2)


@pytest.fixture(scope="module")
def model(sample):
    """A tiny model trained briefly on channel 1 (fluorescence) of 2-channel images."""
    from napari_selfsup_seg.train._supervised import train

    return train(
        [sample.stack()],
        [sample.labels],
        train_config=TrainConfig(
            steps=6, batch_size=2, tile_size=64, device="cpu", input_channel=1
        ),
        model_config=ModelConfig.tiny(),
    )


@pytest.mark.parametrize("length", [1, 31, 64, 65, 100, 257, 1000])
def test_axis_tiles_cover_with_overlap(length):
    tile, overlap = 64, 16
    tl, starts = axis_tiles(length, tile, overlap, 32)
    assert tl % 32 == 0 and tl <= max(tile, 32 * -(-length // 32))
    assert starts[0] == 0 and starts[-1] + tl >= length
    for a, b in itertools.pairwise(starts):
        assert a + tl - b >= overlap
    padded, tiles = tile_grid((length, 50), tile, overlap, 32)
    assert padded[0] >= length and len(tiles) == len(starts) * len(axis_tiles(50, 64, 16)[1])
    assert all(w.min() > 0 and w.max() <= 1 for _, _, w in tiles)


def test_tiled_equals_untiled(model, sample):
    whole = predict_probabilities(model, sample.stack(), PredictConfig(tile_size=256))
    tiled = predict_probabilities(
        model, sample.stack(), PredictConfig(tile_size=64, overlap=24, batch_size=3)
    )
    assert whole.shape == tiled.shape == (3, 80, 96) and whole.dtype == np.float32
    np.testing.assert_allclose(whole.sum(0), 1.0, atol=1e-4)
    np.testing.assert_allclose(tiled.sum(0), 1.0, atol=1e-4)
    diff = np.abs(whole - tiled)
    assert diff.mean() < 0.01 and diff.max() < 0.15


@pytest.mark.parametrize("shape", [(50, 70), (17, 33), (130, 40)])
def test_any_size(model, sample, shape):
    image = np.tile(sample.stack(), (1, 2, 2))[:, : shape[0], : shape[1]]
    probs = predict_probabilities(model, image, PredictConfig(tile_size=64, overlap=16))
    assert probs.shape == (3, *shape)
    assert np.isfinite(probs).all()
    labels = predict_labels(model, image[1], PredictConfig(tile_size=64, overlap=16))
    assert labels.shape == shape and labels.dtype == np.int32


def test_probabilities_to_instances_splits_touching_objects():
    yy, xx = np.mgrid[0:40, 0:60]
    d1 = np.hypot(yy - 20, xx - 20)
    d2 = np.hypot(yy - 20, xx - 38)
    fg = (d1 < 10) | (d2 < 10)
    interior = ((d1 < 7) | (d2 < 7)).astype(np.float32)
    boundary = (fg & (interior == 0)).astype(np.float32)
    probs = np.stack([1.0 - fg, interior, boundary]).astype(np.float32)
    labels = probabilities_to_instances(probs, PredictConfig(min_size=5))
    assert labels.max() == 2
    assert labels[20, 20] != labels[20, 38] and labels[20, 20] > 0
    assert ((labels > 0) == fg).all()
    # A foreground blob without any interior still becomes an object; tiny ones are dropped.
    probs2 = probs.copy()
    probs2[:, 0:6, 50:56] = np.array([0.0, 0.2, 0.8])[:, None, None]
    probs2[:, 35:37, 0:2] = np.array([0.0, 0.2, 0.8])[:, None, None]
    labels2 = probabilities_to_instances(probs2, PredictConfig(min_size=5))
    assert labels2.max() == 3 and labels2[35, 0] == 0
    with pytest.raises(InputError):
        probabilities_to_instances(probs[:2])


def test_predict_iter_yields_per_batch_and_stops(model, sample):
    planes = [sample.stack()] * 3
    cfg = PredictConfig(tile_size=64, overlap=16, batch_size=2)
    records: list[Progress] = []
    labels, fg = drain(predict_iter(model, planes, cfg), records.append)
    assert labels.shape == (3, 80, 96) and fg.shape == (3, 80, 96)
    assert labels.dtype == np.int32 and fg.dtype == np.float32
    assert 0 <= fg.min() and fg.max() <= 1
    # 4 tiles per plane in batches of 2: at least 2 records per plane.
    assert len(records) >= 6 and records[-1].done == records[-1].total
    assert all(np.array_equal(labels[0], labels[i]) for i in (1, 2))
    n = {"calls": 0}

    def stop():
        n["calls"] += 1
        return n["calls"] > 2

    part, _ = drain(predict_iter(model, planes, cfg, stop=stop))
    assert len(part) == 1


def test_predict_stack_channels_and_planes(model, sample):
    zcyx = np.stack([sample.stack()] * 2)
    stack = ImageStack(zcyx, "ZCYX")
    labels = predict_stack(model, stack, PredictConfig(tile_size=64, overlap=16))
    assert labels.shape == (2, 80, 96)
    single = predict_labels(model, sample.fluorescence, PredictConfig(tile_size=64, overlap=16))
    np.testing.assert_array_equal(labels[0], single)
    labels, fg = predict_stack(
        model,
        ImageStack(np.stack([zcyx] * 2), "TZCYX"),
        PredictConfig(tile_size=64, overlap=16),
        with_probability=True,
    )
    assert labels.shape == fg.shape == (2, 2, 80, 96)
    with pytest.raises(InputError, match="channel"):
        predict_stack(model, ImageStack(sample.fluorescence, "YX"))
    with pytest.raises(InputError, match="channel"):
        predict_stack(model, ImageStack(np.stack([sample.brightfield] * 3)[:1], "CYX"))


def test_save_load_round_trip(model, sample, tmp_path):
    from napari_selfsup_seg.models._factory import load_model

    model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m", device="cpu")
    assert loaded.config.input_channels == [1]
    cfg = PredictConfig(tile_size=64, overlap=16)
    a = predict_probabilities(model, sample.stack(), cfg)
    b = predict_probabilities(tmp_path / "m", sample.stack(), cfg)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(
        predict_labels(model, sample.stack(), cfg), predict_labels(loaded, sample.stack(), cfg)
    )


def test_bad_prediction_input(model, sample):
    bad = sample.stack().astype(np.float32)
    bad[1, 2, 2] = np.nan
    with pytest.raises(InputError, match="NaN"):
        predict_probabilities(model, bad)
    with pytest.raises(InputError, match="constant"):
        predict_probabilities(model, np.zeros((2, 40, 40), np.uint16))
    with pytest.raises(InputError):
        predict_probabilities(model, np.zeros((2, 2, 40, 40)))


def test_test_time_flips_average_the_flipped_predictions(model, sample):
    """flips=4 is the mean of the softmax of the four flips of the plane, mapped back."""
    plane = sample.stack()
    cfg = PredictConfig(tile_size=128, device="cpu")
    one = predict_probabilities(model, plane, cfg)
    four = predict_probabilities(model, plane, PredictConfig(tile_size=128, device="cpu", flips=4))
    assert four.shape == one.shape
    np.testing.assert_allclose(four.sum(0), 1.0, atol=1e-5)
    manual = []
    for axes in ((), (-1,), (-2,), (-2, -1)):
        flipped = np.ascontiguousarray(np.flip(plane, axes)) if axes else plane
        p = predict_probabilities(model, flipped, cfg)
        manual.append(np.flip(p, axes) if axes else p)
    np.testing.assert_allclose(four, np.mean(manual, 0), atol=1e-4)
    assert np.abs(four - one).max() > 1e-4  # an untrained-ish net is not flip-invariant
    with pytest.raises(InputError, match="flips"):
        PredictConfig(flips=3)
