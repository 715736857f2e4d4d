"""The correction queue: which square tile of a plane a user should review next.

After a training round, every candidate tile (object-sized: :func:`~._boxes.tile_side`, on a
grid of half-tile steps) is scored by how much a correction there would teach, from five
parts, each in [0, 1]:

``disagreement``
    Teacher (the pseudo-masks) against student (the network): the mean of a pixel term, the
    foreground pixels where they differ over the foreground either has (at least one object's
    area, so a stray pixel in an empty tile scores little), and an object term, ``1 - F1`` of
    their one-to-one object matching at IoU 0.5 inside the tile (0 when neither has objects).
``entropy``
    Entropy of the student's class probabilities (averaged over the test-time flips), divided by
    its largest value ``log(classes)``.
``flips``
    Disagreement between the flips at test time: twice the standard deviation of the foreground
    probability over the ``flips`` predictions (identity, vertical, horizontal, both).
``teacher_uncertain``
    Fraction of the tile that training ignores: the teacher's map in its uncertain band, or
    labels already set to the ignore value.
``size_outliers``
    Student objects centred in the tile whose area is far from the plane's typical one
    (fragments, specks, merged neighbours: :func:`~._queue_parts.size_outlier_points`), per
    typical object the tile holds, at most 1. It is the part that follows the student's own
    mistakes once the student has outgrown its teacher, when disagreement points at the
    teacher's mistakes instead.

The parts live on very different scales (a confident student's entropy is a few hundredths
everywhere, disagreement tenths), so ``score`` sums their *ranks* among the candidate tiles
(each scaled to [0, 1], ties averaged) with the weights, times ``1 - reviewed`` (the fraction
of the tile already reviewed): every signal counts, whatever its range. Where student and
teacher make the same mistake they agree, and only the student's uncertainty points there.

Coverage is a hard rule: a tile overlapping a reviewed box, or a better-ranked tile of the same
queue, by more than ``max_overlap`` of its area is never proposed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .._config import IGNORE_LABEL, ConfigBase, PredictConfig, _check_range, device_setting
from .._errors import InputError
from ..data._targets import UNCERTAIN_HIGH, UNCERTAIN_LOW
from ._boxes import (
    DEFAULT_DIAMETER,
    Box,
    as_box,
    box_means,
    box_overlap,
    box_sums,
    candidate_boxes,
    tile_side,
)
from ._queue_parts import object_disagreement, size_outlier_points, student_maps, unit_ranks

if TYPE_CHECKING:
    from ..models._factory import LoadedModel


@dataclass
class QueueConfig(ConfigBase):
    """How tiles are cut and scored.

    Attributes
    ----------
    tile_diameters : float
        Tile side in object diameters (the model's recorded one), rounded to a multiple of 32.
    tile_size : int or None
        Tile side in pixels instead (clipped to the image).
    stride : float
        Step between candidate tiles as a fraction of their side.
    max_overlap : float
        Largest fraction of a proposed tile that a reviewed box (or a better-ranked proposed
        tile) may cover.
    flips : int
        Test-time flips averaged (1, 2 or 4).
    disagreement_weight, entropy_weight, flip_weight, teacher_weight, size_weight : float
        Weights of the score's parts.
    ignore_low, ignore_high : float
        The teacher's uncertain band (as in self-training).
    device : str
        Where the student predicts.
    """

    tile_diameters: float = 7.0
    tile_size: int | None = None
    stride: float = 0.5
    max_overlap: float = 0.1
    flips: int = 4
    disagreement_weight: float = 0.5
    entropy_weight: float = 0.5
    flip_weight: float = 0.5
    teacher_weight: float = 0.25
    size_weight: float = 1.0
    ignore_low: float = UNCERTAIN_LOW
    ignore_high: float = UNCERTAIN_HIGH
    device: str = device_setting()

    def __post_init__(self) -> None:
        _check_range("tile_diameters", self.tile_diameters, 1.0, 100.0)
        if self.tile_size is not None:
            _check_range("tile_size", self.tile_size, 8, 100_000)
        _check_range("stride", self.stride, 0.05, 1.0)
        _check_range("max_overlap", self.max_overlap, 0.0, 1.0)
        if self.flips not in (1, 2, 4):
            raise InputError(f"flips must be 1, 2 or 4, got {self.flips}")
        for name in ("disagreement", "entropy", "flip", "teacher", "size"):
            _check_range(f"{name}_weight", getattr(self, f"{name}_weight"), 0.0, 100.0)
        _check_range("ignore_low", self.ignore_low, 0.0, 1.0)
        _check_range("ignore_high", self.ignore_high, self.ignore_low, 1.0)

    @property
    def part_weights(self) -> dict[str, float]:
        """The weight of each part of the score, by the part's name in ``QueueTile.parts``."""
        return {
            "disagreement": self.disagreement_weight,
            "entropy": self.entropy_weight,
            "flips": self.flip_weight,
            "teacher_uncertain": self.teacher_weight,
            "size_outliers": self.size_weight,
        }

    @property
    def top_score(self) -> float:
        """The score of a tile ranked first on every part (the sum of the weights)."""
        return float(sum(self.part_weights.values()))


@dataclass(frozen=True)
class QueueTile:
    """One proposed tile.

    Attributes
    ----------
    box : tuple of int
        ``(y0, x0, y1, x1)``, rows ``y0:y1`` and columns ``x0:x1`` of the plane.
    score : float
        How much a correction here would teach (higher first).
    parts : dict
        ``disagreement`` (with its ``pixel_disagreement`` and ``object_disagreement``),
        ``entropy``, ``flips``, ``teacher_uncertain``, ``size_outliers`` and ``reviewed``, each
        in [0, 1].
    """

    box: Box
    score: float
    parts: dict[str, float] = field(default_factory=dict)

    @property
    def slices(self) -> tuple[slice, slice]:
        """``(rows, columns)`` to index a ``(..., Y, X)`` array with."""
        return slice(self.box[0], self.box[2]), slice(self.box[1], self.box[3])


def correction_queue(
    image: np.ndarray,
    teacher_labels: np.ndarray,
    teacher_map: np.ndarray | None,
    model: LoadedModel | str | os.PathLike,
    reviewed: Sequence[Sequence[int]] = (),
    config: QueueConfig | None = None,
    top: int | None = None,
) -> list[QueueTile]:
    """Rank the tiles of one plane by how much a correction there would teach, best first.

    Parameters
    ----------
    image : numpy.ndarray
        ``(Y, X)`` or ``(C, Y, X)`` plane.
    teacher_labels : numpy.ndarray of int
        ``(Y, X)`` pseudo-mask instance labels; :data:`IGNORE_LABEL` pixels count as unknown.
    teacher_map : numpy.ndarray of float or None
        ``(Y, X)`` foreground probability the labels were cut from (``None``: only ignored
        labels count as the teacher's uncertain pixels).
    model : LoadedModel or path-like
        The student, trained on the teacher; its recorded diameter sizes the tiles.
    reviewed : sequence of (y0, x0, y1, x1)
        Boxes already reviewed.
    config : QueueConfig, optional
    top : int, optional
        Return at most this many tiles.

    Returns
    -------
    list of QueueTile
        Non-overlapping tiles (see ``max_overlap``), best first, each inside the plane.
    """
    from ..inference._input import model_predict_config, prepare_input, segmenting_model
    from ..inference._seeded import plane_instances

    cfg = config or QueueConfig()
    model = segmenting_model(model, cfg.device)
    labels = np.asarray(teacher_labels)
    shape = np.shape(image)[-2:]
    if labels.shape != shape:
        raise InputError(f"teacher labels {labels.shape} do not match the image {shape}")
    if teacher_map is not None and np.shape(teacher_map) != shape:
        raise InputError(f"teacher map {np.shape(teacher_map)} does not match the image {shape}")
    done = [as_box(b, shape, "reviewed box") for b in reviewed]
    diameter = model.config.diameter or DEFAULT_DIAMETER
    if cfg.tile_size:
        side = int(min(cfg.tile_size, *shape))
    else:
        side = tile_side(diameter, shape, cfg.tile_diameters)
    boxes = candidate_boxes(shape, side, cfg.stride)

    x = prepare_input(model, image)  # normalised once: for the maps and the cells' seeds
    probs, spread = student_maps(model, x, cfg.flips, cfg.device)
    post = model_predict_config(model, PredictConfig(device=cfg.device))
    # The student's objects as prediction makes them (cells grown from nuclei for a seeded model).
    student = plane_instances(model, probs, x, post)
    unknown = labels == IGNORE_LABEL
    teacher = np.where(unknown, 0, labels)
    eps = 1e-12
    entropy = -(probs * np.log(np.clip(probs, eps, 1.0))).sum(0) / np.log(probs.shape[0])
    uncertain = unknown.copy()
    if teacher_map is not None:
        m = np.asarray(teacher_map)
        uncertain |= (m > cfg.ignore_low) & (m < cfg.ignore_high)

    t_fg, s_fg = (teacher > 0) & ~unknown, (student > 0) & ~unknown
    floor = np.pi * float(diameter) ** 2 / 4
    xor = box_sums(t_fg ^ s_fg, boxes)
    union = box_sums(t_fg | s_fg, boxes)
    pixel = xor / np.maximum(union, floor)
    odd, typical_area = size_outlier_points(student, float(diameter))
    means = {
        "entropy": box_means(entropy, boxes),
        "flips": box_means(spread, boxes),
        "teacher_uncertain": box_means(uncertain, boxes),
        "size_outliers": np.minimum(box_means(odd, boxes) * typical_area, 1.0),
    }
    weights = cfg.part_weights
    found = []
    for k, box in enumerate(boxes):
        covered = max((box_overlap(box, b) for b in done), default=0.0)
        if covered > cfg.max_overlap:
            continue
        rows, cols = slice(box[0], box[2]), slice(box[1], box[3])
        objects = object_disagreement(teacher[rows, cols], student[rows, cols])
        parts = {
            "disagreement": 0.5 * (float(pixel[k]) + objects),
            "pixel_disagreement": float(pixel[k]),
            "object_disagreement": objects,
            **{name: float(v[k]) for name, v in means.items()},
            "reviewed": covered,
        }
        found.append((box, parts))
    ranks = {name: unit_ranks([parts[name] for _, parts in found]) for name in weights}
    candidates = []
    for j, (box, parts) in enumerate(found):
        score = sum(w * ranks[name][j] for name, w in weights.items()) * (1 - parts["reviewed"])
        candidates.append(QueueTile(box, float(score), {n: round(v, 4) for n, v in parts.items()}))
    candidates.sort(key=lambda t: (-t.score, t.box))
    chosen: list[QueueTile] = []
    for tile in candidates:
        if all(box_overlap(tile.box, c.box) <= cfg.max_overlap for c in chosen):
            chosen.append(tile)
            if top is not None and len(chosen) >= top:
                break
    return chosen
