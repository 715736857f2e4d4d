"""Score-CAM pseudo-masks from weak, per-image labels (ArtSeg, Ali et al., Sci. Rep. 2022).

The user only says, per image or tile, whether it *has* the thing (label 1) or not (label 0).
A small classifier (:mod:`._classifier`) learns that; the Score-CAM map of the positive class
on each positive image, thresholded and split into instances, is its pseudo-mask. Negative
images get an empty mask (they have none of the thing), which is itself a useful target.

:func:`scorecam` is the bare method, memory-bounded for any number of channels ``K``: masked
inputs are built and classified ``chunk_size`` channels at a time instead of materialising all
``K`` at once, constant activation maps are skipped (they carry no location), and ``top_n``
optionally keeps only the channels with the largest activation variance. :func:`gradcam` is a
cheap one-backward-pass preview.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence

import numpy as np

from .._errors import InputError
from .._progress import Progress, Stage, drain
from ._cam import gradcam, scorecam
from ._refine import map_cut, polarity_evidence, refine_map
from ._refine_auto import PlaneVote, decide, plane_votes
from ._result import PseudoMaskResult, cut_plane, plane_names
from ._threshold import split_recut
from ._weak import (
    MIN_IMAGES,
    ScoreCAMConfig,
    WeakClassifierFit,
    _check_plane,
    _scaled,
    dataset_scale,
    input_size_for,
    train_weak_classifier_iter,
)

__all__ = [
    "MIN_IMAGES",
    "ScoreCAMConfig",
    "WeakClassifierFit",
    "_scaled",
    "auto_cut",
    "dataset_scale",
    "gradcam",
    "input_size_for",
    "refinement_votes",
    "scorecam",
    "scorecam_map",
    "scorecam_map_iter",
    "scorecam_pseudo_masks",
    "scorecam_pseudo_masks_iter",
    "small_map",
    "train_weak_classifier_iter",
]


def scorecam_map(
    net,
    plane: np.ndarray,
    size: int,
    scale: tuple[float, float],
    config: ScoreCAMConfig,
    name: str = "image",
    bright: bool | None = None,
) -> np.ndarray:
    """Score-CAM map of the positive class on one plane, at the plane's size.

    Read from the classifier layers ``config.cam_layers``, upsampled to the plane, then refined
    against the plane by ``config.refine`` at the scale of one map cell (the layers' stride in
    plane pixels); ``"auto"`` asks the classifier about this plane alone
    (:func:`~._refine_auto.plane_votes`).

    Parameters
    ----------
    net : WeakClassifier
    plane : numpy.ndarray
        Raw plane ``(Y, X)``.
    size : int
        Input size the classifier was trained at.
    scale : (float, float)
        Intensity scale the classifier was trained with.
    config : ScoreCAMConfig
    name : str
        Used in error messages.
    bright : bool, optional
        Polarity of the objects for ``refine="objects"`` (``None``: from this plane's map).

    Returns
    -------
    numpy.ndarray of float32
        Shape ``(Y, X)`` in [0, 1].

    Raises
    ------
    InputError
        The plane is too small or constant, or its Score-CAM map is constant.
    """
    cam, cell = _raw_map(net, plane, size, scale, config, name)
    how = config.refine
    if how == "auto":
        how = decide(plane_votes(net, size, scale, [cam], [plane], [cell], bright))[0][0]
    return refine_map(cam, plane, how, cell, bright)


def _raw_map(net, plane, size, scale, config, name, small=None) -> tuple[np.ndarray, float]:
    """The unrefined map at the plane's size, and its cell size in plane pixels.

    ``small``: the map at the classifier's input size, when an earlier pass made it
    (:func:`small_map`).
    """
    norm = _scaled(_check_plane(plane, name), scale)
    layers, stride = net.cam_layers(config.cam_layers)
    if small is None:
        small = _small(net, norm, size, layers, config)
    cam = _resize_to(small, norm.shape)
    if float(cam.max() - cam.min()) <= 1e-6:
        raise InputError(f"{name}: Score-CAM map is constant (no channel points at anything)")
    return cam, stride * float(np.mean(norm.shape)) / size


def _small(net, norm, size, layers, config) -> np.ndarray:
    from ._classifier import resize_plane

    x = resize_plane(norm, size) if norm.shape != (size, size) else norm
    return scorecam(net, layers, x, 1, config.chunk_size, config.top_n, config.weighting)[0]


def small_map(net, plane, size, scale, config, name="image") -> np.ndarray:
    """The unrefined map of one plane at the classifier's input size ``(size, size)``."""
    norm = _scaled(_check_plane(plane, name), scale)
    return _small(net, norm, size, net.cam_layers(config.cam_layers)[0], config)


def refinement_votes(trained, planes, config, names=None) -> tuple[list[PlaneVote], list]:
    """The votes of ``planes`` for ``refine="auto"`` and their maps at the classifier's size.

    For a caller that takes the majority of the planes of several files
    (:func:`~._refine_auto.vote_counts`, polarity from each file's own planes) and then makes
    each file's masks with it as ``refine_fallback``, these votes as ``votes`` and these maps as
    ``small_maps`` (:func:`scorecam_map_iter`), so no map is made and no plane asked twice.
    """
    net, size, scale = trained[:3]
    names = plane_names(len(planes), names, "image")
    smalls = [small_map(net, p, size, scale, config, n) for p, n in zip(planes, names)]
    raw = [_raw_map(net, p, size, scale, config, n, m) for p, n, m in zip(planes, names, smalls)]
    bright = sum(polarity_evidence(r[0], p) for r, p in zip(raw, planes)) >= 0
    cams, cells = [r[0] for r in raw], [r[1] for r in raw]
    return plane_votes(net, size, scale, cams, planes, cells, bright), smalls


def auto_cut(config: ScoreCAMConfig):
    """The ``choose`` of :func:`~._result.cut_plane` for ``config.auto_cut`` (``None``: sweep)."""
    return map_cut if config.auto_cut == "map" else None


def _resize_to(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    if image.shape == tuple(shape):
        return image.astype(np.float32)
    t = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None, None]
    out = F.interpolate(t, size=tuple(shape), mode="bilinear", align_corners=False)[0, 0]
    return np.clip(out.numpy(), 0.0, 1.0)


def scorecam_map_iter(
    trained: tuple,
    planes: Sequence[np.ndarray],
    config: ScoreCAMConfig,
    *,
    positive: Sequence[bool] | None = None,
    stop: Callable[[], bool] | None = None,
    sweeps: bool = False,
    names: Sequence[str] | None = None,
    small_maps: Sequence[np.ndarray | None] | None = None,
    refine_fallback: str | None = None,
    votes: Sequence[PlaneVote] | None = None,
) -> Generator[Progress, None, PseudoMaskResult]:
    """Score-CAM pseudo-masks of planes with a trained weak classifier (progress generator).

    Parameters
    ----------
    trained : WeakClassifierFit
        From :func:`train_weak_classifier_iter` (a tuple ``(net, size, scale, ...)`` works too).
    planes : sequence of numpy.ndarray
        Raw planes ``(Y, X)``.
    config : ScoreCAMConfig
        ``config.threshold = None`` chooses every plane's cut by the sweep.
    positive : sequence of bool, optional
        Planes marked False get an empty mask and a zero map (default: all True).
    stop, sweeps, names
        As for :func:`~napari_selfsup_seg.pseudo._threshold.threshold_iter` (default names
        ``"image <i>"``).
    small_maps : sequence, optional
        The planes' unrefined maps at the classifier's input size (:func:`small_map`), when an
        earlier pass made them; ``None`` entries are made here.
    refine_fallback : str, optional
        With ``refine="auto"``: the refinement of planes that do not vote (default: the
        majority of these planes' votes; see :func:`~._refine_auto.decide`).
    votes : sequence of PlaneVote, optional
        With ``refine="auto"``: each plane's vote when an earlier pass asked the classifier
        (:func:`refinement_votes`); by default the planes are asked here.

    Yields
    ------
    Progress
        ``scorecam`` records, one per plane.

    Returns
    -------
    PseudoMaskResult
    """
    net, size, scale = trained[:3]
    names = plane_names(len(planes), names, "image")
    positive = [True] * len(planes) if positive is None else [bool(p) for p in positive]
    out = PseudoMaskResult("scorecam", config, split_recut)
    if isinstance(trained, WeakClassifierFit):
        out.record["classifier"] = trained.record()
    raw: dict[int, tuple[np.ndarray, float]] = {}
    done = 0
    for i, plane in enumerate(planes):
        if stop is not None and stop():
            break
        if positive[i]:
            small = small_maps[i] if small_maps is not None else None
            raw[i] = _raw_map(net, plane, size, scale, config, names[i], small)
        done = i + 1
        yield Progress(Stage.SCORECAM, i + 1, len(planes), f"image {i + 1}")
    # One polarity for the whole set (see object_pool): a map that points at the background
    # of its plane does not flip it.
    bright = sum(polarity_evidence(raw[i][0], planes[i]) for i in raw) >= 0 if raw else None
    how = dict.fromkeys(raw, config.refine)
    if config.refine == "auto" and raw:  # each voting plane its own, the others the majority
        if votes is None:
            votes = plane_votes(
                net, size, scale, [raw[i][0] for i in raw], [planes[i] for i in raw],
                [raw[i][1] for i in raw], bright,
            )  # fmt: skip
        else:
            votes = [votes[i] for i in raw]
        chosen, out.record["refine_chosen"] = decide(votes, refine_fallback)
        how = dict(zip(raw, chosen))
        out.record["refine_chosen"]["planes"] = chosen
    for i in range(done):
        plane = planes[i]
        if i in raw:
            cam = refine_map(raw[i][0], plane, how[i], raw[i][1], bright)
            labels, cut, sweep = cut_plane(
                cam, plane, config.threshold, split_recut, config, names[i], sweeps,
                choose=auto_cut(config),
            )  # fmt: skip
        else:
            shape = np.shape(plane)
            labels, cam = np.zeros(shape, np.int32), np.zeros(shape, np.float32)
            cut, sweep = config.threshold if config.threshold is not None else 0.5, None
        out.add(np.asarray(plane), labels, cam, cut, sweep)
    return out


def scorecam_pseudo_masks_iter(
    images: Sequence[np.ndarray],
    weak_labels: Sequence[int],
    config: ScoreCAMConfig | None = None,
    stop: Callable[[], bool] | None = None,
) -> Generator[Progress, None, list[tuple[np.ndarray, np.ndarray]]]:
    """Train a classifier on weak labels, then Score-CAM pseudo-masks (progress generator).

    Parameters
    ----------
    images : sequence of numpy.ndarray
        2D planes ``(Y, X)``, at least :data:`MIN_IMAGES` of them, each at least 32×32.
    weak_labels : sequence of int
        1 = the image has the thing, 0 = it has not; both classes needed.
    config : ScoreCAMConfig, optional
    stop : callable, optional
        Checked every training step and every image.

    Yields
    ------
    Progress
        ``classifier`` records while training, then ``scorecam`` records, one per image.

    Returns
    -------
    list of (labels, map)
        One pair per image: for positive images the instance labels (int32, 0 = background)
        and Score-CAM map (float32 in [0, 1]); negative images get an empty mask and a zero map.

    Raises
    ------
    InputError
        Single class, too few images, images too small or constant, a constant map; a
        :class:`~napari_selfsup_seg.pseudo._weak_check.ChanceClassifierError` when the
        classifier is not shown better than chance on held-out images (unless
        ``config.allow_chance``).
    """
    config = config or ScoreCAMConfig()
    trained = yield from train_weak_classifier_iter(images, weak_labels, config, stop)
    positive = [int(v) == 1 for v in weak_labels]
    result = yield from scorecam_map_iter(trained, images, config, positive=positive, stop=stop)
    return result.pairs()


def scorecam_pseudo_masks(
    images: Sequence[np.ndarray],
    weak_labels: Sequence[int],
    config: ScoreCAMConfig | None = None,
    stop: Callable[[], bool] | None = None,
    callback: Callable[[Progress], object] | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Run :func:`scorecam_pseudo_masks_iter` to the end; same parameters and result."""
    return drain(scorecam_pseudo_masks_iter(images, weak_labels, config, stop), callback)
