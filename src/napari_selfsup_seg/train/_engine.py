"""The one training engine: the step loop every network of the package is trained with.

An :class:`Objective` says what is learnt (its modules, one batch and its loss per step, and
optional checks after a step); the engine owns everything else: seeding, the optimiser, the
learning-rate schedule and the device's mixed-precision policy (from :mod:`._optim`), gradient
scaling, the stop flag, early stopping on a plateau (:mod:`._plateau`), the divergence check,
the throughput and ETA record, and the training log. It yields one
:class:`~napari_selfsup_seg._progress.TrainProgress` per logged step.

The objectives: supervised segmentation (:mod:`._supervised`), self-supervised pretraining
(:mod:`._pretrain`), the PSM activation network and the Score-CAM weak-label classifier
(:mod:`napari_selfsup_seg.pseudo`).
"""

from __future__ import annotations

import math
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._errors import InputError
from .._progress import PreviewProgress, TrainProgress
from ._optim import learning_rate, make_optimizer, precision_policy
from ._plateau import EarlyStop, StopRule


@dataclass(frozen=True)
class Recipe:
    """The part of a training recipe that the engine runs.

    Attributes
    ----------
    steps : int
        Optimisation steps.
    batch_size : int
        Samples per step (for the throughput record).
    learning_rate : float
        Peak learning rate.
    weight_decay : float
        Decoupled (AdamW) or L2 (SGD) weight decay.
    warmup_fraction : float
        Fraction of the steps spent warming the learning rate up linearly.
    optimizer : str
        ``"adamw"`` or ``"sgd"`` (with momentum).
    momentum : float
        SGD momentum.
    amp : bool
        Mixed precision where the device supports it (see :func:`precision_policy`).
    log_every : int
        Yield a record (and log a row) every this many steps, on the last step, and on any
        step whose checks return something.
    stop_rule : StopRule or None
        End the run early when its criterion plateaus (``steps`` is then the most it runs);
        ``None``: run every step.
    """

    steps: int
    batch_size: int
    learning_rate: float
    weight_decay: float = 1e-4
    warmup_fraction: float = 0.0
    optimizer: str = "adamw"
    momentum: float = 0.9
    amp: bool = True
    log_every: int = 1
    stop_rule: StopRule | None = None

    @classmethod
    def of(cls, config: Any) -> Recipe:
        """The engine's part of a training or pretraining config (AdamW); a config with
        ``early_stop`` set also gives its stop rule (``patience``, ``min_steps``,
        ``min_delta``, ``smoothing``)."""
        names = ("steps", "batch_size", "learning_rate", "weight_decay", "warmup_fraction")
        rule = None
        if getattr(config, "early_stop", False):
            fields = ("patience", "min_steps", "min_delta", "smoothing")
            rule = StopRule(**{name: getattr(config, name) for name in fields})
        return cls(
            **{name: getattr(config, name) for name in names},
            amp=config.amp,
            log_every=config.log_every,
            stop_rule=rule,
        )


class Objective(ABC):
    """What one training run learns; the engine calls these methods.

    Subclasses implement :meth:`modules` and :meth:`loss`; :meth:`after_step` is optional.

    Attributes
    ----------
    stage : str
        ``stage`` of the progress records.
    what : str
        Name of the run in error messages (``"training diverged at step ..."``).
    message : str or None
        ``message`` of the progress records (``None``: ``"step i/N"``).
    criterion : str or None
        Check of :meth:`after_step` (higher is better) that early stopping watches; ``None``:
        the smoothed loss.
    """

    stage: str = "train"
    what: str = "training"
    message: str | None = None
    criterion: str | None = None

    @abstractmethod
    def modules(self) -> list[Any]:
        """The ``torch.nn.Module`` s trained (all their parameters are optimised)."""

    @abstractmethod
    def loss(self, step: int) -> tuple[Any, dict[str, Any]]:
        """Sample the batch of 0-based ``step`` and return its scalar loss and named terms.

        Called under the device's autocast; the terms (tensors or floats) go into the
        record's ``extra`` and the log.
        """

    def after_step(self, done: int, last: bool) -> tuple[dict[str, float], Any]:
        """Checks after ``done`` steps: scores for ``extra`` and preview labels (or ``None``).

        A step with scores or labels is always yielded; labels make it a
        :class:`~napari_selfsup_seg._progress.PreviewProgress`.
        """
        return {}, None


