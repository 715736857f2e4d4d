"""Weak labels for Score-CAM: mark the displayed frame (or the tile in the middle of the view) as
"has it" or "has not", listed in a table.

The marks are :data:`~napari_selfsup_seg.pseudo._marks.WeakMark` tuples; the core crops,
trains on and pastes them back (:func:`~napari_selfsup_seg.pseudo._marks.scorecam_marks_iter`).
"""

from __future__ import annotations

from collections.abc import Callable

import napari.viewer
import numpy as np
from magicgui.widgets import CheckBox, Container, Label, PushButton, SpinBox, Table

from ..._errors import InputError
from ._dock import fit_table
from ._layers import current_plane

ALLOW_CHANCE = "Make masks even if the classifier is at chance"
"""Text of the check box that forces masks from a classifier not shown better than chance."""


def chance_line(exc: BaseException) -> str | None:
    """The refusal line of a classifier at chance, naming the check box (else ``None``)."""
    from ...pseudo._weak_check import ChanceClassifierError

    if not isinstance(exc, ChanceClassifierError):
        return None
    return exc.line(f"'{ALLOW_CHANCE}'", "Score-CAM marks")


def classifier_note(record: dict) -> str:
    """``"; held-out accuracy …"`` for the status, a warning when forced at chance, or ``""``;
    then the refinement ``refine="auto"`` chose (:func:`refine_note`)."""
    clf = record.get("classifier")
    if not clf:
        return ""
    check = clf.get("held_out")
    if check is None or not check["better_than_chance"]:
        return "; WARNING: classifier not shown better than chance (forced)" + refine_note(record)
    held = f"; held-out accuracy {check['accuracy']:.2f} ({check['correct']}/{check['n']})"
    return held + refine_note(record)


def refine_note(record: dict) -> str:
    """``"; map refinement auto: objects on 3 plane(s), guided on 1"`` for the status, or ``""``."""
    chosen = record.get("refine_chosen")
    if not chosen:
        return ""
    planes = chosen["planes"]
    return (
        f"; map refinement auto: objects on {planes.count('objects')} plane(s), guided on "
        f"{planes.count('guided')}"
    )


class WeakLabelTable(Container):
    """Per-frame or per-tile "has / has not" marks.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer of the Pseudo-masks widget that holds this table.
    source : callable
        Returns the source image layer (or ``None``).
    """

    COLUMNS = ("frame", "y0", "x0", "size", "has it")

    def __init__(self, viewer: napari.viewer.Viewer, source: Callable[[], object]) -> None:
        self.viewer = viewer
        self._source = source
        self.tile = SpinBox(label="Tile size (0 = frame)", value=0, min=0, max=8192, step=32)
        self.has_button = PushButton(text="Has it")
        self.has_not_button = PushButton(text="Has not")
        self.clear_button = PushButton(text="Clear marks")
        buttons = Container(
            widgets=[self.has_button, self.has_not_button, self.clear_button], layout="horizontal"
        )
        buttons.margins = (0, 0, 0, 0)
        self.table = Table(value={c: [] for c in self.COLUMNS})
        self.table.native.setMinimumHeight(110)
        fit_table(self.table)
        self.summary = Label(value="No marks yet.")
        self.allow_chance = CheckBox(text=ALLOW_CHANCE, value=False)
        self.allow_chance.tooltip = (
            "The classifier is first checked on held-out marks; when it is not better than "
            "chance no mask is made. Tick to make them anyway (they rarely point at the thing)."
        )
        super().__init__(widgets=[self.tile, buttons, self.table, self.summary, self.allow_chance])
        self.margins = (0, 0, 0, 0)
        self.marks: list[tuple[int, int, int, int, int]] = []
        self.has_button.changed.connect(lambda: self.mark(True))
        self.has_not_button.changed.connect(lambda: self.mark(False))
        self.clear_button.changed.connect(self.clear)

    def _region(self, layer) -> tuple[int, int, int, int]:
        """Frame index and the tile (y0, x0, size) at the centre of the view."""
        k = current_plane(self.viewer, layer)
        h, w = layer.data.shape[-2:]
        size = int(self.tile.value)
        if size <= 0 or size >= min(h, w):
            return k, 0, 0, 0
        centre = layer.world_to_data(self.viewer.camera.center)[-2:]
        y0 = int(np.clip(centre[0] // size * size, 0, h - size))
        x0 = int(np.clip(centre[1] // size * size, 0, w - size))
        return k, y0, x0, size

    def mark(self, has_it: bool) -> tuple[int, int, int, int, int] | None:
        """Mark the displayed frame (or tile) and return the mark ``(frame, y0, x0, size, 0/1)``."""
        layer = self._source()
        if layer is None:
            from ._workers import report_error

            report_error(InputError("choose a source image layer first"), "Score-CAM")
            return None
        k, y0, x0, size = self._region(layer)
        entry = (k, y0, x0, size, int(has_it))
        self.marks = [m for m in self.marks if m[:4] != entry[:4]] + [entry]
        self._show()
        return entry

    def clear(self) -> None:
        """Remove every mark."""
        self.marks = []
        self._show()

    def _show(self) -> None:
        rows = sorted(self.marks)
        self.table.value = {
            c: [r[i] if i < 4 else ("yes" if r[4] else "no") for r in rows]
            for i, c in enumerate(self.COLUMNS)
        }
        fit_table(self.table)
        pos = sum(m[4] for m in self.marks)
        self.summary.value = f"{pos} marked 'has it', {len(self.marks) - pos} 'has not'"
