"""Every object's own edge: bright, dim and small blurred objects keep their true size."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_selfsup_seg._errors import InputError
from napari_selfsup_seg._progress import drain
from napari_selfsup_seg.pseudo._edges import local_edges
from napari_selfsup_seg.pseudo._threshold import ThresholdConfig, threshold_iter


def _discs(diameter: float, blur: float, seed: int = 0):
    """A 160² plane of well separated discs of brightness 0.4 to 1.6, blurred, and their truth."""
    rng = np.random.default_rng(seed)
    truth = np.zeros((160, 160), np.int32)
    yy, xx = np.mgrid[:160, :160]
    step = int(2.2 * diameter)
    k = 0
    for y in range(step // 2, 160 - step // 2, step):
        for x in range(step // 2, 160 - step // 2, step):
            k += 1
            truth[(yy - y) ** 2 + (xx - x) ** 2 <= (diameter / 2) ** 2] = k
    amp = np.concatenate([[0.0], rng.uniform(0.4, 1.6, k)])
    image = ndi.gaussian_filter(amp[truth], blur) + 0.1 + rng.normal(0, 0.02, truth.shape)
    return image.astype(np.float32), truth


def _area_ratios(labels: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Area of the predicted object over the true one, per true object that was found."""
    ratios = []
    for k in range(1, truth.max() + 1):
        hit = np.bincount(labels[truth == k])
        hit[0] = 0
        if hit.max() > 0:
            ratios.append((labels == hit.argmax()).sum() / (truth == k).sum())
    return np.array(ratios)


@pytest.mark.parametrize(("diameter", "blur"), [(8, 2.0), (16, 1.5)])
def test_bright_and_dim_objects_keep_their_size(diameter, blur):
    image, truth = _discs(diameter, blur)
    result = {}
    for fraction in (0.0, 0.3):
        out = drain(threshold_iter([image], ThresholdConfig(edge_fraction=fraction)))
        result[fraction] = _area_ratios(out.labels[0], truth)
        assert len(result[fraction]) >= 0.7 * truth.max()
    # One global cut: the spread of sizes follows the spread of brightness.
    spread_global = np.percentile(result[0.0], 90) / np.percentile(result[0.0], 10)
    spread_own = np.percentile(result[0.3], 90) / np.percentile(result[0.3], 10)
    assert spread_own < spread_global
    assert 0.8 < np.median(result[0.3]) < 1.3
    assert np.percentile(result[0.3], 10) > 0.7
    if diameter < 4 * blur:
        # Small blurred objects: a global cut makes the bright ones far too large.
        assert np.percentile(result[0.0], 90) > 1.6 > np.percentile(result[0.3], 90)


def test_local_edges_keep_objects_and_centre_the_map_on_each_edge():
    image, truth = _discs(12, 1.0)
    found = ndi.binary_dilation(truth > 0, iterations=2)
    labels, _ = ndi.label(found)
    global_map = np.where(found, 0.9, 0.1).astype(np.float32)
    out, prob = local_edges(image, labels, global_map, 12, fraction=0.3, softness=0.05)
    assert set(np.unique(out)) == set(np.unique(labels))
    # Every object shrank back from the dilated outline towards its true disc.
    assert (out > 0).sum() < (labels > 0).sum()
    assert abs((out > 0).sum() / (truth > 0).sum() - 1) < 0.25
    # The map reads above 0.5 inside the objects and below it on the zones' background.
    assert (prob[out > 0] >= 0.5).mean() > 0.95
    zone_bg = (labels > 0) & (out == 0)
    assert (prob[zone_bg] < 0.5).mean() > 0.95


def test_recut_reproduces_the_run_and_rejects_a_bad_fraction():
    image, _truth = _discs(10, 1.5)
    out = drain(threshold_iter([image], ThresholdConfig()))
    np.testing.assert_array_equal(out.recut(0, out.thresholds[0]), out.labels[0])
    assert out.recut(0, 0.8).astype(bool).sum() < out.labels[0].astype(bool).sum()
    with pytest.raises(InputError, match="edge_fraction"):
        ThresholdConfig(edge_fraction=1.5)


def test_recut_of_rods_cuts_them_as_rods():
    """Elongated objects: the slider's recut splits them as the run did (along their width)."""
    yy, xx = np.mgrid[:128, :128]
    truth = np.zeros((128, 128), np.int32)
    for k, (y, x) in enumerate([(20, 20), (20, 70), (60, 30), (60, 80), (100, 20), (100, 70)], 1):
        truth[(np.abs(yy - y) <= 3) & (np.abs(xx - x) <= 18)] = k
    rng = np.random.default_rng(1)
    image = ndi.gaussian_filter((truth > 0).astype(float), 1.0) + rng.normal(0, 0.03, truth.shape)
    out = drain(threshold_iter([image.astype(np.float32)], ThresholdConfig()))
    assert out.recut_inputs[0]["width"] is not None
    np.testing.assert_array_equal(out.recut(0, out.thresholds[0]), out.labels[0])
