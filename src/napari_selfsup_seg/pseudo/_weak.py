"""Weak labels for Score-CAM: the config, the checks, the shared intensity scale, training.

The classifier itself and its training loop are in :mod:`._classifier`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from .._config import ConfigBase, _check_range, setting
from .._errors import InputError
from ..data._normalize import check_finite
from ._cam import CAM_LAYERS, WEIGHTINGS
from ._refine import AUTO_CUTS, REFINEMENTS
from ._weak_check import ChanceClassifierError, HeldOutCheck, held_out_check_iter

MIN_IMAGES = 4
"""Fewest weakly labelled images a classifier is trained on (at least one of each class)."""


@dataclass
class ScoreCAMConfig(ConfigBase):
    """Parameters of Score-CAM pseudo-masks from weak labels.

    Attributes
    ----------
    steps : int
        Classifier training steps.
    batch_size : int
        Images per step (half positive, half negative).
    learning_rate : float
        Peak AdamW learning rate (one-cycle).
    width : int
        Channels of the classifier's first stage (the Score-CAM layer has ``4 * width``).
    input_size : int or None
        Images are resized to this square size for training and for the maps (multiple of 8,
        at least 32); ``None``: the median image side, rounded down to a multiple of 8 and
        capped at 256.
    chunk_size : int
        Masked inputs per forward pass in :func:`scorecam`.
    top_n : int or None
        Channel pruning of :func:`scorecam`.
    weighting : str
        Channel weights of :func:`scorecam`. The default ``"softmax"`` (over channels) is used
        for pseudo-masks because with a small classifier trained from weak labels the plain
        class probabilities of the masked inputs are all similar, and their weighted sum is
        close to the mean of all maps, which does not localise (measured on synthetic blobs:
        mean map 0.51 inside vs 0.49 outside with ``"probability"``, 0.67 vs 0.19 with
        ``"softmax"``).
    cam_layers : str
        Classifier layer(s) the map is read from (:data:`~._cam.CAM_LAYERS`): ``"stride2"``
        (default), ``"stride4"``, ``"stride8"`` (the last stage: the coarse blobs of earlier
        versions) or ``"fused"`` (the channels of all three together). Stride 2 is the
        default: on real HeLa tiles with inserted debris and on nuclei tiles with inserted dark
        discs the maps of the stride-8 and stride-4 stages were lower on the artifact than
        around it, the stride-2 maps higher (``benchmarks/bench_scorecam.py``); on the
        generated debris sample it doubled the pixel F1 of the masks.
    refine : str
        Image-guided refinement of the map before the cut (:data:`~._refine.REFINEMENTS`):
        ``"auto"`` (default: ``"objects"`` or ``"guided"`` per plane, chosen by the classifier
        itself, :mod:`~._refine_auto`: each plane votes for the refinement whose mask, once
        removed from the plane, leaves the classifier no longer seeing the thing, the smaller
        mask where both do; a plane keeps its vote where its mask is the smaller one, the
        others take the set's majority, objects only with more votes than guided), ``"guided"``
        (guided filter with the plane as guide, one map cell in radius), ``"objects"``
        (:func:`~._refine.object_pool`: the mean map over each object of the plane's Otsu
        foreground, polarity from the maps of the whole set, calibrated so its cut is 0.5),
        ``"superpixels"`` (mean over SLIC superpixels about one map cell across) or
        ``"none"``. Neither fixed choice fits every image: on real HeLa tiles with inserted
        debris objects raised the masks' pixel F1 from 0.46 to 0.75, but on the tutorial's
        sample, where debris lies across nuclei and merges with them into one Otsu object,
        they lowered it (0.85 to 0.77 on fluorescence, 0.83 to 0.26 on brightfield, whose Otsu
        foreground is not made of objects); ``"auto"`` took objects on the first and guided on
        the second (0.75, 0.85, 0.83; ``benchmarks/bench_scorecam.py --artifacts``). It is
        wrong on the generated dust discs of ``benchmarks/bench_scorecam.py`` (nuclei2d): it
        takes objects there, 0.22 against 0.32 with ``"guided"``.
    auto_cut : str
        How the cut is chosen when ``threshold`` is ``None`` (:data:`~._refine.AUTO_CUTS`):
        ``"map"`` (default, :func:`~._refine.map_cut`: the upper of the two three-class Otsu
        thresholds of the map: background, other things the layer sees, the object) or
        ``"sweep"`` (the intensity sweep shared with the other methods, which on a map that
        is also mildly high on bright nuclei cuts low and takes them in).
    threshold : float or None
        Cut on the saliency map; ``None`` chooses it per image by ``auto_cut``.
    min_size, min_distance : int
        Instance clean-up (see :func:`~napari_selfsup_seg.pseudo._threshold.mask_to_instances`).
    seed : int
        Seed of the classifier training.
    allow_chance : bool
        Make the maps even when the held-out check (:mod:`._weak_check`) does not show the
        classifier better than chance; by default training raises
        :class:`~napari_selfsup_seg.pseudo._weak_check.ChanceClassifierError` instead. For
        experts: such maps usually light up whatever told the training images apart.
    """

    steps: int = 200
    batch_size: int = 16
    learning_rate: float = 2e-3
    width: int = 16
    input_size: int | None = None
    chunk_size: int = 32
    top_n: int | None = None
    weighting: str = "softmax"
    cam_layers: str = setting("stride2", choices=CAM_LAYERS)
    refine: str = setting("auto", choices=REFINEMENTS)
    auto_cut: str = setting("map", choices=AUTO_CUTS)
    threshold: float | None = 0.5
    min_size: int = 16
    min_distance: int = 4
    seed: int = 0
    allow_chance: bool = False

    def __post_init__(self) -> None:
        _check_range("steps", self.steps, 1, 1_000_000)
        _check_range("batch_size", self.batch_size, 2, 4096)
        _check_range("learning_rate", self.learning_rate, 1e-7, 1.0)
        _check_range("width", self.width, 2, 256)
        if self.input_size is not None:
            _check_range("input_size", self.input_size, 32, 4096)
            if self.input_size % 8:
                raise InputError(f"input_size must be a multiple of 8, got {self.input_size}")
        _check_range("chunk_size", self.chunk_size, 1, 65536)
        if self.weighting not in WEIGHTINGS:
            raise InputError(
                f"weighting must be one of {', '.join(WEIGHTINGS)}, got {self.weighting!r}"
            )
        for name, value, choices in (
            ("cam_layers", self.cam_layers, CAM_LAYERS),
            ("refine", self.refine, REFINEMENTS),
            ("auto_cut", self.auto_cut, AUTO_CUTS),
        ):
            if value not in choices:
                raise InputError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        if self.top_n is not None:
            _check_range("top_n", self.top_n, 1, 65536)
        if self.threshold is not None:
            _check_range("threshold", self.threshold, 0.0, 1.0)
        _check_range("min_size", self.min_size, 0, 10**9)
        _check_range("min_distance", self.min_distance, 1, 1000)


def _check_plane(plane: np.ndarray, name: str) -> np.ndarray:
    from ._classifier import MIN_SIZE

    plane = np.asarray(plane)
    if plane.ndim != 2:
        raise InputError(f"{name}: expected one 2D plane, got shape {plane.shape}")
    if min(plane.shape) < MIN_SIZE:
        raise InputError(
            f"{name}: {plane.shape[0]}x{plane.shape[1]} is smaller than the network minimum "
            f"of {MIN_SIZE}x{MIN_SIZE} pixels"
        )
    check_finite(plane, name)
    if float(plane.max()) == float(plane.min()):
        raise InputError(f"{name}: image is constant (every pixel has the same value)")
    return plane


def dataset_scale(images: Sequence[np.ndarray], seed: int = 0) -> tuple[float, float]:
    """Intensity scale ``(lo, hi)`` shared by all images: 1st and 99.8th pooled percentiles.

    One scale for the whole set (not one per image) keeps absolute intensity comparable
    between images; per-image normalisation would let the classifier tell classes apart by
    how the normalisation stretched the *background*, and the maps would point at it.
    """
    rng = np.random.default_rng(seed)
    pooled = []
    for p in images:
        flat = np.asarray(p, dtype=np.float32).ravel()
        if flat.size > 20_000:
            flat = flat[rng.choice(flat.size, 20_000, replace=False)]
        pooled.append(flat)
    lo, hi = np.percentile(np.concatenate(pooled), [1.0, 99.8])
    if hi <= lo:
        lo, hi = float(min(p.min() for p in pooled)), float(max(p.max() for p in pooled))
    return float(lo), float(hi)


def _scaled(plane: np.ndarray, scale: tuple[float, float]) -> np.ndarray:
    lo, hi = scale
    return np.clip((np.asarray(plane, np.float32) - lo) / max(hi - lo, 1e-12), -0.5, 1.5)


def input_size_for(images: Sequence[np.ndarray], config: ScoreCAMConfig) -> int:
    """The square size images are resized to (see :attr:`ScoreCAMConfig.input_size`)."""
    if config.input_size is not None:
        return config.input_size
    side = int(np.median([min(np.shape(p)[-2:]) for p in images]))
    return int(min(256, max(32, side // 8 * 8)))


class WeakClassifierFit(NamedTuple):
    """A trained weak-label classifier and what the maps need to use it.

    Attributes
    ----------
    net : WeakClassifier
        Trained on all the weakly labelled images, in eval mode.
    size : int
        Input size it was trained at.
    scale : (float, float)
        Intensity scale ``(lo, hi)`` of :func:`dataset_scale`.
    accuracy : float
        Accuracy on its (unaugmented) training images.
    check : HeldOutCheck or None
        The held-out check (``None``: too few images of a class, or stopped).
    """

    net: Any
    size: int
    scale: tuple[float, float]
    accuracy: float
    check: HeldOutCheck | None

    def record(self) -> dict[str, Any]:
        """Training and held-out figures for a summary or provenance."""
        check = self.check.as_dict() if self.check is not None else None
        return {"training_accuracy": self.accuracy, "held_out": check}


def train_weak_classifier_iter(
    images: Sequence[np.ndarray],
    weak_labels: Sequence[int],
    config: ScoreCAMConfig | None = None,
    stop: Callable[[], bool] | None = None,
    names: Sequence[str] | None = None,
):
    """Validate weak labels, check the classifier on held-out images, train it on all.

    The held-out check (:func:`~napari_selfsup_seg.pseudo._weak_check.held_out_check_iter`)
    runs first; when it does not show the classifier better than chance (one-sided Fisher
    exact test, ``p < 0.05``) nothing more is trained and
    :class:`~napari_selfsup_seg.pseudo._weak_check.ChanceClassifierError` is raised, unless
    ``config.allow_chance``. Progress generator.

    Parameters
    ----------
    images : sequence of numpy.ndarray
        2D planes ``(Y, X)``.
    weak_labels : sequence of int
        0 or 1 per image.
    config : ScoreCAMConfig, optional
    stop : callable, optional
    names : sequence of str, optional
        Names used in error messages (file names).

    Yields
    ------
    Progress
        ``classifier`` records: the check's folds (message ``"held-out check i/k"``), one
        record with the held-out figures in ``extra``, then the final training.

    Returns
    -------
    WeakClassifierFit

    Raises
    ------
    InputError
        Bad labels or images.
    ChanceClassifierError
        The classifier is not shown better than chance (and ``config.allow_chance`` is off).
    """
    from functools import partial

    from ._classifier import predict, resize_plane
    from ._classifier import train_weak_classifier_iter as _train

    config = config or ScoreCAMConfig()
    names = list(names) if names is not None else [f"image {i}" for i in range(len(images))]
    if len(images) != len(weak_labels):
        raise InputError(f"{len(images)} images but {len(weak_labels)} weak labels")
    labels = [int(v) for v in weak_labels]
    bad = [n for n, v in zip(names, labels) if v not in (0, 1)]
    if bad:
        raise InputError(f"{bad[0]}: weak label must be 0 or 1")
    if len(images) < MIN_IMAGES:
        raise InputError(f"too few images: {len(images)} given, Score-CAM needs {MIN_IMAGES}")
    if len(set(labels)) < 2:
        raise InputError(
            f"weak labels hold a single class (all {labels[0]}); label some images 1 and some 0"
        )
    checked = [_check_plane(p, n) for p, n in zip(images, names)]
    scale = dataset_scale(checked, config.seed)
    normed = [_scaled(p, scale) for p in checked]
    size = input_size_for(normed, config)
    x = [resize_plane(p, size) if p.shape != (size, size) else p for p in normed]
    train = partial(
        _train,
        steps=config.steps,
        batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        width=config.width,
        seed=config.seed,
        stop=stop,
    )
    check = yield from held_out_check_iter(x, labels, train, predict, config.seed, stop)
    stopped = stop is not None and stop()
    if not stopped and not config.allow_chance and (check is None or not check.better_than_chance):
        raise ChanceClassifierError(check, (sum(labels), len(labels) - sum(labels)))
    net, accuracy = yield from train(x, labels)
    return WeakClassifierFit(net, size, scale, accuracy, check)
