"""Score-CAM (chunked, pruned), Grad-CAM preview, and pseudo-masks from weak labels."""

import numpy as np
import pytest
import torch
from torch import nn

from napari_selfsup_seg._errors import InputError
from napari_selfsup_seg._progress import drain
from napari_selfsup_seg.pseudo._scorecam import (
    ScoreCAMConfig,
    gradcam,
    scorecam,
    scorecam_pseudo_masks_iter,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _tiny_model(k=12, seed=0):
    torch.manual_seed(seed)
    feat = nn.Sequential(nn.Conv2d(2, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, k, 3, 2, 1), nn.ReLU())
    model = nn.Sequential(feat, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(k, 3))
    model.eval()
    return model, feat


def _naive_scorecam(model, layer, x, c):
    """Unchunked reference, written directly from the recipe."""
    acts = {}
    h = layer.register_forward_hook(lambda m, i, o: acts.__setitem__("a", o))
    with torch.no_grad():
        model(x)
    h.remove()
    out = []
    for b in range(x.shape[0]):
        sal = torch.zeros(x.shape[-2:])
        for k in range(acts["a"].shape[1]):
            a = acts["a"][b, k][None, None]
            up = nn.functional.interpolate(a, size=x.shape[-2:], mode="bilinear")[0, 0]
            if up.max() == up.min():
                continue
            up = (up - up.min()) / (up.max() - up.min())
            with torch.no_grad():
                p = torch.softmax(model(x[b : b + 1] * up), 1)[0, c]
            sal += p * up
        sal = torch.relu(sal)
        out.append(((sal - sal.min()) / (sal.max() - sal.min())).numpy())
    return np.stack(out)


def test_scorecam_matches_naive_reference_for_any_chunk_size():
    model, layer = _tiny_model()
    x = torch.rand(2, 2, 32, 40)
    ref = _naive_scorecam(model, layer, x, 1)
    for chunk in (1, 5, 64):
        got = scorecam(model, layer, x, 1, chunk_size=chunk)
        assert got.shape == (2, 32, 40)
        np.testing.assert_allclose(got, ref, atol=1e-5)


def test_scorecam_runs_masked_inputs_on_a_channels_last_copy():
    """The masked forward passes use a channels-last copy of the model (faster on the CPU):
    the caller's model keeps its layout, and a model that cannot be copied runs as it is."""
    import threading

    from napari_selfsup_seg.pseudo import _cam

    model, layer = _tiny_model()
    x = torch.rand(1, 2, 32, 32)
    fast = _cam._channels_last(model, x)
    assert fast is not model
    assert fast[0][0].weight.is_contiguous(memory_format=torch.channels_last)
    assert model[0][0].weight.is_contiguous()
    ref = _naive_scorecam(model, layer, x, 1)
    np.testing.assert_allclose(scorecam(model, layer, x, 1), ref, atol=1e-5)
    assert model[0][0].weight.is_contiguous()
    model.lock = threading.Lock()  # deepcopy fails on it
    assert _cam._channels_last(model, x) is model
    np.testing.assert_allclose(scorecam(model, layer, x, 1), ref, atol=1e-5)


def test_scorecam_softmax_weighting_is_chunk_independent():
    model, layer = _tiny_model()
    x = torch.rand(1, 2, 32, 32)
    a = scorecam(model, layer, x, 2, chunk_size=1, weighting="softmax")
    b = scorecam(model, layer, x, 2, chunk_size=100, weighting="softmax")
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert not np.allclose(a, scorecam(model, layer, x, 2))


def test_scorecam_skips_constant_maps_and_top_n_prunes():
    model, layer = _tiny_model(k=6)
    x = torch.rand(1, 2, 32, 32)
    calls = []
    hook = model.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    full = scorecam(model, layer, x, 0, chunk_size=100)
    n_full = sum(calls[1:])
    calls.clear()
    pruned = scorecam(model, layer, x, 0, chunk_size=100, top_n=2)
    hook.remove()
    assert sum(calls[1:]) == 2 < n_full <= 6
    assert pruned.shape == full.shape and not np.allclose(pruned, full)
    # A layer whose every map is constant gives an all-zero saliency, not NaN.
    zero = nn.Sequential(nn.Conv2d(2, 4, 1), nn.AdaptiveAvgPool2d(4))
    with torch.no_grad():
        zero[0].weight.zero_()
    m2 = nn.Sequential(zero, nn.Flatten(), nn.Linear(64, 2))
    assert not scorecam(m2, zero, x, 0).any()
    with pytest.raises(InputError):
        scorecam(model, layer, x, 7)


def test_gradcam_shape_and_range():
    model, layer = _tiny_model()
    cam = gradcam(model, layer, np.random.default_rng(0).random((3, 2, 24, 36), np.float32), 1)
    assert cam.shape == (3, 24, 36) and cam.dtype == np.float32
    assert cam.min() >= 0 and cam.max() <= 1


def _weak_set(n=16, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:64, :64]
    images, labels, truth = [], [], []
    for i in range(n):
        img = rng.normal(100, 5, (64, 64))
        m = np.zeros((64, 64), bool)
        if i % 2:
            cy, cx = rng.integers(14, 50, 2)
            m = (yy - cy) ** 2 + (xx - cx) ** 2 < 100
            img[m] += 80
        images.append(img.astype(np.float32))
        labels.append(i % 2)
        truth.append(m)
    return images, labels, truth


def test_scorecam_pseudo_masks_localise_blobs():
    images, labels, truth = _weak_set()
    cfg = ScoreCAMConfig(steps=60, width=8, batch_size=8)
    out = drain(scorecam_pseudo_masks_iter(images, labels, cfg))
    assert len(out) == len(images)
    inside, outside = [], []
    for (lab, cam), t, y in zip(out, truth, labels):
        if y == 0:
            assert not lab.any() and not cam.any()
            continue
        inside.append(cam[t].mean())
        outside.append(cam[~t].mean())
    # The map is clearly higher where the blob is.
    assert np.mean(inside) > np.mean(outside) + 0.2


def test_scorecam_bad_weak_labels():
    images, labels, _ = _weak_set(6)
    cfg = ScoreCAMConfig(steps=2, width=4)
    with pytest.raises(InputError, match="single class"):
        drain(scorecam_pseudo_masks_iter(images, [1] * 6, cfg))
    with pytest.raises(InputError, match="too few"):
        drain(scorecam_pseudo_masks_iter(images[:3], labels[:3], cfg))
    with pytest.raises(InputError, match="network minimum"):
        drain(scorecam_pseudo_masks_iter([im[:20, :20] for im in images], labels, cfg))
    with pytest.raises(InputError, match="weak labels"):
        drain(scorecam_pseudo_masks_iter(images, labels[:4], cfg))
