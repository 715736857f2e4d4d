"""PSM clustering on brightfield: uneven illumination must not make background foreground."""

import numpy as np
from scipy import ndimage as ndi

from napari_selfsup_seg.data._normalize import NormalizationConfig, percentile_normalize
from napari_selfsup_seg.data._synthetic import make_sample
from napari_selfsup_seg.pseudo._psm_cluster import PSMConfig, _fill_rings, cluster_plane


def test_fill_rings_cut_at_any_level_equals_binary_fill():
    rng = np.random.default_rng(0)
    prob = ndi.gaussian_filter(rng.random((64, 64)), 2).astype(np.float32)
    yy, xx = np.mgrid[:64, :64]
    r = np.hypot(yy - 32, xx - 32)
    prob[(r > 8) & (r < 11)] = 0.9  # a closed rim around a low basin
    filled = _fill_rings(prob)
    assert filled[32, 32] >= 0.9 > prob[32, 32]
    for t in (0.3, 0.5, 0.7, 0.85):
        np.testing.assert_array_equal(filled >= t, ndi.binary_fill_holes(prob >= t))


def test_brightfield_background_under_uneven_illumination_stays_background():
    s = make_sample((128, 128), seed=3)
    h, w = s.brightfield.shape
    ramp = np.linspace(0.6, 1.4, w)[None, :]  # strong left-right illumination gradient
    bf = s.brightfield * ramp
    plane = percentile_normalize(bf, NormalizationConfig(1.0, 99.8, clip=True, clip_margin=0.5))
    # An activation map that, like the trained network's, follows the rims and the illumination.
    edt = ndi.distance_transform_edt(s.labels > 0)
    rims = ((edt > 0) & (edt < 3)).astype(np.float32)
    act = 0.6 * ndi.gaussian_filter(rims, 1.5) / 0.5 + 0.4 * ramp.repeat(h, 0) / 1.4
    act = (act - act.min()) / (act.max() - act.min())
    prob = cluster_plane(plane, act, PSMConfig(), "brightfield")
    fg = prob >= 0.5
    far = ndi.distance_transform_edt(s.labels == 0) > 8  # background well away from any cell
    assert fg[far].mean() < 0.1
    truth = s.labels > 0
    assert 2 * (fg & truth).sum() / (fg.sum() + truth.sum()) > 0.6
