"""PSM: pseudo-masks from prior self-activation maps (Chen et al., MICCAI 2023), no labels at all.

1. A small CNN (:mod:`._activation`) is trained self-supervised on random crops of the user's own
   planes (SimSiam two-view similarity, see that module for why this objective).
2. For every plane, the gradients of its shallow blocks (stride 1, 2 and 4) weight their
   channels; the weighted sums are normalised, upsampled and averaged into an activation map.
3. Per-pixel features ``[map, intensity]`` (plus, in brightfield, local texture: the local
   standard deviation, and optionally its log at a window :data:`COARSE` times wider and the
   log gradient energy), each scaled to unit variance, are clustered with k-means (``k``
   clusters, default 3). The texture window is chosen per brightfield plane: the clustering
   runs at a few candidate windows and keeps the mask that explains most of the plane's
   texture across scales (:mod:`._psm_texture`). In brightfield the intensity feature is
   taken relative to its smooth background (Gaussian over an eighth of the plane side), so
   uneven illumination does not split the background into clusters of its own.
4. The *background* clusters are picked by a modality rule and every other cluster is
   foreground (with ``k = 3`` the dim rims and dim nuclei form a cluster of their own, which
   a "single brightest cluster" rule would throw away):

   * **fluorescence**: nuclei are bright on a dark background, so the background is the
     cluster with the lowest mean intensity;
   * **brightfield**: cells and nuclei differ from the flat background by their rims, halos
     and internal texture, not by a consistent sign of intensity, so each cluster is scored
     by its mean roughness (the standardised texture features in use plus the activation
     map) and the clusters are cut in two where the pixels' scores are best separated
     (Otsu's criterion on whole clusters); the low side is background. Flat background often
     takes two clusters, and a few very rough specks can take one of their own: the cut
     keeps the first together and does not push moderately rough cells into the background
     (an earlier "nearer to the lowest mean than to the highest" rule did, on oblique
     brightfield). Rings closed by that rule are filled in the map itself (greyscale hole
     filling), so that every cut of the map, not only 0.5, gives filled objects.
   * **brightfield with halos** (phase contrast, defocused brightfield): the foreground then
     holds a cluster darker and one lighter than the background, and the lighter one is the
     halo ringed around the objects. When the plane's dark and light structure lie
     symmetrically around each other (no relief as in oblique brightfield or DIC) and one
     side lies clearly deeper inside the foreground than the other, only the enclosed side
     is foreground, at every texture window (:mod:`._psm_halo`).

5. The mask is cleaned (small objects, small holes) and touching objects are split by a
   distance-transform watershed.

The returned map is a soft membership ``d_bg / (d_fg + d_bg)`` of each pixel, from its
feature-space distances to the background centroid and the nearest foreground centroid: it is
0.5 exactly on the k-means boundary between background and foreground clusters, so
``threshold=0.5`` reproduces the clustering and other cuts (or the automatic sweep) move it.

The trained network is cached (keyed by the planes' content and the training recipe) so a
second call on the same images reuses it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Generator, Sequence
from pathlib import Path

import numpy as np

from .._errors import InputError
from .._progress import Progress, Stage, drain
from ..data._normalize import NormalizationConfig, percentile_normalize
from ..io._atomic import atomic_write
from ._psm_cluster import (
    choose_texture_window,
    cluster_plane,
    detect_modality,
    mask_to_labels,
    psm_labels_from_map,
    psm_recut,
)
from ._psm_config import COARSE, MIN_SIZE, MODALITIES, PSMConfig
from ._result import PseudoMaskResult, cut_plane, plane_names

__all__ = [
    "COARSE",
    "MIN_SIZE",
    "MODALITIES",
    "PSMConfig",
    "choose_texture_window",
    "cluster_plane",
    "detect_modality",
    "psm_iter",
    "psm_labels_from_map",
    "psm_pseudo_mask",
    "psm_pseudo_mask_iter",
    "psm_recut",
]


def _as_planes(images, name: str) -> tuple[list[np.ndarray], list[tuple[int, ...]]]:
    """Flatten the input into 2D planes; remember each item's leading shape."""
    if isinstance(images, np.ndarray):
        images = [images] if images.ndim == 2 else list(images)
    planes: list[np.ndarray] = []
    shapes: list[tuple[int, ...]] = []
    for i, img in enumerate(images):
        img = np.asarray(img)
        if img.ndim < 2:
            raise InputError(f"{name} {i}: expected 2D planes, got shape {img.shape}")
        if min(img.shape[-2:]) < MIN_SIZE:
            raise InputError(
                f"{name} {i}: plane {img.shape[-2:]} is smaller than the network minimum "
                f"of {MIN_SIZE}x{MIN_SIZE} pixels"
            )
        shapes.append(img.shape[:-2])
        planes.extend(img.reshape(-1, *img.shape[-2:]))
    if not planes:
        raise InputError(f"no {name}s given")
    return planes, shapes


def _cache_path(cache_dir, planes: Sequence[np.ndarray], config: PSMConfig, crop: int) -> Path:
    h = hashlib.sha256()
    for p in planes:
        h.update(str(p.shape).encode())
        h.update(np.ascontiguousarray(p, dtype=np.float32).tobytes())
    h.update(json.dumps({**config.training_key(), "crop": crop}, sort_keys=True).encode())
    return Path(cache_dir) / f"psm_{h.hexdigest()[:24]}.pt"


