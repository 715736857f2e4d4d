"""Self-training: pseudo-masks train a U-Net, whose confident predictions teach the next round.

:func:`self_train_iter` takes images and the pseudo-masks of any method with their probability
maps. Pixels whose map lies in the uncertain band around the cut are ignored by the loss (the
network fills them in from what it learned elsewhere), and the network is trained. Each further
round predicts the training images with the current network, keeps its confident pixels as the
next masks (foreground probability outside the band, instances from the predicted interiors),
and fine-tunes the same network on them. Rounds stop after ``rounds`` or earlier when the masks
stop changing: a round whose targets hold the same objects as the round before is not
trained. Every round logs a label-free score of its masks, the fraction of intensity variance
the foreground explains (:func:`~napari_selfsup_seg.pseudo._sweep.explained_variance`,
the automatic cut's own score), never a score against ground truth.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .._config import ConfigBase, ModelConfig, PredictConfig, TrainConfig, _check_range, setting
from .._errors import InputError
from .._progress import Progress, RoundProgress, Stage, drain
from ..data._targets import UNCERTAIN_HIGH, UNCERTAIN_LOW

if TYPE_CHECKING:
    from ..models._factory import LoadedModel
    from ..pseudo._result import PseudoMaskResult


@dataclass
class SelfTrainingConfig(ConfigBase):
    """How pseudo-masks become training targets, and the self-training rounds after.

    Attributes
    ----------
    rounds : int
        Rounds after the first training where the network's confident predictions become the
        next targets (0 = train on the pseudo-masks only).
    ignore_low, ignore_high : float
        Pixels whose foreground probability lies strictly between the two are ignored by the
        loss, for the pseudo-masks and every round's predictions alike.
    round_steps : float
        Steps of each later round as a fraction of ``TrainConfig.steps`` (fine-tuning the
        same network).
    min_change : float
        Stop early when a round changes fewer than this fraction of the foreground
        (``1 - Dice`` of successive foregrounds, over all planes).
    min_objects_changed : int
        A later round is trained only when its targets change at least this many objects
        (objects of either round without a partner at IoU > 0.5 in the other, over all
        planes). Targets that hold the same objects only redraw their outlines, and training
        further on them fits the few objects of a small training set ever more closely
        (0 = always train).
    """

    rounds: int = setting(2, "self-training rounds after the first training", metavar="N")
    ignore_low: float = UNCERTAIN_LOW
    ignore_high: float = UNCERTAIN_HIGH
    round_steps: float = 0.5
    min_change: float = 0.01
    min_objects_changed: int = 1

    def __post_init__(self) -> None:
        _check_range("rounds", self.rounds, 0, 20)
        _check_range("ignore_low", self.ignore_low, 0.0, 1.0)
        _check_range("ignore_high", self.ignore_high, self.ignore_low, 1.0)
        _check_range("round_steps", self.round_steps, 0.01, 10.0)
        _check_range("min_change", self.min_change, 0.0, 1.0)
        _check_range("min_objects_changed", self.min_objects_changed, 0, 10**9)


@dataclass
class LabelFreeResult:
    """What :func:`self_train_iter` and :func:`label_free_iter` return.

    Attributes
    ----------
    model : LoadedModel
        The network after the last round (its provenance lists the rounds).
    masks : list of numpy.ndarray of uint32
        The targets of the last round, ``(Y, X)`` each, uncertain pixels set to the ignore value.
    rounds : list of dict
        One record per round: ``round``, ``steps``, ``score`` (label-free, see module notes),
        ``change`` (fraction of the foreground that changed from the round before),
        ``objects``, ``ignored`` (fraction of pixels ignored), ``seconds`` and, for later
        rounds, ``planes_kept`` (planes whose prediction was all background or all foreground,
        so they kept the targets of the round before) and ``objects_changed`` (see
        :func:`objects_changed`). Rounds end early when every plane would keep its targets
        or when the new targets change fewer than ``min_objects_changed`` objects.
    teacher : PseudoMaskResult or None
        The pseudo-masks the first round trained on (from :func:`label_free_iter`).
    """

    model: LoadedModel
    masks: list[np.ndarray]
    rounds: list[dict[str, Any]] = field(default_factory=list)
    teacher: PseudoMaskResult | None = None


def _targets(labels: np.ndarray, fg_prob: np.ndarray, cfg: SelfTrainingConfig, ignore: int):
    from ..data._targets import uncertain_to_ignore

    return uncertain_to_ignore(labels, fg_prob, cfg.ignore_low, cfg.ignore_high, ignore)


def _usable(mask: np.ndarray, ignore: int) -> bool:
    """Whether ``mask`` has both foreground and background among its reviewed pixels."""
    seen = mask[mask != ignore]
    return bool((seen == 0).any() and (seen > 0).any())


def objects_changed(new: np.ndarray, before: np.ndarray, ignore: int) -> int:
    """Objects of ``new`` or ``before`` (ignored pixels left out) without a partner at
    IoU > 0.5 in the other: objects found, lost, split, merged or redrawn past that overlap."""
    a = np.where(new == ignore, 0, new).ravel().astype(np.int64)
    b = np.where(before == ignore, 0, before).ravel().astype(np.int64)
    ids_a, area_a = np.unique(a[a > 0], return_counts=True)
    ids_b, area_b = np.unique(b[b > 0], return_counts=True)
    both = (a > 0) & (b > 0)
    pairs, inter = np.unique(np.stack([a[both], b[both]]), axis=1, return_counts=True)
    union = (
        area_a[np.searchsorted(ids_a, pairs[0])] + area_b[np.searchsorted(ids_b, pairs[1])] - inter
    )
    # IoU above 0.5 pairs every object with at most one partner.
    matched = int((inter > 0.5 * union).sum())
    return len(ids_a) + len(ids_b) - 2 * matched


def _score_planes(images: Sequence[np.ndarray], tc: TrainConfig) -> list[np.ndarray]:
    """The ``(Y, X)`` plane of each image the label-free score is measured on: the network's
    input channel, or the mean of the channels of a ``(C, Y, X)`` image read whole."""
    out = []
    for image in images:
        image = np.asarray(image)
        if image.ndim == 3:
            c = tc.input_channel
            image = image[c] if c is not None else image.mean(axis=0)
        out.append(image)
    return out


def _round_record(
    index: int, steps: int, planes, masks, before, ignore: int, seconds: float
) -> dict[str, Any]:
    from ..pseudo._sweep import explained_variance

    fg = [(m > 0) & (m != ignore) for m in masks]
    score = float(np.mean([explained_variance(f, p) for f, p in zip(fg, planes)]))
    change = None
    if before is not None:
        prev = [(m > 0) & (m != ignore) for m in before]
        inter = sum(int((a & b).sum()) for a, b in zip(fg, prev))
        total = sum(int(a.sum() + b.sum()) for a, b in zip(fg, prev))
        change = 1.0 - 2.0 * inter / total if total else 0.0
    objects = sum(len(np.unique(m[(m > 0) & (m != ignore)])) for m in masks)
    ignored = float(np.mean([(m == ignore).mean() for m in masks]))
    return {
        "round": index,
        "steps": steps,
        "score": round(score, 4),
        "change": None if change is None else round(change, 4),
        "objects": objects,
        "ignored": round(ignored, 4),
        "seconds": round(seconds, 1),
    }


def self_train_iter(
    images: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    maps: Sequence[np.ndarray],
    train_config: TrainConfig | None = None,
    model_config: ModelConfig | None = None,
    config: SelfTrainingConfig | None = None,
    provenance: dict | None = None,
    stop: Callable[[], bool] | None = None,
    train_kwargs: dict[str, Any] | None = None,
) -> Generator[Progress, None, LabelFreeResult]:
    """Train on pseudo-masks with uncertain pixels ignored, then self-train (generator).

    Parameters
    ----------
    images : sequence of numpy.ndarray
        Training planes ``(Y, X)`` (or ``(C, Y, X)`` with ``train_config.input_channel``).
    labels : sequence of numpy.ndarray of int
        Pseudo-mask instance labels ``(Y, X)``, one per image.
    maps : sequence of numpy.ndarray of float
        The probability-like maps the labels were cut from, ``(Y, X)`` in [0, 1].
    train_config, model_config : optional
        Recipe and architecture of the first training.
    config : SelfTrainingConfig, optional
    provenance : dict, optional
        Where the pseudo-masks came from; the rounds are added to it.
    stop : callable, optional
        Checked every step; the model trained so far is returned.
    train_kwargs : dict, optional
        Further arguments of :func:`~napari_selfsup_seg.train._supervised.train_iter`:
        ``init`` (the first round fine-tunes that model) and the channel records
        (``input_channels``, ``input_channel_names``), which every round keeps.

    Yields
    ------
    Progress
        Training records of every round, and a ``self-train``
        :class:`~napari_selfsup_seg._progress.RoundProgress` after each round.

    Returns
    -------
    LabelFreeResult
    """
    from ..inference._input import model_predict_config, prepare_input
    from ..inference._predict import probabilities_iter
    from ..inference._seeded import plane_instances
    from ..train._supervised import train_iter

    cfg = config or SelfTrainingConfig()
    tc = train_config or TrainConfig()
    if not (len(images) == len(labels) == len(maps)) or not images:
        raise InputError("self-training needs one pseudo-mask and one map per image (at least 1)")
    ignore = tc.ignore_value
    masks = [_targets(lab, m, cfg, ignore) for lab, m in zip(labels, maps)]
    prov = {
        **(provenance or {}),
        "ignore_band": [cfg.ignore_low, cfg.ignore_high],
        "self_training_rounds": 0,
    }
    t0 = time.perf_counter()
    extra = dict(train_kwargs or {})
    init = extra.pop("init", None)
    model = yield from train_iter(
        images, masks, tc, model_config=model_config, provenance=prov, stop=stop, init=init,
        **extra,
    )  # fmt: skip
    planes = _score_planes(images, tc)
    history = [_round_record(0, _ran(model), planes, masks, None, ignore, time.perf_counter() - t0)]
    total = cfg.rounds + 1
    yield RoundProgress(Stage.SELF_TRAIN, 1, total, _message(history[-1]), model, history[-1])
    steps = max(1, round(tc.steps * cfg.round_steps))
    round_tc = dataclasses.replace(tc, steps=steps, seed=tc.seed + 1)
    for r in range(1, total):
        if stop is not None and stop():
            break
        t0 = time.perf_counter()
        post = model_predict_config(model, PredictConfig(device=tc.device))
        new, kept = [], 0
        for image, before in zip(images, masks):
            x = prepare_input(model, image)
            probs = drain(probabilities_iter(model, x, post))
            assert probs is not None  # only a stop callback ends the generator early
            mask = _targets(plane_instances(model, probs, x, post), probs[1] + probs[2], cfg,
                            ignore)  # fmt: skip
            if not _usable(mask, ignore):
                # A network that predicts all background or all foreground here would teach
                # nothing: the plane keeps its previous targets.
                mask, kept = before, kept + 1
            new.append(mask)
        if kept == len(images):
            break
        changed = sum(objects_changed(a, b, ignore) for a, b in zip(new, masks))
        if changed < cfg.min_objects_changed:
            # The same objects again: the round would only train longer on them.
            break
        record = _round_record(r, steps, planes, new, masks, ignore, 0.0)
        record["planes_kept"] = kept
        record["objects_changed"] = changed
        masks = new
        prov = {**prov, "self_training_rounds": r}
        model = yield from train_iter(images, masks, round_tc, init=model, provenance=prov,
                                      stop=stop, **extra)  # fmt: skip
        record["seconds"] = round(time.perf_counter() - t0, 1)
        record["steps"] = _ran(model)
        history.append(record)
        yield RoundProgress(Stage.SELF_TRAIN, r + 1, total, _message(record), model, record)
        if record["change"] is not None and record["change"] < cfg.min_change:
            break
    model.config.provenance["self_training"] = history
    return LabelFreeResult(model, masks, history)


def _ran(model: LoadedModel) -> int:
    """Steps the model's last training ran (fewer than asked when it stopped early)."""
    return int(model.config.provenance.get("training_end", {}).get("steps", 0))


def _message(record: dict[str, Any]) -> str:
    change = "" if record["change"] is None else f", {100 * record['change']:.1f} % changed"
    return (
        f"round {record['round']}: {record['objects']} objects, score {record['score']:.3f}{change}"
    )
