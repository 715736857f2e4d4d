"""A short fine-tuning burst after a correction, stopped when it stops learning.

:func:`fine_tune_iter` continues training a copy of the current model (never from scratch) on
the current masks: inside the reviewed tiles the masks are taken as they are (full weight),
elsewhere they are pseudo-masks whose uncertain pixels (their map in the uncertain band) are
ignored, or are ignored entirely (``outside="ignore"``). A share of the training tiles is drawn
over the reviewed tiles (:class:`~napari_selfsup_seg.data._augment.TileSampler`'s preferred
boxes). Instead of a fixed step count the burst stops on a plateau (the training engine's
early stopping, :mod:`napari_selfsup_seg.train._plateau`), at most ``max_steps``:

- with a held-out reviewed tile (``hold_out`` and at least two reviewed tiles; the first one is
  held out and not trained on), when its AP@0.5 has not risen by ``min_delta`` for
  ``patience`` steps (it is scored every ``eval_every`` steps);
- otherwise when the smoothed loss (exponential average over about ``smoothing`` steps, counted
  from step ``smoothing`` on) has not fallen by a fraction ``min_delta`` of its best value for
  ``patience`` steps.

The last record is a ``fine-tune`` :class:`~napari_selfsup_seg._progress.RoundProgress` whose
``record`` says how many steps ran and why the burst ended (``reason``: ``"plateau"``,
``"max_steps"`` or ``"stopped"``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .._config import ConfigBase, TrainConfig, _check_range
from .._errors import InputError
from .._progress import Progress, RoundProgress, Stage
from ..data._targets import UNCERTAIN_HIGH, UNCERTAIN_LOW
from ..train._plateau import Plateau
from ._boxes import boxes_per_image

if TYPE_CHECKING:
    from ..models._factory import LoadedModel

OUTSIDE = ("pseudo", "ignore")

__all__ = ["FineTuneConfig", "Plateau", "fine_tune", "fine_tune_iter"]


@dataclass
class FineTuneConfig(ConfigBase):
    """A fine-tuning burst: what it trains on and when it stops.

    Attributes
    ----------
    max_steps : int
        Most steps of the burst (the learning-rate schedule spans them).
    batch_size : int or None
        Tiles per step of the burst (``None``: the training recipe's). Small: a burst's
        held-out AP stops rising after a few dozen steps whatever the batch, so a smaller batch
        makes the round the user waits for shorter (see ``bench_round`` in
        ``docs/benchmarks.md``).
    min_steps : int
        Steps before a plateau may end the burst.
    patience : int
        Steps without improvement that make a plateau.
    min_delta : float
        Improvement that counts: absolute AP@0.5 of the held-out tile, or a fraction of the
        best smoothed loss.
    smoothing : int
        Span in steps of the loss's exponential average.
    eval_every : int
        Steps between scores of the held-out tile.
    reviewed_fraction : float
        Fraction of the training tiles drawn over reviewed tiles.
    outside : str
        ``"pseudo"``: outside the reviewed tiles the masks train too (uncertain pixels ignored);
        ``"ignore"``: only the reviewed tiles train.
    ignore_low, ignore_high : float
        Uncertain band of the pseudo-masks' maps.
    hold_out : bool
        Hold the first reviewed tile out to stop on (needs two reviewed tiles or more).
    lr_factor : float
        Peak learning rate as a fraction of the training recipe's.
    """

    max_steps: int = 60
    batch_size: int | None = 4
    min_steps: int = 20
    patience: int = 15
    min_delta: float = 0.01
    smoothing: int = 5
    eval_every: int = 10
    reviewed_fraction: float = 0.5
    outside: str = "pseudo"
    ignore_low: float = UNCERTAIN_LOW
    ignore_high: float = UNCERTAIN_HIGH
    hold_out: bool = False
    lr_factor: float = 0.5

    def __post_init__(self) -> None:
        _check_range("max_steps", self.max_steps, 1, 1_000_000)
        if self.batch_size is not None:
            _check_range("batch_size", self.batch_size, 1, 4096)
        _check_range("min_steps", self.min_steps, 0, 1_000_000)
        _check_range("patience", self.patience, 1, 1_000_000)
        _check_range("min_delta", self.min_delta, 0.0, 1.0)
        _check_range("smoothing", self.smoothing, 1, 10_000)
        _check_range("eval_every", self.eval_every, 1, 1_000_000)
        _check_range("reviewed_fraction", self.reviewed_fraction, 0.0, 1.0)
        if self.outside not in OUTSIDE:
            raise InputError(f"outside must be one of {OUTSIDE}, got {self.outside!r}")
        _check_range("ignore_low", self.ignore_low, 0.0, 1.0)
        _check_range("ignore_high", self.ignore_high, self.ignore_low, 1.0)
        _check_range("lr_factor", self.lr_factor, 1e-4, 10.0)


def _burst_config(model: LoadedModel, cfg: FineTuneConfig, tc: TrainConfig | None) -> TrainConfig:
    if tc is None:
        names = {f.name for f in dataclasses.fields(TrainConfig)}
        recorded = {k: v for k, v in model.config.training.items() if k in names}
        try:
            tc = TrainConfig.from_dict(recorded)
        except InputError:  # a recipe of another version: the defaults
            tc = TrainConfig()
    lr = max(1e-7, tc.learning_rate * cfg.lr_factor)
    return dataclasses.replace(
        tc, steps=cfg.max_steps, warmup_fraction=0.0, log_every=1, learning_rate=lr,
        batch_size=cfg.batch_size or tc.batch_size,
        early_stop=True, patience=cfg.patience, min_steps=cfg.min_steps,
        min_delta=cfg.min_delta, smoothing=cfg.smoothing,
    )  # fmt: skip


def _training_masks(masks, maps, boxes, cfg: FineTuneConfig, ignore: int) -> list[np.ndarray]:
    from ..data._targets import uncertain_to_ignore

    out = []
    for i, mask in enumerate(masks):
        mask = np.asarray(mask)
        if cfg.outside == "ignore":
            target = np.full(mask.shape, ignore, np.uint32)
        elif maps is not None and maps[i] is not None:
            target = uncertain_to_ignore(mask, maps[i], cfg.ignore_low, cfg.ignore_high, ignore)
        else:
            target = mask.astype(np.uint32)
        for y0, x0, y1, x1 in boxes[i]:
            target[y0:y1, x0:x1] = mask[y0:y1, x0:x1]
        out.append(target)
    return out


def fine_tune_iter(
    model: LoadedModel,
    images: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    reviewed_boxes: Sequence[Any] = (),
    maps: Sequence[np.ndarray | None] | None = None,
    config: FineTuneConfig | None = None,
    train_config: TrainConfig | None = None,
    stop: Callable[[], bool] | None = None,
) -> Generator[Progress, None, LoadedModel]:
    """Fine-tune a copy of ``model`` on reviewed tiles and pseudo-masks until a plateau.

    Parameters
    ----------
    model : LoadedModel
        The current model (left unchanged; the burst trains a copy).
    images : sequence of numpy.ndarray
        ``(Y, X)`` or ``(C, Y, X)`` planes the model reads.
    masks : sequence of numpy.ndarray of int
        ``(Y, X)`` instance labels per image: corrected inside the reviewed tiles, pseudo-masks
        elsewhere (:data:`~napari_selfsup_seg._config.IGNORE_LABEL` = not reviewed).
    reviewed_boxes : sequence
        Reviewed tiles ``(y0, x0, y1, x1)``: one list per image (a flat list for one image).
    maps : sequence of numpy.ndarray or None, optional
        ``(Y, X)`` foreground probability of each image's pseudo-masks; its uncertain pixels
        are ignored outside the reviewed tiles.
    config : FineTuneConfig, optional
    train_config : TrainConfig, optional
        Recipe (batch, tile, learning rate, seed, device); default: the model's recorded one.
        Its ``steps`` and warm-up are replaced by the burst's, and its batch size by
        ``config.batch_size`` when that is set.
    stop : callable, optional
        Checked every step; the model trained so far is returned.

    Yields
    ------
    Progress
        The training records, then a ``fine-tune``
        :class:`~napari_selfsup_seg._progress.RoundProgress` with the new model and the
        burst's record (``steps``, ``reason``, ``criterion``, ``best``, ``best_step``,
        ``seconds``, ``reviewed_tiles``, ``held_out``).

    Returns
    -------
    LoadedModel
        The fine-tuned copy; its provenance lists the bursts under ``"fine_tune"``.
    """
    from ..train._supervised import train_iter

    cfg = config or FineTuneConfig()
    if len(images) != len(masks) or not images:
        raise InputError(f"{len(images)} images but {len(masks)} masks (need at least one)")
    if maps is not None and len(maps) != len(images):
        raise InputError(f"{len(maps)} maps for {len(images)} images")
    shapes = [tuple(np.shape(m)[-2:]) for m in masks]
    boxes = boxes_per_image(reviewed_boxes, shapes)
    flat = [(i, b) for i, per in enumerate(boxes) for b in per]
    tc = _burst_config(model, cfg, train_config)
    held = flat[0] if cfg.hold_out and len(flat) >= 2 else None
    train_boxes = [[b for b in per if (i, b) != held] for i, per in enumerate(boxes)]
    targets = _training_masks(masks, maps, train_boxes, cfg, tc.ignore_value)
    validation = None
    if held is not None:
        i, (y0, x0, y1, x1) = held
        validation = ([np.asarray(images[i])[..., y0:y1, x0:x1]], [masks[i][y0:y1, x0:x1]])
        targets[i][y0:y1, x0:x1] = tc.ignore_value
    keep = [i for i in range(len(images)) if cfg.outside == "pseudo" or train_boxes[i]]
    if not keep:
        raise InputError("no reviewed tile to train on (outside='ignore' trains on them only)")
    index = {i: k for k, i in enumerate(keep)}
    preferred = [(index[i], b) for i in keep for b in train_boxes[i]]

    t0 = time.perf_counter()
    result: LoadedModel = yield from train_iter(
        [images[i] for i in keep], [targets[i] for i in keep], tc, init=model,
        provenance=dict(model.config.provenance), stop=stop,
        preview_every=cfg.eval_every if validation is not None else 0, validation=validation,
        input_channels=model.config.input_channels,
        input_channel_names=model.config.input_channel_names,
        preferred_boxes=preferred, preferred_fraction=cfg.reviewed_fraction,
    )  # fmt: skip
    ended = result.config.provenance["training_end"]
    done, reason, criterion = ended["steps"], ended["reason"], ended["criterion"]
    summary = {
        "steps": done,
        "max_steps": cfg.max_steps,
        "reason": reason,
        "criterion": criterion,
        "best": ended["best"],
        "best_step": ended["best_step"],
        "seconds": round(time.perf_counter() - t0, 2),
        "reviewed_tiles": len(flat),
        "held_out": None if held is None else [held[0], list(held[1])],
    }
    history = list(model.config.provenance.get("fine_tune", []))
    result.config.provenance["fine_tune"] = [*history, summary]
    message = f"fine-tuned {done} steps ({reason}, best {criterion} {summary['best']})"
    yield RoundProgress(Stage.FINE_TUNE, done, cfg.max_steps, message, result, summary)
    return result


def fine_tune(
    model: LoadedModel,
    images: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    reviewed_boxes: Sequence[Any] = (),
    *,
    callback: Callable[[Progress], Any] | None = None,
    **kwargs: Any,
) -> LoadedModel:
    """Run :func:`fine_tune_iter` to the end; ``callback`` gets every record.

    Examples
    --------
    >>> from napari_selfsup_seg import api
    >>> new = api.fine_tune(model, [image], [labels], [(0, 0, 96, 96)])  # doctest: +SKIP
    """
    from .._progress import drain

    return drain(fine_tune_iter(model, images, masks, reviewed_boxes, **kwargs), callback)
