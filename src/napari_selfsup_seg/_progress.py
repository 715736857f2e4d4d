"""Typed progress records yielded by the long-running generators, and helpers to drain them.

Every long job in the core (training, prediction, pseudo-masks, batches) is a generator that
yields :class:`Progress` records (or a subclass) and *returns* its result. The Python API drains
the generator with :func:`drain`; the napari widgets run the same generator in a thread worker and
forward the records to a progress bar; the command line feeds them to tqdm. A record's
:class:`Stage` says which job (or which part of it) is running.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeVar

R = TypeVar("R")

if sys.version_info >= (3, 11):
    from enum import StrEnum
else:  # pragma: no cover - Python 3.10

    class StrEnum(str, Enum):
        """A string enum whose members print as their value (``enum.StrEnum`` of 3.11)."""

        def __str__(self) -> str:
            return str(self.value)


class Stage(StrEnum):
    """What a progress record reports on.

    Members are strings, so ``record.stage == "train"`` and ``f"{record.stage}"`` keep working.
    """

    TRAIN = "train"
    """A supervised training step (:mod:`napari_selfsup_seg.train._supervised`)."""
    PRETRAIN = "pretrain"
    """A self-supervised pretraining step."""
    PREDICT = "predict"
    """Tiles or planes predicted."""
    PSEUDO_MASK = "pseudo-mask"
    """Threshold pseudo-masks of the fluorescence-to-brightfield recipe, one per plane."""
    THRESHOLD = "threshold"
    """Threshold pseudo-masks, one per plane."""
    SWEEP = "sweep"
    """The automatic threshold sweep over probability maps, one per plane."""
    PSM_TRAIN = "psm-train"
    """Training (or reusing) the activation network of PSM."""
    PSM = "psm"
    """PSM pseudo-masks, one per plane."""
    CLASSIFIER = "classifier"
    """Training the image classifier of Score-CAM."""
    SELF_TRAIN = "self-train"
    """One round of label-free training ended (pseudo-masks, then the network's own)."""
    FINE_TUNE = "fine-tune"
    """A fine-tuning burst on reviewed tiles ended (its steps and why it stopped)."""
    SCORECAM = "scorecam"
    """Score-CAM pseudo-masks, one per image."""
    SEGMENT_FOLDER = "segment-folder"
    """One image of a folder segmented, skipped or failed."""
    SAVE = "save"
    """A model written to its folder."""
    DEMO = "demo"
    """A step of the demo loop."""


@dataclass(frozen=True)
class Progress:
    """One progress step of a long job.

    Attributes
    ----------
    stage : Stage
        What is running, e.g. ``Stage.TRAIN``. A string naming a member becomes that member;
        another string is kept as it is (e.g. a job of a test).
    done : int
        Units of work finished so far.
    total : int
        Units of work in all (0 when unknown).
    message : str
        A short human-readable note.
    """

    stage: Stage | str
    done: int
    total: int
    message: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.stage, Stage):
            try:
                object.__setattr__(self, "stage", Stage(self.stage))
            except ValueError:
                pass  # not a stage of the package's own jobs: kept as given

    @property
    def fraction(self) -> float:
        """Fraction of the job that is done, in [0, 1] (0 when the total is unknown)."""
        return min(1.0, self.done / self.total) if self.total else 0.0


@dataclass(frozen=True)
class TrainProgress(Progress):
    """Progress of a training (or pretraining) run, one record per optimisation step.

    Attributes
    ----------
    loss : float
        Training loss of this step.
    lr : float
        Learning rate used for this step.
    images_per_s : float
        Training throughput (tiles per second) averaged over the run so far.
    eta_s : float
        Estimated seconds until the run ends.
    extra : dict
        Further scores, e.g. validation metrics when a frame is held out.
    """

    loss: float = float("nan")
    lr: float = 0.0
    images_per_s: float = 0.0
    eta_s: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class PreviewProgress(TrainProgress):
    """A training record that also carries the current prediction of a preview image.

    Attributes
    ----------
    labels : numpy.ndarray of int32 or None
        Shape ``(Y, X)`` instance labels predicted for the preview image at this step.
    """

    labels: Any = None


@dataclass(frozen=True, eq=False)
class RoundProgress(Progress):
    """The end of one self-training round, with the network it left.

    Attributes
    ----------
    model : LoadedModel or None
        The network after this round (the next round fine-tunes it further in place).
    record : dict
        The round's figures (label-free score, change, objects, seconds).
    """

    model: Any = None
    record: dict[str, Any] = field(default_factory=dict)


ProgressGenerator = Generator[Progress, None, R]


def drain(gen: Generator[Progress, Any, R], callback: Callable[[Progress], Any] | None = None) -> R:
    """Run a progress generator to the end and return its result.

    Parameters
    ----------
    gen : generator
        A generator that yields :class:`Progress` records and returns a result.
    callback : callable, optional
        Called with every record, e.g. to update a progress bar.

    Returns
    -------
    object
        The value the generator returned.
    """
    while True:
        try:
            record = next(gen)
        except StopIteration as stop:
            return stop.value
        if callback is not None:
            callback(record)
