"""Optimisation mechanics of the training engine: the learning-rate schedule, the optimiser
and the mixed-precision policy of a device."""

from __future__ import annotations

import math
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

LR_FLOOR = 0.01
"""Fraction of the peak learning rate that the cosine decay ends at (when the run ends)."""


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
