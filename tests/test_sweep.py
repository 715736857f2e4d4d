"""Label-free threshold sweep."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_selfsup_seg._errors import InputError
from napari_selfsup_seg.pseudo._sweep import normalized_mutual_information, threshold_sweep


def _blobs(seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:96, :96]
    truth = np.zeros((96, 96), bool)
    for cy, cx in [(20, 20), (60, 30), (40, 70), (75, 75)]:
        truth |= (yy - cy) ** 2 + (xx - cx) ** 2 < 64
    image = 100 + 400 * truth + rng.normal(0, 20, truth.shape)
    # A smooth map that is 0.7 on the object edge: the right cut is near 0.7, not 0.5.
    inside = ndi.distance_transform_edt(truth) - ndi.distance_transform_edt(~truth)
    prob = 1 / (1 + np.exp(-(inside + 0.85) / 1.0))
    return image, prob.astype(np.float32), truth


def test_sweep_picks_a_cut_that_matches_the_objects():
    image, prob, truth = _blobs()
    res = threshold_sweep(prob, image)
    assert len(res.thresholds) == len(res.scores) == 19
    assert res.best_score == pytest.approx(res.scores.max())
    best_mask = prob >= res.best_threshold
    dice = 2 * (best_mask & truth).sum() / (best_mask.sum() + truth.sum())
    assert dice > 0.9
    # Extreme cuts must score worse than the chosen one.
    assert res.scores[0] < res.best_score and res.scores[-1] < res.best_score
    assert 0.5 <= res.best_threshold <= 0.85
    assert set(res.to_dict()) >= {"thresholds", "scores", "best_threshold"}


def test_sweep_rejects_constant_map_and_bad_shapes():
    image, prob, _ = _blobs()
    with pytest.raises(InputError, match="constant"):
        threshold_sweep(np.full_like(prob, 0.3), image, name="x.tif")
    with pytest.raises(InputError, match="differs"):
        threshold_sweep(prob[:50], image)
    with pytest.raises(InputError, match="constant"):
        threshold_sweep(prob, np.ones_like(image))


def test_nmi_bounds():
    q = np.repeat(np.arange(4), 25).reshape(10, 10)
    assert normalized_mutual_information(q >= 2, q) > 0.6
    assert normalized_mutual_information(np.zeros_like(q, bool), q) == 0.0


def test_nmi_score_is_available():
    image, prob, _ = _blobs()
    res = threshold_sweep(prob, image, score="nmi")
    assert res.score == "nmi" and 0 < res.best_score <= 1
    with pytest.raises(InputError, match="score"):
        threshold_sweep(prob, image, score="dice")
