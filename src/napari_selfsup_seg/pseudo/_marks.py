"""Score-CAM from marked frames or tiles of one stack, pasted back into the frames.

A mark ``(frame, y0, x0, size, has_it)`` says that the frame (``size`` 0) or the square tile
``[y0:y0+size, x0:x0+size]`` of it has the thing (1) or has not (0). The classifier is trained
on the marked crops, every crop marked 1 gets its Score-CAM map and labels, and these are
pasted back into their frames; with an automatic cut each frame is then re-cut at the best cut
of its pasted map, with the same labelling as the slider preview.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence

import numpy as np

from .._errors import InputError
from .._progress import Progress, Stage
from ._result import PseudoMaskResult, cut_plane, plane_names, sweep_or_none
from ._scorecam import (
    ScoreCAMConfig,
    auto_cut,
    scorecam_map_iter,
    train_weak_classifier_iter,
)
from ._threshold import as_plane_list, split_recut

WeakMark = tuple[int, int, int, int, int]
"""``(frame, y0, x0, size, has_it)``; ``size`` 0 is the whole frame, ``has_it`` 0 or 1."""


def check_marks(n_frames: int, marks: Sequence[WeakMark]) -> list[WeakMark]:
    """The marks on frames ``0 .. n_frames - 1``, sorted; both kinds must be present.

    Raises
    ------
    InputError
        No mark "has it" or none "has not".
    """
    kept = sorted(tuple(int(v) for v in m) for m in marks if m[0] < n_frames)
    pos = sum(m[4] for m in kept)
    if pos < 1 or len(kept) - pos < 1:
        raise InputError(
            "Score-CAM needs frames or tiles marked 'has it' and 'has not' "
            f"(now {pos} and {len(kept) - pos})"
        )
    return kept  # type: ignore[return-value]


def crop_marks(
    planes: Sequence[np.ndarray], marks: Sequence[WeakMark]
) -> tuple[list[np.ndarray], list[int]]:
    """The marked frames or tiles cut from ``planes`` and their 0/1 labels, in mark order."""
    images, labels = [], []
    for k, y0, x0, size, has in marks:
        if k >= len(planes):
            continue
        plane = planes[k]
        images.append(plane if size == 0 else plane[y0 : y0 + size, x0 : x0 + size])
        labels.append(int(has))
    return images, labels


def paste_marks(
    marks: Sequence[WeakMark],
    result: PseudoMaskResult,
    shape: tuple[int, int],
    frames: Sequence[int],
) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Labels and maps of ``frames`` with every positive crop of ``result`` pasted in.

    Objects of each tile are numbered after those already pasted in the frame; overlapping
    maps keep their maximum.
    """
    labels = {k: np.zeros(shape, np.int32) for k in frames}
    maps = {k: np.zeros(shape, np.float32) for k in frames}
    for (k, y0, x0, _size, has), lab, cam in zip(marks, result.labels, result.maps):
        if not has or k not in labels:
            continue
        h, w = lab.shape
        region = (slice(y0, y0 + h), slice(x0, x0 + w))
        offset = int(labels[k].max())
        labels[k][region] = np.where(lab > 0, lab + offset, labels[k][region])
        maps[k][region] = np.maximum(maps[k][region], cam)
    return labels, maps


def scorecam_marks_iter(
    planes: np.ndarray | Sequence[np.ndarray],
    config: ScoreCAMConfig | None = None,
    *,
    marks: Sequence[WeakMark],
    frames: Sequence[int] | None = None,
    stop: Callable[[], bool] | None = None,
    sweeps: bool = False,
    names: Sequence[str] | None = None,
) -> Generator[Progress, None, PseudoMaskResult]:
    """Score-CAM pseudo-masks of ``frames`` from marks on ``planes`` (progress generator).

    Parameters
    ----------
    planes : numpy.ndarray or sequence of numpy.ndarray
        Every frame ``(Y, X)`` the marks refer to (a stack ``(N, Y, X)``), same shape each.
    config : ScoreCAMConfig, optional
        ``config.threshold = None`` re-cuts every frame with a positive mark at the best cut of
        its pasted map.
    marks : sequence of WeakMark
        ``(frame, y0, x0, size, has_it)``; both kinds needed.
    frames : sequence of int, optional
        The frames to report (default all).
    stop, sweeps, names
        As for :func:`~napari_selfsup_seg.pseudo._threshold.threshold_iter`, per crop (``stop``
        is also checked every training step).

    Yields
    ------
    Progress
        ``classifier``, then ``scorecam`` records (one per crop), then ``sweep`` records.

    Returns
    -------
    PseudoMaskResult
        One entry per frame of ``frames`` (fewer when stopped during the maps).
    """
    config = config or ScoreCAMConfig()
    planes = as_plane_list(planes)
    frames = list(range(len(planes))) if frames is None else [int(k) for k in frames]
    marks = check_marks(len(planes), marks)
    images, weak = crop_marks(planes, marks)
    trained = yield from train_weak_classifier_iter(images, weak, config, stop, names)
    crops = yield from scorecam_map_iter(
        trained, images, config, positive=[w == 1 for w in weak], stop=stop, names=names
    )
    labels, maps = paste_marks(marks[: len(crops)], crops, planes[0].shape, frames)
    positive = {m[0] for m in marks[: len(crops)] if m[4]}
    out = PseudoMaskResult("scorecam", config, split_recut, record=dict(crops.record))
    if not len(crops):
        return out
    names_out = plane_names(len(planes), None, "frame")
    fixed = config.threshold if config.threshold is not None else 0.5
    for i, k in enumerate(frames):
        lab, cut, sweep = labels[k], fixed, None
        if k in positive and config.threshold is None:
            lab, cut, sweep = cut_plane(
                maps[k], planes[k], None, split_recut, config, names_out[k], True,
                choose=auto_cut(config),
            )  # fmt: skip
        elif sweeps:
            sweep = sweep_or_none(maps[k], planes[k], names_out[k])
        out.add(planes[k], lab, maps[k], cut, sweep)
        yield Progress(Stage.SWEEP, i + 1, len(frames), f"frame {k}")
    return out
