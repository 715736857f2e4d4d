"""PSM per plane: modality, k-means on per-pixel features, and the map-to-labels cut.

See :mod:`napari_selfsup_seg.pseudo._psm` for the method.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from .._errors import InputError
from ..data._normalize import NormalizationConfig, percentile_normalize
from ..inference._postprocess import clean_mask, split_touching
from ._psm_config import COARSE, PSMConfig
from ._psm_halo import HALO_ASYMMETRY, HALO_DEPTH, halo_sides, shading_asymmetry
from ._psm_texture import (
    FIXED_SIGMA,
    candidate_sigmas,
    local_std,
    log_roughness,
    texture_scale_scores,
)


def detect_modality(plane: np.ndarray) -> str:
    """``"fluorescence"`` for a dark background with a few bright objects, else brightfield.

    The rule: on the plane normalised to its 1st-99.8th percentiles, the median (the
    background) is below 0.25 and the histogram is skewed towards bright pixels (skewness
    above 0.5). Measured on generated pairs: fluorescence median 0.05, skew 2.0-2.3; the real
    fluorescence image median 0.08, skew 2.9; brightfield median 0.33-0.51, skew -0.3-0.7 (so
    skewness alone would call some brightfield planes fluorescence).

    Parameters
    ----------
    plane : numpy.ndarray
        Plane ``(Y, X)``, raw or normalised.
    """
    x = percentile_normalize(plane, NormalizationConfig(1.0, 99.8, clip=False)).ravel()
    x = x.astype(np.float64)
    sd = x.std()
    skew = float(((x - x.mean()) ** 3).mean() / sd**3) if sd > 0 else 0.0
    return "fluorescence" if np.median(x) < 0.25 and skew > 0.5 else "brightfield"


def _kmeans(features: np.ndarray, k: int, max_fit: int, seed: int) -> np.ndarray:
    """Centroids ``(k, F)`` of k-means fitted on at most ``max_fit`` rows of ``features``."""
    from scipy.cluster.vq import kmeans2

    rng = np.random.default_rng(seed)
    fit = features
    if len(fit) > max_fit:
        fit = fit[rng.choice(len(fit), max_fit, replace=False)]
    centroids, _ = kmeans2(fit.astype(np.float64), k, minit="++", seed=seed, iter=30)
    return centroids


def cluster_plane(
    plane: np.ndarray, act_map: np.ndarray, config: PSMConfig, modality: str
) -> np.ndarray:
    """Soft foreground membership of one plane from k-means on per-pixel features.

    With ``config.texture_sigma = None`` (brightfield), the clustering runs at every
    candidate texture window and keeps the one whose mask explains most of the plane's
    texture (see :mod:`._psm_texture`).

    Parameters
    ----------
    plane : numpy.ndarray
        Normalised plane ``(Y, X)``.
    act_map : numpy.ndarray
        Activation map ``(Y, X)`` in [0, 1].
    config : PSMConfig
    modality : str
        ``"fluorescence"`` or ``"brightfield"``.

    Returns
    -------
    numpy.ndarray of float32
        Shape ``(Y, X)`` in [0, 1]; >= 0.5 where the nearest centroid is a foreground one.
    """
    return choose_texture_window(plane, act_map, config, modality)[0]


def choose_texture_window(
    plane: np.ndarray, act_map: np.ndarray, config: PSMConfig, modality: str
) -> tuple[np.ndarray, float, dict[float, float]]:
    """:func:`cluster_plane` with the texture window used and every candidate's score.

    Returns
    -------
    (prob, sigma, scores)
        The membership map, its texture window and ``{window: score}`` (empty when the
        window was given or the plane is fluorescence, where texture is not used).
    """
    textured = max(config.texture_weight, config.coarse_texture_weight, config.gradient_weight)
    choose = config.texture_sigma is None and modality == "brightfield" and textured > 0
    fixed = config.texture_sigma or FIXED_SIGMA
    windows = candidate_sigmas(plane.shape) if choose else [fixed]
    runs = {s: _cluster_at(plane, act_map, config, modality, s) for s in windows}
    # On a halo plane, a window whose clustering did not separate the objects from their
    # halo would win on texture (the halo is rough too): only those that did compete.
    probs = _halo_probs(plane, config, modality, runs) or {
        s: _membership(d, bg, plane.shape, modality) for s, (d, bg, _) in runs.items()
    }
    if not choose:
        return probs[fixed], fixed, {}
    scores = texture_scale_scores(plane, {s: p >= 0.5 for s, p in probs.items()})
    best = max(scores, key=lambda s: scores[s])
    return probs[best], best, scores


def _intensity(plane: np.ndarray, config: PSMConfig, modality: str) -> np.ndarray:
    """The intensity feature: smoothed, minus its smooth background in brightfield."""
    inten = ndi.gaussian_filter(plane, config.sigma) if config.sigma > 0 else plane
    if modality == "brightfield":
        inten = inten - ndi.gaussian_filter(plane, max(plane.shape) / 8)
    return inten


def _halo_probs(plane, config: PSMConfig, modality: str, runs: dict) -> dict[float, np.ndarray]:
    """The memberships without the halo, per window, on a halo plane (else empty).

    The side of the objects (darker or lighter than the background) is one per plane: the
    side lying deeper inside the foreground, by the median over the windows (:mod:`._psm_halo`).
    """
    sided = {s: r[2] for s, r in runs.items() if r[2] is not None}
    if modality != "brightfield" or not sided:
        return {}
    if shading_asymmetry(_intensity(plane, config, modality)) >= HALO_ASYMMETRY:
        return {}
    depth = float(np.median([ratio for _, _, ratio in sided.values()]))
    if 1 / HALO_DEPTH < depth < HALO_DEPTH:
        return {}  # neither side encloses the other: texture or relief, not a halo
    dark = depth >= HALO_DEPTH
    out = {}
    for s, (dark_c, light_c, _) in sided.items():
        objects = dark_c if dark else light_c
        background = [c for c in range(config.k) if c not in objects]
        out[s] = _membership(runs[s][0], background, plane.shape, modality)
    return out


def _membership(d: np.ndarray, background: list[int], shape, modality: str) -> np.ndarray:
    """Soft membership ``d_bg / (d_bg + d_fg)`` from the pixels' centroid distances ``d``."""
    fg = [c for c in range(d.shape[1]) if c not in background]
    d_fg = d[:, fg].min(1)
    d_bg = d[:, background].min(1)
    prob = (d_bg / np.maximum(d_bg + d_fg, 1e-12)).reshape(shape).astype(np.float32)
    return _fill_rings(prob) if modality == "brightfield" else prob