def _activation_net(planes, config: PSMConfig, crop: int, cache_dir, stop):
    """The trained activation network: from the cache when there, else trained (and stored)."""
    import torch

    from ._activation import ActivationNet, train_activation_net_iter

    path = _cache_path(cache_dir, planes, config, crop) if cache_dir is not None else None
    if path is not None and path.exists():
        net = ActivationNet(width=config.width)
        try:
            net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            net.eval()
            yield Progress(Stage.PSM_TRAIN, config.steps, config.steps, f"reused {path.name}")
            return net
        except Exception:
            pass  # unreadable cache entry: train again and overwrite it
    net = yield from train_activation_net_iter(
        planes,
        config.steps,
        crop,
        config.batch_size,
        config.learning_rate,
        config.width,
        config.seed,
        stop,
    )
    if path is not None and not (stop is not None and stop()):
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda tmp: torch.save(net.state_dict(), tmp))
    return net


def psm_iter(
    planes: np.ndarray | Sequence[np.ndarray],
    config: PSMConfig | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    stop: Callable[[], bool] | None = None,
    sweeps: bool = False,
    names: Sequence[str] | None = None,
) -> Generator[Progress, None, PseudoMaskResult]:
    """PSM pseudo-masks of a set of planes (progress generator): one network for all of them.

    Parameters
    ----------
    planes : numpy.ndarray or sequence of numpy.ndarray
        One plane ``(Y, X)``, a stack ``(..., Y, X)`` or a list of arrays ``(..., Y, X)``,
        handled plane by plane; one channel each, planes at least 32×32.
    config : PSMConfig, optional
        ``config.threshold = None`` chooses every plane's cut by the sweep.
    cache_dir : path-like, optional
        Folder where the trained activation network is stored and looked up (key: content of
        the normalised planes and the training recipe). ``None``: no caching.
    stop, sweeps, names
        As for :func:`~napari_selfsup_seg.pseudo._threshold.threshold_iter` (``stop`` is also
        checked every training step).

    Yields
    ------
    Progress
        ``psm-train`` records while training, then ``psm`` records, one per plane.

    Returns
    -------
    PseudoMaskResult
        One entry per plane; maps are the soft foreground membership.

    Raises
    ------
    InputError
        A plane is smaller than 32×32, constant, or holds NaN; a bad config.
    """
    from ._activation import shallow_activation_map

    config = config or PSMConfig()
    raw, _shapes = _as_planes(planes, "image")
    names = plane_names(len(raw), names)
    norm_cfg = NormalizationConfig(1.0, 99.8, clip=True, clip_margin=0.5)
    normed = [percentile_normalize(p, norm_cfg, names[i]) for i, p in enumerate(raw)]
    crop = min(config.crop_size, min(min(p.shape) for p in normed) // 8 * 8)
    net = yield from _activation_net(normed, config, crop, cache_dir, stop)
    out = PseudoMaskResult("psm", config, psm_recut)
    for i, plane in enumerate(normed):
        if stop is not None and stop():
            break
        modality = detect_modality(raw[i]) if config.modality == "auto" else config.modality
        act = shallow_activation_map(net, plane)
        prob, window, scores = choose_texture_window(plane, act, config, modality)
        tex = f", texture {window:g} px" if scores else ""

        def recut(p, _plane, t, c, modality=modality):
            return mask_to_labels(p, t, c, modality)

        labels, t, sweep = cut_plane(
            prob, raw[i], config.threshold, recut, config, names[i], sweeps
        )
        out.add(raw[i], labels, prob, t, sweep)
        yield Progress(
            Stage.PSM, i + 1, len(normed), f"plane {i + 1} ({modality}{tex}, cut {t:.2f})"
        )
    return out


def psm_pseudo_mask_iter(
    images: np.ndarray | Sequence[np.ndarray],
    config: PSMConfig | None = None,
    cache_dir: str | os.PathLike | None = None,
    stop: Callable[[], bool] | None = None,
) -> Generator[Progress, None, list[tuple[np.ndarray, np.ndarray]]]:
    """PSM pseudo-masks of one or more images, shaped like the input (progress generator).

    :func:`psm_iter` regrouped per item of ``images``.

    Parameters
    ----------
    images : numpy.ndarray or sequence of numpy.ndarray
        One plane ``(Y, X)``, a stack ``(N, Y, X)`` or a list of arrays ``(..., Y, X)``.
    config : PSMConfig, optional
    cache_dir : path-like, optional
        See :func:`psm_iter`.
    stop : callable, optional
        See :func:`psm_iter`.

    Yields
    ------
    Progress
        As :func:`psm_iter`.

    Returns
    -------
    list of (labels, map)
        One pair per item of ``images`` (one per plane of a stack ``(N, Y, X)``):
        ``labels`` int32 instance labels (0 = background) and ``map`` float32 soft foreground
        membership in [0, 1], both shaped like the item.

    Raises
    ------
    InputError
        A plane is smaller than 32×32, constant, or holds NaN; a bad config.
    """
    _raw, shapes = _as_planes(images, "image")
    items = [images] if isinstance(images, np.ndarray) and images.ndim == 2 else list(images)
    result = yield from psm_iter(items, config, cache_dir=cache_dir, stop=stop)
    out: list[tuple[np.ndarray, np.ndarray]] = []
    pos = 0
    for shape in shapes:
        n = int(np.prod(shape)) if shape else 1
        if pos + n > len(result):
            break
        labels = np.stack(result.labels[pos : pos + n]).reshape(*shape, *result.labels[pos].shape)
        maps = np.stack(result.maps[pos : pos + n]).reshape(*shape, *result.maps[pos].shape)
        pos += n
        out.append((labels, maps))
    return out


def psm_pseudo_mask(
    images: np.ndarray | Sequence[np.ndarray],
    config: PSMConfig | None = None,
    cache_dir: str | os.PathLike | None = None,
    stop: Callable[[], bool] | None = None,
    callback: Callable[[Progress], object] | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Run :func:`psm_pseudo_mask_iter` to the end; same parameters and result."""
    return drain(psm_pseudo_mask_iter(images, config, cache_dir, stop), callback)
