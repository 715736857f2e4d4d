"""The review loop: propose a tile, accept it, fine-tune a little, predict again.

:class:`ReviewLoop` holds what one round of tile-by-tile review needs, as arrays: the current
model, the image planes it reads, the teacher's labels (pseudo-masks with the user's edits), the
teacher's probability map when there is one, and the reviewed tiles of each plane. It is the core
behind the Correct widget's "Next tile to review" and "Accept tile" buttons and is used the same
way from Python:

>>> loop = ReviewLoop(model, images, labels, maps)  # doctest: +SKIP
>>> tile = loop.next_tile(0)  # the tile of plane 0 a correction would teach most
>>> labels[0][tile.slices] = ...  # correct it
>>> loop.accept(0, tile.box, edited=True, labels=labels[0])
>>> result = drain(loop.burst_iter(0))  # a short fine-tuning burst, then plane 0 predicted

:meth:`ReviewLoop.next_tile` never proposes an area already reviewed
(:func:`~._queue.correction_queue` with the reviewed boxes), and :meth:`ReviewLoop.burst_iter`
continues the current model (:func:`~._fine_tune.fine_tune_iter`: reviewed tiles at full weight
and over-sampled, elsewhere the pseudo-masks with their uncertain pixels ignored) and keeps the
fine-tuned model for the next tile.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._config import PredictConfig, TrainConfig
from .._errors import InputError
from .._progress import Progress
from ._boxes import Box, as_box
from ._fine_tune import FineTuneConfig, fine_tune_iter
from ._queue import QueueConfig, QueueTile, correction_queue

if TYPE_CHECKING:
    from ..models._factory import LoadedModel


@dataclass
class BurstResult:
    """What :meth:`ReviewLoop.burst_iter` returns.

    Attributes
    ----------
    model : LoadedModel
        The fine-tuned model (``model.path`` is where it was saved, if it was).
    plane : int
        The plane predicted after the burst.
    labels : numpy.ndarray of int32
        ``(Y, X)``: the new model's prediction of that plane.
    record : dict
        The burst's record (``steps``, ``reason``, ``best``, ... see
        :func:`~._fine_tune.fine_tune_iter`).
    """

    model: LoadedModel
    plane: int
    labels: np.ndarray
    record: dict[str, Any] = field(default_factory=dict)


def _planes(data: Any, what: str) -> np.ndarray:
    arr = np.asarray(data)
    if arr.ndim < 2:
        raise InputError(f"{what}: expected (N, Y, X) planes, got shape {arr.shape}")
    return arr.reshape(-1, *arr.shape[-2:])


class ReviewLoop:
    """Tile-by-tile review of a label stack with fine-tuning bursts in between.

    Parameters
    ----------
    model : LoadedModel or path-like
        The current model (a MODEL_DIR is loaded).
    images : numpy.ndarray
        ``(N, Y, X)`` planes the model reads (a single ``(Y, X)`` plane is one plane).
    labels : numpy.ndarray of int
        ``(N, Y, X)`` teacher labels: pseudo-masks with the user's edits; ``IGNORE_LABEL``
        pixels are not reviewed.
    maps : numpy.ndarray, optional
        ``(N, Y, X)`` foreground probability the pseudo-masks were cut from; its uncertain
        pixels count in the queue's score and are ignored by bursts outside reviewed tiles.
    reviewed : mapping of int to sequence of boxes, optional
        Tiles already reviewed, ``{plane: [(y0, x0, y1, x1), ...]}``.
    planes : sequence of int, optional
        Planes bursts train on (all by default; planes with reviewed tiles always train).
    queue_config, fine_tune_config : QueueConfig, FineTuneConfig, optional
    train_config : TrainConfig, optional
        Recipe of the bursts (default: the one recorded in the model).
    device : str
        Where the queue and the prediction after a burst run.
    seeds : numpy.ndarray, optional
        ``(N, Y, X)`` nuclear stain of a model that records a seed channel: read as the
        second input beside ``images`` (the cell channel).
    """

    def __init__(
        self,
        model: LoadedModel | str | os.PathLike,
        images: Any,
        labels: Any,
        maps: Any = None,
        reviewed: Mapping[int, Sequence[Sequence[int]]] | None = None,
        planes: Sequence[int] | None = None,
        queue_config: QueueConfig | None = None,
        fine_tune_config: FineTuneConfig | None = None,
        train_config: TrainConfig | None = None,
        device: str = "auto",
        seeds: Any = None,
    ) -> None:
        from ..inference._input import segmenting_model

        self.images = _planes(images, "images").astype(np.float32, copy=False)
        self.labels = np.array(_planes(labels, "labels"), copy=True)  # edits never leak out
        if self.labels.shape != self.images.shape:
            raise InputError(
                f"labels of shape {self.labels.shape} do not match images {self.images.shape}"
            )
        self.maps = None if maps is None else _planes(maps, "probability map")
        if self.maps is not None and self.maps.shape != self.images.shape:
            raise InputError(
                f"probability map of shape {self.maps.shape} does not match images "
                f"{self.images.shape}"
            )
        if seeds is not None:  # the nuclear stain of a model with a seed channel
            seeds = _planes(seeds, "seeds").astype(np.float32, copy=False)
            if seeds.shape != self.images.shape:
                raise InputError(f"seeds {seeds.shape} do not match images {self.images.shape}")
            self.images = np.stack([self.images, seeds], axis=1)  # (N, 2, Y, X)
        self.device = device
        self.model = segmenting_model(model, device)
        self.queue_config = queue_config or QueueConfig(device=device)
        self.fine_tune_config = fine_tune_config or FineTuneConfig()
        self.train_config = train_config
        n = self.n_planes
        self.planes = list(range(n)) if planes is None else [int(k) for k in planes if 0 <= k < n]
        self._reviewed: dict[int, list[Box]] = {}
        for plane, boxes in (reviewed or {}).items():
            for box in boxes:
                self._add(int(plane), box)
        #: ``(plane, box, edited)`` of every tile accepted through :meth:`accept`, in order.
        self.history: list[tuple[int, Box, bool]] = []

    @property
    def n_planes(self) -> int:
        """Number of planes."""
        return int(self.images.shape[0])

    def _check_plane(self, plane: int) -> int:
        if not 0 <= int(plane) < self.n_planes:
            raise InputError(f"plane {plane} is outside the stack of {self.n_planes} planes")
        return int(plane)

    def _add(self, plane: int, box: Sequence[int]) -> Box:
        plane = self._check_plane(plane)
        checked = as_box(box, self.images.shape[-2:], "reviewed tile")
        boxes = self._reviewed.setdefault(plane, [])
        if checked not in boxes:
            boxes.append(checked)
        return checked

    def reviewed_boxes(self, plane: int) -> list[Box]:
        """The reviewed tiles of ``plane``, in the order they were accepted."""
        return list(self._reviewed.get(int(plane), []))

    @property
    def reviewed(self) -> dict[int, list[Box]]:
        """``{plane: [box, ...]}`` for every plane with a reviewed tile."""
        return {k: list(v) for k, v in sorted(self._reviewed.items()) if v}

    def set_labels(self, plane: int, labels: np.ndarray) -> None:
        """Replace the teacher labels of ``plane`` (e.g. after the user's edits), ``(Y, X)``."""
        plane = self._check_plane(plane)
        labels = np.asarray(labels)
        if labels.shape != self.labels.shape[1:]:
            raise InputError(
                f"labels {labels.shape} do not match the plane {self.labels.shape[1:]}"
            )
        self.labels[plane] = labels

    # -- the queue --------------------------------------------------------------------------
    def queue(self, plane: int, top: int | None = None) -> list[QueueTile]:
        """Tiles of ``plane`` to review, best first, none overlapping a reviewed tile."""
        plane = self._check_plane(plane)
        teacher_map = None if self.maps is None else self.maps[plane]
        return correction_queue(
            self.images[plane],
            self.labels[plane],
            teacher_map,
            self.model,
            reviewed=self.reviewed_boxes(plane),
            config=self.queue_config,
            top=top,
        )

    def next_tile(self, plane: int) -> QueueTile | None:
        """The tile of ``plane`` to review next, or ``None`` when every area is reviewed."""
        tiles = self.queue(plane, top=1)
        return tiles[0] if tiles else None

    def next_tile_iter(self, plane: int) -> Generator[Progress, None, QueueTile | None]:
        """:meth:`next_tile` as a job for a worker: one record, then the tile."""
        yield Progress("queue", 0, 1, f"ranking the tiles of plane {plane}")
        return self.next_tile(plane)

    # -- accepting and bursts ---------------------------------------------------------------
    def accept(
        self,
        plane: int,
        box: Sequence[int],
        edited: bool = False,
        labels: np.ndarray | None = None,
    ) -> Box:
        """Mark ``box`` of ``plane`` reviewed: its labels train at full weight from now on.

        Parameters
        ----------
        plane : int
        box : (y0, x0, y1, x1)
        edited : bool
            The user corrected the tile before accepting it (recorded in :attr:`history`).
        labels : numpy.ndarray, optional
            ``(Y, X)`` labels of the plane with the user's edits (replaces the plane's labels).

        Returns
        -------
        tuple of int
            The box, checked to lie inside the plane.
        """
        if labels is not None:
            self.set_labels(plane, labels)
        checked = self._add(plane, box)
        self.history.append((int(plane), checked, bool(edited)))
        return checked

    def burst_iter(
        self,
        plane: int,
        stop: Callable[[], bool] | None = None,
        save_dir: str | os.PathLike | None = None,
    ) -> Generator[Progress, None, BurstResult]:
        """Fine-tune the current model on the reviewed tiles, then predict ``plane``.

        The burst continues :attr:`model` (never from scratch) on :attr:`planes`: reviewed tiles
        at full weight and over-sampled, the other pixels from the pseudo-masks with their
        uncertain ones (by :attr:`maps`) ignored. The fine-tuned model becomes :attr:`model`.

        Parameters
        ----------
        plane : int
            Plane predicted afterwards (e.g. the one shown).
        stop : callable, optional
            Ends the burst within one step; the model trained so far is kept.
        save_dir : path-like, optional
            Save the new model there (a ``"save"`` record follows the burst).

        Yields
        ------
        Progress
            The burst's records (training steps, then ``fine-tune``), ``save``, ``predict``.

        Returns
        -------
        BurstResult

        Raises
        ------
        InputError
            No reviewed tile yet.
        """
        from ..inference._predict import predict_iter

        plane = self._check_plane(plane)
        if not any(self._reviewed.values()):
            raise InputError("no reviewed tile yet: accept a tile first")
        use = sorted(set(self.planes) | {k for k, v in self._reviewed.items() if v})
        model = yield from fine_tune_iter(
            self.model,
            [self.images[k] for k in use],
            [self.labels[k] for k in use],
            [self.reviewed_boxes(k) for k in use],
            maps=None if self.maps is None else [self.maps[k] for k in use],
            config=self.fine_tune_config,
            train_config=self.train_config,
            stop=stop,
        )
        history = model.config.provenance.get("fine_tune") or [{}]
        record = dict(history[-1])
        if save_dir is not None:
            model.save(Path(save_dir))
            yield Progress("save", 1, 1, str(save_dir))
        labels, _ = yield from predict_iter(
            model, [self.images[plane]], PredictConfig(device=self.device)
        )
        self.model = model
        return BurstResult(model, plane, np.asarray(labels[0], np.int32), record)