def _cluster_at(
    plane: np.ndarray, act_map: np.ndarray, config: PSMConfig, modality: str, tex: float
) -> tuple[np.ndarray, list[int], tuple[list[int], list[int], float] | None]:
    """The clustering of :func:`cluster_plane` with texture window ``tex``.

    Returns the pixels' distances to the centroids ``(N, k)``, the background clusters by
    the modality rule, and the dark and light foreground clusters (:func:`._psm_halo.halo_sides`,
    brightfield only).
    """
    inten = _intensity(plane, config, modality)
    bf = modality == "brightfield"
    texture = local_std(plane, tex) if bf else None  # also the rule's fallback roughness
    coarse = gradient = None
    # The optional brightfield features are only computed when they weigh in.
    if bf and config.coarse_texture_weight > 0:
        # Object-scale texture: the log compresses the few very rough specks (debris, dead
        # cells) so that the rough-but-ordinary cell interior stands apart from flat background.
        coarse = log_roughness(plane, COARSE * tex)
    if bf and config.gradient_weight > 0:
        grad = ndi.gaussian_gradient_magnitude(plane, 1.0)
        gradient = np.log(np.sqrt(ndi.gaussian_filter(grad * grad, tex)) + 1e-4)

    def z(a: np.ndarray | None) -> np.ndarray:
        if a is None:
            return np.zeros_like(plane)
        sd = a.std()
        return (a - a.mean()) / sd if sd > 0 else np.zeros_like(a)

    feats = {
        "map": z(act_map),
        "intensity": z(inten),
        "texture": z(texture),
        "coarse": z(coarse),
        "gradient": z(gradient),
    }
    weights = {
        "map": config.map_weight,
        "intensity": config.intensity_weight,
        "texture": config.texture_weight if bf else 0.0,
        "coarse": config.coarse_texture_weight if bf else 0.0,
        "gradient": config.gradient_weight if bf else 0.0,
    }
    used = [n for n, w in weights.items() if w > 0]
    if not used:
        raise InputError("PSM needs at least one feature with a weight above 0")
    x = np.stack([feats[n].ravel() * weights[n] for n in used], 1)
    centroids = _kmeans(x, config.k, config.max_fit_pixels, config.seed)
    d = np.sqrt(((x[:, None, :] - centroids[None]) ** 2).sum(-1))
    nearest = d.argmin(1)
    # Per-cluster means decide which cluster is background; every other cluster is foreground.
    present = [c for c in range(config.k) if np.any(nearest == c)]
    if modality == "fluorescence":
        rule = inten.ravel()
    else:
        # Roughness (every texture feature in use) plus the map: no sign of intensity.
        used_rough = [n for n in ("texture", "coarse", "gradient", "map") if weights[n] > 0]
        rule = sum(
            (feats[n] for n in used_rough or ["texture", "map"]), np.zeros_like(plane)
        ).ravel()
    score = {c: rule[nearest == c].mean() for c in present}
    background = [min(score, key=lambda c: score[c])]
    sides = None
    if texture is not None:  # brightfield
        background = _split_clusters(score, {c: int(np.sum(nearest == c)) for c in present})
        sides = halo_sides(nearest.reshape(plane.shape), inten, texture)
    return d, background, sides


