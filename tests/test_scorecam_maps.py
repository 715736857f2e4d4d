"""Sharper Score-CAM maps: the stride of the layers they are read from, the refinements, and
the automatic cut of the map."""

import numpy as np
import pytest
import torch
from skimage.filters import threshold_otsu

from napari_selfsup_seg._errors import InputError
from napari_selfsup_seg.pseudo._cam import CAM_LAYERS, _capture, scorecam
from napari_selfsup_seg.pseudo._classifier import WeakClassifier
from napari_selfsup_seg.pseudo._refine import (
    guided_filter,
    map_cut,
    refine_map,
    superpixel_pool,
)
from napari_selfsup_seg.pseudo._result import cut_plane
from napari_selfsup_seg.pseudo._scorecam import ScoreCAMConfig, auto_cut, scorecam_map
from napari_selfsup_seg.pseudo._threshold import split_recut

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("which", CAM_LAYERS)
def test_cam_layers_have_the_stride_they_claim(which):
    torch.manual_seed(0)
    net = WeakClassifier(width=4).eval()
    layers, stride = net.cam_layers(which)
    x = torch.rand(1, 1, 64, 96)
    with torch.inference_mode():
        _, acts = _capture(net, layers, x)
    assert acts.shape[-2:] == (64 // stride, 96 // stride)
    channels = sum(next(m[0].parameters()).shape[0] for m in layers)
    assert acts.shape[1] == channels


def test_default_maps_are_read_at_stride_four_or_finer():
    net = WeakClassifier(width=4)
    assert net.cam_layers(ScoreCAMConfig().cam_layers)[1] <= 4
    assert net.cam_layers("stride8")[1] == 8
    with pytest.raises(InputError, match="cam_layers"):
        net.cam_layers("stride16")


def test_fused_layers_give_one_map_at_the_input_size():
    """Stride-2 activations are a 32-px grid on 64 px, stride 8 an 8-px one; fused, one map."""
    torch.manual_seed(0)
    net = WeakClassifier(width=4).eval()
    x = np.zeros((64, 64), np.float32)
    x[30:33, 26:29] = x[30:33, 35:38] = 1.0
    layers = net.cam_layers("stride2")[0]
    with torch.inference_mode():
        _, fine = _capture(net, layers, torch.from_numpy(x)[None, None])
        _, coarse = _capture(net, net.cam_layers("stride8")[0], torch.from_numpy(x)[None, None])
    assert fine.shape[-1] == 32 and coarse.shape[-1] == 8
    # Score-CAM on several layers at once returns a map at the input size.
    m = scorecam(net, net.cam_layers("fused")[0], x, 1, weighting="softmax")
    assert m.shape == (1, 64, 64) and np.isfinite(m).all()


def _step(shape=(48, 48)):
    """A sharp-edged bright square (the image) and a blurred, shifted copy (a coarse map)."""
    from scipy import ndimage as ndi

    image = np.full(shape, 10.0)
    image[12:36, 12:36] = 100.0
    image += np.random.default_rng(0).normal(0, 1, shape)
    truth = image > 55
    coarse = ndi.gaussian_filter(np.roll(truth.astype(float), 2, 1), 5)
    return image, truth, coarse / coarse.max()


def _f1(mask, truth):
    return 2 * (mask & truth).sum() / (mask.sum() + truth.sum())


@pytest.mark.parametrize("how", ["guided", "superpixels"])
def test_refinement_snaps_a_coarse_map_to_the_image_edges(how):
    image, truth, coarse = _step()
    refined = refine_map(coarse, image, how, 8.0)
    assert refined.shape == image.shape and refined.dtype == np.float32
    assert refined.min() == 0.0 and refined.max() == pytest.approx(1.0)
    assert _f1(refined >= 0.5, truth) > _f1(coarse >= 0.5, truth) + 0.03


def test_refinements_handle_flat_input_and_bad_names():
    image, _, coarse = _step()
    assert not guided_filter(np.zeros_like(coarse), image, 4).any()
    pooled = superpixel_pool(coarse, image, 6.0)
    assert np.unique(pooled).size < np.unique(coarse).size
    assert refine_map(coarse, image, "none", 8.0) is not None
    with pytest.raises(ValueError, match="refine"):
        refine_map(coarse, image, "bilateral", 8.0)
    with pytest.raises(InputError, match="refine"):
        ScoreCAMConfig(refine="bilateral")
    with pytest.raises(InputError, match="cam_layers"):
        ScoreCAMConfig(cam_layers="stride16")


def test_scorecam_map_refines_at_the_plane_size():
    torch.manual_seed(0)
    net = WeakClassifier(width=4).eval()
    image, _, _ = _step((40, 56))
    for refine in ("none", "guided", "superpixels"):
        cfg = ScoreCAMConfig(refine=refine)
        m = scorecam_map(net, image, 32, (0.0, 100.0), cfg)
        assert m.shape == (40, 56) and 0.0 <= m.min() and m.max() <= 1.0


def test_map_cut_separates_the_object_from_middling_responses():
    """Background near 0.1, other bright things near 0.35, the object near 0.9: the cut lies
    between the object and the rest, where a two-class cut would take the other things in."""
    rng = np.random.default_rng(0)
    cam = np.clip(rng.normal(0.1, 0.03, (64, 64)), 0, 1)
    cam[2:32, 2:32] = rng.normal(0.35, 0.03, (30, 30))
    cam[44:52, 44:52] = rng.normal(0.9, 0.03, (8, 8))
    cut = map_cut(cam)
    assert (cam[44:52, 44:52] >= cut).all() and (cam[2:32, 2:32] >= cut).mean() < 0.05
    assert threshold_otsu(cam) < 0.3  # two classes: the middling square would be taken in
    assert map_cut(np.full((8, 8), 0.3)) == 0.5
    # Pasted crops: exact zeros outside them are left out.
    pasted = np.zeros((128, 128))
    pasted[:64, :64] = cam
    assert map_cut(pasted) == pytest.approx(cut, abs=0.05)


def test_cut_plane_uses_the_method_choice_and_reports_it_in_the_sweep():
    image, truth, _ = _step()
    cam = np.where(truth, 0.9, 0.1) + np.random.default_rng(1).normal(0, 0.02, truth.shape)
    cam = np.clip(cam, 0, 1)
    labels, cut, sweep = cut_plane(cam, image, None, split_recut, ScoreCAMConfig(), "x",
                                   choose=lambda m: 0.42)  # fmt: skip
    assert cut == 0.42 and sweep is not None and sweep.best_threshold == 0.42
    assert (labels > 0).sum() == pytest.approx(truth.sum(), rel=0.1)
    cfg = ScoreCAMConfig(auto_cut="sweep")
    assert auto_cut(cfg) is None and auto_cut(ScoreCAMConfig()) is map_cut
    with pytest.raises(InputError, match="auto_cut"):
        ScoreCAMConfig(auto_cut="li")