@dataclass
class RunSummary:
    """What the engine returns: steps done, seconds taken, the logged rows, and how the run
    ended (``steps``, ``max_steps``, ``reason`` one of ``plateau``, ``max_steps``, ``stopped``;
    with a stop rule also ``criterion``, ``best`` and ``best_step``)."""

    done: int
    seconds: float
    log: list[dict[str, float]]
    ended: dict[str, Any]


def seed_everything(seed: int) -> None:
    """Seed Python, numpy's global state and torch (CPU and every GPU)."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (libraries that use the global state)
    torch.manual_seed(seed)


class Throughput:
    """Samples per second and seconds left, averaged since the run started."""

    def __init__(self, steps: int, batch_size: int) -> None:
        self.steps, self.batch_size = steps, batch_size
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        """Seconds since the start."""
        return time.perf_counter() - self.start

    def rate(self, done: int) -> tuple[float, float]:
        """``(samples per second, estimated seconds left)`` after ``done`` steps."""
        elapsed = self.seconds
        return done * self.batch_size / max(elapsed, 1e-9), elapsed / done * (self.steps - done)


def run(
    objective: Objective,
    recipe: Recipe,
    device: Any,
    stop: Callable[[], bool] | None = None,
) -> Generator[TrainProgress, None, RunSummary]:
    """Train ``objective`` for ``recipe.steps`` steps (fewer on a plateau with
    ``recipe.stop_rule``), yielding a record per logged step.

    Parameters
    ----------
    objective : Objective
        Modules, batches and loss (seed before building its modules).
    recipe : Recipe
        Steps, optimiser, schedule, precision, logging.
    device : torch.device
        Where the modules live.
    stop : callable, optional
        Checked before every step; returning True ends the run with the weights so far.
        The step on which the criterion plateaus is always yielded, and is the last.

    Yields
    ------
    TrainProgress
        Loss, learning rate of the step, samples per second, ETA, ``extra`` (loss terms and
        checks); a :class:`~napari_selfsup_seg._progress.PreviewProgress` when the checks
        return labels.

    Returns
    -------
    RunSummary
        The modules are left in eval mode.

    Raises
    ------
    InputError
        The loss is not finite.
    """
    modules = objective.modules()
    params: Iterable[Any] = [p for m in modules for p in m.parameters()]
    opt = make_optimizer(params, recipe, device)
    precision = precision_policy(device, recipe.amp)
    for m in modules:
        m.train()
    meter = Throughput(recipe.steps, recipe.batch_size)
    log: list[dict[str, float]] = []
    rule = recipe.stop_rule
    watch = None if rule is None else EarlyStop(rule, objective.criterion)
    done, reason = 0, "max_steps"
    for step in range(recipe.steps):
        if stop is not None and stop():
            reason = "stopped"
            break
        lr = learning_rate(step, recipe.steps, recipe.learning_rate, recipe.warmup_fraction)
        for group in opt.param_groups:
            group["lr"] = lr
        opt.zero_grad(set_to_none=True)
        with precision.autocast():
            loss, terms = objective.loss(step)
        precision.backward_and_step(loss, opt)
        loss_value = float(loss.detach())
        if not math.isfinite(loss_value):
            raise InputError(
                f"{objective.what} diverged at step {step + 1} (loss {loss_value}); "
                "lower the learning rate"
            )
        done = step + 1
        ips, eta = meter.rate(done)
        last = done == recipe.steps
        checks, labels = objective.after_step(done, last)
        extra = {k: float(v) for k, v in terms.items()}
        extra.update(checks)
        plateau = watch is not None and watch.update(done, loss_value, checks)
        if plateau:
            reason = "plateau"
        elif done % recipe.log_every and not (last or checks or labels is not None):
            continue
        log.append({"step": done, "loss": loss_value, "lr": lr, "images_per_s": ips, **extra})
        record: dict[str, Any] = dict(
            stage=objective.stage,
            done=done,
            total=recipe.steps,
            message=objective.message or f"step {done}/{recipe.steps}",
            loss=loss_value,
            lr=lr,
            images_per_s=ips,
            eta_s=eta,
            extra=extra,
        )
        if labels is None:
            yield TrainProgress(**record)
        else:
            yield PreviewProgress(**record, labels=labels)
        if plateau:
            break
    for m in modules:
        m.eval()
    ended = {"steps": done, "max_steps": recipe.steps, "reason": reason}
    if watch is not None:
        ended = watch.record(done, recipe.steps, reason)
    return RunSummary(done=done, seconds=meter.seconds, log=log, ended=ended)