def _split_clusters(score: dict[int, float], count: dict[int, int]) -> list[int]:
    """The background clusters: the low-score side of the best cut between clusters.

    Clusters are sorted by their mean score; the cut is the one with the largest
    between-class variance of the pixels' scores (Otsu's criterion, on whole clusters, each
    weighted by its pixel count). An earlier rule (every cluster nearer to the lowest mean
    than to the highest) dropped the moderately rough cells of a confluent oblique
    brightfield field whenever a few very rough specks took the top cluster.
    """
    order = sorted(score, key=lambda c: score[c])
    n = np.array([count[c] for c in order], np.float64)
    m = np.array([score[c] for c in order])
    best, cut = -1.0, 1
    for i in range(1, len(order)):
        w0, w1 = n[:i].sum(), n[i:].sum()
        m0, m1 = (n[:i] * m[:i]).sum() / w0, (n[i:] * m[i:]).sum() / w1
        between = w0 * w1 * (m0 - m1) ** 2
        if between > best:
            best, cut = between, i
    return order[:cut]


def _fill_rings(prob: np.ndarray) -> np.ndarray:
    """Greyscale hole filling: raise every basin not connected to the border to its rim.

    Cutting the result at any ``t`` gives ``binary_fill_holes(prob >= t)``.
    """
    from skimage.morphology import reconstruction

    seed = prob.copy()
    seed[1:-1, 1:-1] = prob.max()
    return reconstruction(seed, prob, method="erosion").astype(np.float32)


def psm_labels_from_map(
    prob: np.ndarray, plane: np.ndarray, threshold: float, config: PSMConfig | None = None
) -> np.ndarray:
    """Instance labels from a PSM membership map cut at ``threshold`` (e.g. a swept one).

    Parameters
    ----------
    prob : numpy.ndarray
        Membership map ``(Y, X)`` returned by :func:`psm_pseudo_mask_iter`.
    plane : numpy.ndarray
        The raw plane ``(Y, X)`` (decides the modality when ``config.modality`` is auto).
    threshold : float
        Cut in [0, 1].
    config : PSMConfig, optional

    Returns
    -------
    numpy.ndarray of int32
        Shape ``(Y, X)``, 0 = background.
    """
    config = config or PSMConfig()
    modality = config.modality
    if modality == "auto":
        modality = detect_modality(plane)
    return mask_to_labels(prob, threshold, config, modality)


def psm_recut(prob: np.ndarray, plane: np.ndarray, cut: float, config: PSMConfig) -> np.ndarray:
    """:func:`psm_labels_from_map` in the ``recut(map, plane, cut, config)`` form."""
    return psm_labels_from_map(prob, plane, cut, config)


def mask_to_labels(prob: np.ndarray, threshold: float, config: PSMConfig, modality: str):
    """Cut, fill holes (brightfield), clean and split: the labelling of a PSM map."""
    mask = prob >= threshold
    if modality == "brightfield":
        mask = ndi.binary_fill_holes(mask)
    mask = clean_mask(mask, min_size=config.min_size, max_hole=config.max_hole)
    return split_touching(mask, config.min_distance, config.min_size)
