"""PSM clustering on objects that differ from the background by texture, not by intensity."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_selfsup_seg.pseudo._psm_cluster import (
    PSMConfig,
    choose_texture_window,
    cluster_plane,
    local_std,
)
from napari_selfsup_seg.pseudo._psm_texture import (
    TEXTURE_SIGMAS,
    candidate_sigmas,
    explained_fraction,
)


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
    with_tex = PSMConfig(map_weight=0, texture_sigma=2.0)
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


def _grid_discs(r, n, patchy, shape=(160, 160), seed=0):
    """``n`` × ``n`` discs of radius ``r``, fine granules inside; ``patchy``: the granules
    sit in sparse patches, leaving flat gaps inside the objects (spread cells)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    mask = np.zeros(shape, bool)
    step = shape[0] // n
    for i in range(n):
        for j in range(n):
            mask |= np.hypot(yy - step * i - step // 2, xx - step * j - step // 2) < r
    rough = ndi.gaussian_filter(rng.standard_normal(shape), 0.7)
    tex = mask.astype(float)
    if patchy:
        tex *= ndi.gaussian_filter(rng.standard_normal(shape), 3.0) > 0.1
    plane = 0.5 + 0.01 * rng.standard_normal(shape) + 0.15 * rough / rough.std() * tex
    return plane.astype(np.float32), mask


def test_window_is_chosen_per_plane_and_widens_for_patchy_objects():
    """Large objects with flat gaps need a wide window; the choice finds one, the old fixed
    2 px window leaves most of each object out."""
    plane, mask = _grid_discs(44, 2, patchy=True, shape=(256, 256))
    flat = np.zeros_like(plane)
    prob, window, scores = choose_texture_window(
        plane, flat, PSMConfig(map_weight=0), "brightfield"
    )
    fixed = cluster_plane(plane, flat, PSMConfig(map_weight=0, texture_sigma=2.0), "brightfield")
    assert set(scores) == set(candidate_sigmas(plane.shape))
    assert window == max(scores, key=lambda s: scores[s]) and window >= 3
    assert _f1(prob >= 0.5, mask) > _f1(fixed >= 0.5, mask) + 0.2


def test_small_fine_objects_keep_a_usable_window():
    plane, mask = _grid_discs(6, 6, patchy=False)
    prob, _window, _ = choose_texture_window(
        plane, np.zeros_like(plane), PSMConfig(map_weight=0), "brightfield"
    )
    assert _f1(prob >= 0.5, mask) > 0.75


def test_no_choice_when_window_given_or_fluorescence():
    plane, _ = _grid_discs(6, 6, patchy=False)
    flat = np.zeros_like(plane)
    assert choose_texture_window(plane, flat, PSMConfig(texture_sigma=3.0), "brightfield")[1:] == (
        3.0,
        {},
    )
    assert choose_texture_window(plane, flat, PSMConfig(), "fluorescence")[2] == {}


def test_candidates_fit_the_plane_and_explained_fraction_bounds():
    assert candidate_sigmas((128, 64)) == [s for s in TEXTURE_SIGMAS if s <= 4]
    assert candidate_sigmas((8, 8)) == [TEXTURE_SIGMAS[0]]
    f = np.zeros((10, 10))
    m = np.zeros((10, 10), bool)
    m[:5] = True
    f[m] = 1.0
    assert explained_fraction(f, m) == pytest.approx(1.0)
    assert explained_fraction(f, np.zeros_like(m)) == 0.0
