"""Early stopping: a training run ends when its criterion stops improving.

:class:`Plateau` tells when a series stops improving; :class:`EarlyStop` feeds it the run's
criterion step by step. The criterion is a held-out score when the objective reports one (its
``criterion`` check, e.g. ``val_ap50``: higher is better, scored every few steps), else the
training loss smoothed by an exponential average over about ``smoothing`` steps (counted from
step ``smoothing`` on, so that one lucky batch is no best; lower is better).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Why a run ended: its criterion plateaued, it ran all its steps, or it was stopped.
REASONS = ("plateau", "max_steps", "stopped")


class Plateau:
    """Tells when a series stops improving.

    Parameters
    ----------
    patience : int
        Steps without improvement that make a plateau.
    min_steps : int
        Steps before a plateau may be declared.
    min_delta : float
        Improvement that counts: absolute for a score (``higher``), a fraction of the best value
        for a loss.
    higher : bool
        Higher is better (a score), else lower (a loss).
    """

    def __init__(self, patience: int, min_steps: int, min_delta: float, higher: bool) -> None:
        self.patience, self.min_steps, self.min_delta = patience, min_steps, min_delta
        self.higher = higher
        self.best: float | None = None
        self.best_step = 0

    def update(self, step: int, value: float) -> bool:
        """Record ``value`` at ``step``; True when the series has plateaued."""
        if self.best is None:
            improved = True
        elif self.higher:
            improved = value > self.best + self.min_delta
        else:
            improved = value < self.best - self.min_delta * abs(self.best)
        if improved:
            self.best, self.best_step = value, step
        return step >= self.min_steps and step - self.best_step >= self.patience


@dataclass(frozen=True)
class StopRule:
    """When a run may end early.

    Attributes
    ----------
    patience : int
        Steps without improvement of the criterion that end the run.
    min_steps : int
        Steps before the run may end early.
    min_delta : float
        Improvement that counts (absolute for a score, a fraction of the best loss).
    smoothing : int
        Span in steps of the loss's exponential average.
    """

    patience: int = 30
    min_steps: int = 20
    min_delta: float = 0.01
    smoothing: int = 10


class EarlyStop:
    """Watches one run's criterion and says when it has plateaued.

    Parameters
    ----------
    rule : StopRule
    criterion : str or None
        Name of the held-out score (higher is better) the run reports among its checks;
        ``None``: the smoothed training loss.
    """

    def __init__(self, rule: StopRule, criterion: str | None = None) -> None:
        self.rule, self.criterion = rule, criterion
        self.plateau = Plateau(rule.patience, rule.min_steps, rule.min_delta, criterion is not None)
        self.alpha = 2.0 / (rule.smoothing + 1)
        self.ema: float | None = None

    def update(self, done: int, loss: float, checks: dict[str, float]) -> bool:
        """Record step ``done`` (1-based) with its loss and checks; True on a plateau."""
        self.ema = loss if self.ema is None else self.ema + self.alpha * (loss - self.ema)
        if self.criterion is not None:
            value = checks.get(self.criterion)
        else:
            value = self.ema if done >= self.rule.smoothing else None
        return value is not None and self.plateau.update(done, float(value))

    def record(self, done: int, steps: int, reason: str) -> dict[str, Any]:
        """How the run ended: ``steps`` run of ``max_steps``, ``reason`` (see :data:`REASONS`),
        ``criterion`` (``"loss"`` or the score's name), its ``best`` value and ``best_step``."""
        best = self.plateau.best
        return {
            "steps": done,
            "max_steps": steps,
            "reason": reason,
            "criterion": self.criterion or "loss",
            "best": None if best is None else round(float(best), 4),
            "best_step": self.plateau.best_step,
        }
