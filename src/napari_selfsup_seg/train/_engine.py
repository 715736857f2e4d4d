"""The one training engine: the step loop every network of the package is trained with.

An :class:`Objective` says what is learnt (its modules, one batch and its loss per step, and
optional checks after a step); the engine owns everything else: seeding, the optimiser (AdamW
or SGD with momentum, multi-tensor or fused updates), the learning-rate schedule (linear
warm-up, then cosine decay to :data:`LR_FLOOR` of the peak), the mixed-precision policy of the
device (:func:`precision_policy`), gradient scaling, the stop flag, the divergence check, the
throughput and ETA record, and the training log. It yields one
:class:`~napari_selfsup_seg._progress.TrainProgress` per logged step.

The objectives: supervised segmentation (:mod:`._supervised`), self-supervised pretraining
(:mod:`._pretrain`), the PSM activation network and the Score-CAM weak-label classifier
(:mod:`napari_selfsup_seg.pseudo`).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Generator, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._errors import InputError
from .._progress import PreviewProgress, TrainProgress

LR_FLOOR = 0.01
"""Fraction of the peak learning rate that the cosine decay ends at (when the run ends)."""


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

    @classmethod
    def of(cls, config: Any) -> Recipe:
        """The engine's part of a training or pretraining config (AdamW)."""
        names = ("steps", "batch_size", "learning_rate", "weight_decay", "warmup_fraction")
        return cls(
            **{name: getattr(config, name) for name in names},
            amp=config.amp,
            log_every=config.log_every,
        )


class Objective:
    """What one training run learns; the engine calls these methods.

    Attributes
    ----------
    stage : str
        ``stage`` of the progress records.
    what : str
        Name of the run in error messages (``"training diverged at step ..."``).
    message : str or None
        ``message`` of the progress records (``None``: ``"step i/N"``).
    """

    stage: str = "train"
    what: str = "training"
    message: str | None = None

    def modules(self) -> list[Any]:
        """The ``torch.nn.Module`` s trained (all their parameters are optimised)."""
        raise NotImplementedError

    def loss(self, step: int) -> tuple[Any, dict[str, Any]]:
        """Sample the batch of 0-based ``step`` and return its scalar loss and named terms.

        Called under the device's autocast; the terms (tensors or floats) go into the
        record's ``extra`` and the log.
        """
        raise NotImplementedError

    def after_step(self, done: int, last: bool) -> tuple[dict[str, float], Any]:
        """Checks after ``done`` steps: scores for ``extra`` and preview labels (or ``None``).

        A step with scores or labels is always yielded; labels make it a
        :class:`~napari_selfsup_seg._progress.PreviewProgress`.
        """
        return {}, None


@dataclass
class RunSummary:
    """What the engine returns: steps done, seconds taken, and the logged rows."""

    done: int
    seconds: float
    log: list[dict[str, float]]


def seed_everything(seed: int) -> None:
    """Seed Python, numpy's global state and torch (CPU and every GPU)."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (libraries that use the global state)
    torch.manual_seed(seed)


def learning_rate(step: int, steps: int, peak: float, warmup_fraction: float) -> float:
    """Learning rate of 0-based ``step``: linear warm-up to ``peak``, then cosine decay.

    The decay reaches ``LR_FLOOR * peak`` when the run ends (at ``step == steps``; the last
    step, ``steps - 1``, is one cosine step above it).
    """
    warm = round(warmup_fraction * steps)
    if step < warm:
        return peak * (step + 1) / warm
    t = (step - warm) / max(1, steps - warm)
    return peak * (LR_FLOOR + (1 - LR_FLOOR) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, t))))


def make_optimizer(params: Any, recipe: Any, device: Any) -> Any:
    """The optimiser of ``recipe`` over ``params`` (a module or an iterable of parameters).

    AdamW (or SGD with momentum when ``recipe.optimizer == "sgd"``) with the fused update on
    CUDA and the multi-tensor (foreach) update elsewhere, both much faster than the default
    per-tensor loop. ``recipe`` needs ``learning_rate`` and ``weight_decay``.
    """
    import torch

    if isinstance(params, torch.nn.Module):
        params = params.parameters()
    cuda = device.type == "cuda"
    fused, foreach = (True, None) if cuda else (None, True)
    lr, wd = recipe.learning_rate, recipe.weight_decay
    if getattr(recipe, "optimizer", "adamw") == "sgd":
        momentum = getattr(recipe, "momentum", 0.9)
        return torch.optim.SGD(
            params, lr=lr, momentum=momentum, weight_decay=wd, fused=fused, foreach=foreach
        )
    return torch.optim.AdamW(params, lr=lr, weight_decay=wd, fused=fused, foreach=foreach)


@dataclass(frozen=True)
class Precision:
    """Mixed-precision policy of one run: the autocast type and the gradient scaler.

    Attributes
    ----------
    device_type : str
        ``"cuda"``, ``"mps"`` or ``"cpu"``.
    dtype : torch.dtype or None
        Autocast type (``None``: full float32).
    scaler : torch.amp.GradScaler or None
        Loss scaling, for float16 only.
    """

    device_type: str
    dtype: Any = None
    scaler: Any = None

    def autocast(self) -> AbstractContextManager[Any]:
        """The context the forward pass and the loss run in."""
        if self.dtype is None:
            return nullcontext()
        import torch

        return torch.autocast(self.device_type, dtype=self.dtype)

    def backward_and_step(self, loss: Any, optimizer: Any) -> None:
        """Back-propagate ``loss`` and update the weights (scaled when float16)."""
        if self.scaler is None:
            loss.backward()
            optimizer.step()
            return
        self.scaler.scale(loss).backward()
        self.scaler.step(optimizer)
        self.scaler.update()


def precision_policy(device: Any, amp: bool = True) -> Precision:
    """The one mixed-precision rule: bfloat16 on CUDA where supported, else float16 with loss
    scaling on CUDA; full precision on the CPU and MPS, and whenever ``amp`` is False."""
    if not amp or device.type != "cuda":
        return Precision(device.type)
    import torch

    if torch.cuda.is_bf16_supported():
        return Precision("cuda", torch.bfloat16)
    return Precision("cuda", torch.float16, torch.amp.GradScaler("cuda"))


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
    """Train ``objective`` for ``recipe.steps`` steps, yielding a record per logged step.

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
    done = 0
    for step in range(recipe.steps):
        if stop is not None and stop():
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
        if done % recipe.log_every and not (last or checks or labels is not None):
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
    for m in modules:
        m.eval()
    return RunSummary(done=done, seconds=meter.seconds, log=log)
