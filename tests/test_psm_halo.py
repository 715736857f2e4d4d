"""PSM on brightfield: a halo around dark objects is left out, relief flanks are kept."""

import numpy as np
from scipy import ndimage as ndi

from napari_selfsup_seg.pseudo._psm_cluster import PSMConfig, choose_texture_window
from napari_selfsup_seg.pseudo._psm_halo import HALO_ASYMMETRY, shading_asymmetry


def _discs(shape=(160, 160), r=9, step=40):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    mask = np.zeros(shape, bool)
    for cy in range(step // 2, shape[0], step):
        for cx in range(step // 2, shape[1], step):
            mask |= np.hypot(yy - cy, xx - cx) < r
    return mask


def _halo_plane(mask, seed=0):
    """Phase-contrast-like: dark objects, a bright band 4 px wide all around them."""
    rng = np.random.default_rng(seed)
    outside = ndi.distance_transform_edt(~mask)
    halo = (outside > 0) & (outside <= 4)
    plane = 0.5 - 0.2 * mask + 0.2 * halo + 0.01 * rng.standard_normal(mask.shape)
    return ndi.gaussian_filter(plane, 0.7).astype(np.float32)


def _relief_plane(mask, seed=0):
    """Oblique-brightfield-like: each object lit on one side, shadowed on the other."""
    rng = np.random.default_rng(seed)
    height = ndi.gaussian_filter(mask.astype(float), 2.0)
    plane = 0.5 + 1.5 * np.gradient(height, axis=1) + 0.01 * rng.standard_normal(mask.shape)
    return plane.astype(np.float32)


def _f1(pred, truth):
    return 2 * (pred & truth).sum() / (pred.sum() + truth.sum())


def test_shading_asymmetry_tells_halo_from_relief():
    mask = _discs()
    assert shading_asymmetry(_halo_plane(mask) - 0.5) < HALO_ASYMMETRY / 2
    assert shading_asymmetry(_relief_plane(mask) - 0.5) > 2 * HALO_ASYMMETRY
    assert shading_asymmetry(np.zeros((64, 64))) == 0.0


def _foreground(plane: np.ndarray) -> np.ndarray:
    """PSM's brightfield foreground of ``plane`` from texture and intensity (no map)."""
    prob, _window, _ = choose_texture_window(
        plane, np.zeros_like(plane), PSMConfig(), "brightfield"
    )
    return prob >= 0.5


def test_halo_is_left_out_of_the_objects():
    """The rough halo band used to be foreground too (filled, objects plus halo: F1 ~0.6)."""
    mask = _discs()
    fg = _foreground(_halo_plane(mask))
    band = ndi.binary_dilation(mask, iterations=4) & ~ndi.binary_dilation(mask, iterations=2)
    assert _f1(fg, mask) > 0.85
    assert fg[band].mean() < 0.2


def test_relief_keeps_both_flanks():
    mask = _discs()
    plane = _relief_plane(mask)
    fg = _foreground(plane)
    lit = plane > 0.5 + 0.05
    shadow = plane < 0.5 - 0.05
    assert fg[lit].mean() > 0.8 and fg[shadow].mean() > 0.8
