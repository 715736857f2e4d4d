"""The pseudo-mask methods in one table, read by the API, the command line and the widget.

Each :class:`PseudoMaskMethod` names its config class, its pipeline (a progress generator
``run_iter(planes, config, *, stop=None, sweeps=False, names=None, **inputs)`` that returns a
:class:`~napari_selfsup_seg.pseudo._result.PseudoMaskResult`), its labelling of a map at a cut
(``recut(map, plane, cut, config)``, used by the automatic cut and the slider preview alike)
and the channel roles it prefers. A fourth method is one new module with these pieces and one
:func:`register_method` call (or one entry below).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from .._errors import InputError
from .._progress import Progress
from ._cells import threshold_or_cells_iter
from ._marks import scorecam_marks_iter
from ._psm import MIN_SIZE as PSM_MIN_SIZE
from ._psm import PSMConfig, psm_iter, psm_recut
from ._result import PseudoMaskResult, Recut
from ._threshold import ThresholdConfig, split_recut, threshold_recut
from ._weak import ScoreCAMConfig


@dataclass(frozen=True)
class PseudoMaskMethod:
    """One pseudo-mask method.

    Attributes
    ----------
    name : str
        Name on the command line (``--method``) and in the widget.
    config : type
        Its :class:`~napari_selfsup_seg._config.ConfigBase` dataclass.
    run_iter : callable
        The pipeline: ``run_iter(planes, config, *, stop, sweeps, names, **inputs)``.
    recut : callable
        ``recut(map, plane, cut, config) -> labels``.
    roles : tuple of str
        Channel roles (set in the Data widget) it works on, preferred first.
    weak_labels : bool
        It needs per-image or per-tile marks (``inputs["marks"]``).
    joint : bool
        It trains one network on all the planes given together (the command line runs it once
        over every image instead of image by image).
    min_side : int
        Smallest plane side it accepts, in pixels.
    """

    name: str
    config: type
    run_iter: Callable[..., Generator[Progress, None, PseudoMaskResult]]
    recut: Recut
    roles: tuple[str, ...]
    weak_labels: bool = False
    joint: bool = False
    min_side: int = 1

    def make_config(self, **values: Any) -> Any:
        """The config from ``values``, keeping only its own fields and dropping ``None``s.

        ``threshold`` is kept even when ``None`` (``None`` = automatic cut).
        """
        names = {f.name for f in dataclasses.fields(self.config)}
        kept = {
            k: v for k, v in values.items() if k in names and (v is not None or k == "threshold")
        }
        return self.config(**kept)


METHODS: dict[str, PseudoMaskMethod] = {}


def register_method(method: PseudoMaskMethod) -> PseudoMaskMethod:
    """Add ``method`` to :data:`METHODS` (replacing one of the same name)."""
    METHODS[method.name] = method
    return method


def get_method(name: str) -> PseudoMaskMethod:
    """The method called ``name``.

    Raises
    ------
    InputError
        No such method.
    """
    try:
        return METHODS[name]
    except KeyError:
        raise InputError(f"method must be one of {', '.join(METHODS)}, got {name!r}") from None


register_method(
    PseudoMaskMethod(
        "threshold", ThresholdConfig, threshold_or_cells_iter, threshold_recut, ("fluorescent",)
    )
)
register_method(
    PseudoMaskMethod(
        "psm",
        PSMConfig,
        psm_iter,
        psm_recut,
        ("fluorescent", "brightfield"),
        joint=True,
        min_side=PSM_MIN_SIZE,
    )
)
register_method(
    PseudoMaskMethod(
        "scorecam",
        ScoreCAMConfig,
        scorecam_marks_iter,
        split_recut,
        ("fluorescent", "brightfield"),
        weak_labels=True,
    )
)
