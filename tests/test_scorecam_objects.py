"""Score-CAM maps pooled over the image's own objects (``refine="objects"``): whole objects
are kept or dropped, the polarity comes from the maps of the whole set, and the pooled map is
calibrated so that its own cut is 0.5."""

import numpy as np
import pytest
import torch
from scipy import ndimage as ndi

from napari_selfsup_seg._progress import drain
from napari_selfsup_seg.pseudo._classifier import WeakClassifier
from napari_selfsup_seg.pseudo._refine import (
    map_cut,
    object_cut,
    object_pool,
    polarity_evidence,
)
from napari_selfsup_seg.pseudo._scorecam import ScoreCAMConfig, scorecam_map_iter
from napari_selfsup_seg.pseudo._weak import WeakClassifierFit

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _scene(seed=0, dark=False):
    """A plane with a bright irregular "artifact" and two bright round "nuclei", and a coarse
    map: blurred, shifted off the artifact, and mildly high on the nuclei too."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:96, :96]
    artifact = ((yy - 30) ** 2 / 120 + (xx - 60) ** 2 / 30 < 1) | (
        (np.abs(yy - 30 - 0.5 * (xx - 60)) < 2) & (np.abs(xx - 60) < 14)
    )
    nuclei = ((yy - 70) ** 2 + (xx - 25) ** 2 < 80) | ((yy - 72) ** 2 + (xx - 70) ** 2 < 60)
    image = 10.0 + 90.0 * (artifact | nuclei) + rng.normal(0, 3, yy.shape)
    if dark:
        image = 110.0 - image
    coarse = ndi.gaussian_filter(np.roll(artifact.astype(float), 3, 0), 6)
    coarse = coarse / coarse.max() + 0.3 * ndi.gaussian_filter(nuclei.astype(float), 6)
    return image, artifact, coarse / coarse.max()


def _f1(mask, truth):
    return 2 * (mask & truth).sum() / (mask.sum() + truth.sum())


def test_objects_keep_the_artifact_whole_and_drop_the_nuclei():
    image, artifact, coarse = _scene()
    pooled = object_pool(coarse, image)
    assert pooled.dtype == np.float32 and pooled.min() == 0.0 and pooled.max() == 1.0
    # One value per object: the artifact is cut out whole at 0.5, the nuclei are not taken in.
    assert _f1(pooled >= 0.5, artifact) > 0.95
    # The coarse map itself, cut at its own map cut, is well below that.
    assert _f1(coarse >= map_cut(coarse), artifact) < 0.8
    # Calibrated: the map cut of the pooled map is 0.5, so a fixed 0.5 and the auto cut agree.
    assert ((pooled >= map_cut(pooled)) == (pooled >= 0.5)).all()


def test_object_cut_is_exact_for_a_few_distinct_scores():
    """Three objects: the artifact scoring 0.69 and two nuclei near 0.14. A histogram's
    multi-Otsu puts its upper threshold on a bin centre at the higher nucleus and takes it in;
    the exact cut lies halfway between the nuclei and the artifact."""
    scores, sizes = np.array([0.69, 0.147, 0.13]), np.array([247, 100, 80])
    assert object_cut(scores, sizes) == pytest.approx((0.69 + 0.147) / 2)
    assert object_cut(np.array([0.4]), np.array([10])) == pytest.approx(0.2)
    assert object_cut(np.array([0.2, 0.6]), np.array([5, 5])) == pytest.approx(0.4)
    many = np.linspace(0.0, 1.0, 1000) ** 4
    assert 0.0 < object_cut(many, np.ones(1000)) < 1.0


def test_object_polarity_follows_the_map():
    image, artifact, coarse = _scene(dark=True)
    assert polarity_evidence(coarse, image) < 0 < polarity_evidence(*_scene()[::2])
    assert _f1(object_pool(coarse, image) >= 0.5, artifact) > 0.95
    # Told the wrong polarity, the objects are the background: the artifact is not found.
    assert _f1(object_pool(coarse, image, bright=True) >= 0.5, artifact) < 0.5
    assert not object_pool(np.zeros_like(coarse), image).any()
    assert not object_pool(coarse, np.full(image.shape, 3.0)).any()


def test_one_polarity_for_the_set_rescues_a_map_that_points_at_the_background(monkeypatch):
    """Three planes whose maps point at the bright artifact and one whose map is high on the
    background: decided per plane, that plane's objects would be the background; decided for
    the set, its mask is the bright objects the map is highest on."""
    import napari_selfsup_seg.pseudo._scorecam as sc

    scenes = [_scene(seed) for seed in range(4)]
    bad_image, bad_truth, bad_map = scenes[3]
    bad_map = np.clip(1.0 - bad_map + 0.5 * bad_truth, 0, 1)  # high on the background
    maps = [s[2] for s in scenes[:3]] + [bad_map]
    assert polarity_evidence(bad_map, bad_image) < 0
    calls = iter(maps)
    monkeypatch.setattr(sc, "_raw_map", lambda *a: (next(calls).astype(np.float32), 8.0))
    fit = WeakClassifierFit(WeakClassifier(width=4), 32, (0.0, 100.0), 1.0, None)
    cfg = ScoreCAMConfig(refine="objects")
    result = drain(scorecam_map_iter(fit, [s[0] for s in scenes], cfg))
    assert all(_f1(lab > 0, s[1]) > 0.9 for lab, s in zip(result.labels[:3], scenes))
    per_plane = object_pool(bad_map, bad_image)
    assert _f1(per_plane >= 0.5, bad_truth) < 0.2
    assert (result.labels[3] > 0)[bad_image < 50].mean() < 0.01


def test_objects_through_the_pipeline_leave_negative_planes_empty():
    torch.manual_seed(0)
    fit = WeakClassifierFit(WeakClassifier(width=4).eval(), 32, (0.0, 100.0), 1.0, None)
    image, _, _ = _scene()
    result = drain(
        scorecam_map_iter(
            fit, [image, image], ScoreCAMConfig(refine="objects"), positive=[True, False]
        )
    )
    assert not result.maps[1].any() and not result.labels[1].any()
    assert result.maps[0].shape == image.shape and result.maps[0].max() <= 1.0
