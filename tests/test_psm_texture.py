"""PSM clustering on objects that differ from the background by texture, not by intensity."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_selfsup_seg.pseudo._psm_cluster import PSMConfig, cluster_plane, local_std


def _discs(shape=(128, 128), centres=((32, 32), (32, 96), (96, 40), (90, 92)), r=14):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    mask = np.zeros(shape, bool)
    for cy, cx in centres:
        mask |= np.hypot(yy - cy, xx - cx) < r
    return mask


def _textured(mask, seed=0, offsets=None):
    """Background 0.5 with faint noise; objects rough (smooth noise), same mean intensity."""
    rng = np.random.default_rng(seed)
    rough = ndi.gaussian_filter(rng.standard_normal(mask.shape), 1.0)
    rough = (rough - rough[mask].mean()) / rough.std()
    plane = 0.5 + 0.01 * rng.standard_normal(mask.shape) + 0.15 * rough * mask
    if offsets is not None:
        plane = plane + offsets
    return plane.astype(np.float32)


def _f1(pred, truth):
    return 2 * (pred & truth).sum() / (pred.sum() + truth.sum())


def test_local_std_is_zero_on_flat_and_high_on_rough():
    mask = _discs()
    s = local_std(_textured(mask), 2.0)
    assert s[~ndi.binary_dilation(mask, iterations=8)].mean() < 0.02
    assert s[ndi.binary_erosion(mask, iterations=4)].mean() > 0.08


def test_same_mean_textured_objects_intensity_fails_texture_succeeds():
    mask = _discs()
    plane = _textured(mask)
    assert abs(plane[mask].mean() - plane[~mask].mean()) < 0.01  # intensity alone says nothing
    flat_map = np.zeros_like(plane)
    only_int = PSMConfig(map_weight=0, texture_weight=0, coarse_texture_weight=0)
    with_tex = PSMConfig(map_weight=0)
    f_int = _f1(cluster_plane(plane, flat_map, only_int, "brightfield") >= 0.5, mask)
    f_tex = _f1(cluster_plane(plane, flat_map, with_tex, "brightfield") >= 0.5, mask)
    # Intensity alone only finds the objects' extreme pixels (the rims that fill closes).
    assert f_tex > 0.85
    assert f_tex > f_int + 0.1


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_foreground_rule_has_no_fixed_polarity(sign):
    """Rough objects a little darker, or a little brighter, than the background: both found."""
    mask = _discs()
    plane = _textured(mask, seed=1, offsets=sign * 0.05 * mask)
    prob = cluster_plane(plane, np.zeros_like(plane), PSMConfig(map_weight=0), "brightfield")
    assert _f1(prob >= 0.5, mask) > 0.75


def test_new_weights_are_validated():
    from napari_selfsup_seg._errors import InputError

    with pytest.raises(InputError):
        PSMConfig(coarse_texture_weight=-1)
    with pytest.raises(InputError):
        PSMConfig(gradient_weight=1000)
