"""A correction session: the reviewed frames of a label stack, its edits and its saved form.

A user corrects pseudo-masks frame by frame: deletes wrong objects, turns regions marked "not
reviewed" (:data:`~napari_selfsup_seg._config.IGNORE_LABEL`, which training skips) into
reviewed background, or accepts a frame as it is. :class:`CorrectionSession` decides which pixels
each action changes and which frames count as reviewed; it returns each change as a
:class:`PixelEdit` so that a viewer can apply it with its own (undoable) painting, or applies it
itself. Besides whole frames, single tiles of a frame can be reviewed (the Correct widget's
"Accept tile"). The corrections folder holds, per label stack, ``<name>.tif`` (the labels) and
``<name>.json`` (``{"layer": name, "reviewed": [frames], "reviewed_boxes": {frame: [[y0, x0,
y1, x1], ...]}}``), both written atomically.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._config import IGNORE_LABEL
from .._errors import InputError
from ..io._atomic import atomic_write
from ..io._tiff_write import write_labels
from ..io._workspace import safe_name

#: Key of the reviewed frames in the saved JSON (and in the napari layer's metadata).
REVIEWED_KEY = "reviewed"
#: Key of the reviewed tiles, ``{frame: [[y0, x0, y1, x1], ...]}``, in the JSON and metadata.
REVIEWED_BOXES_KEY = "reviewed_boxes"


def boxes_by_frame(value: Any) -> dict[int, list[tuple[int, int, int, int]]]:
    """Reviewed tiles as saved (frame keys may be strings, boxes lists) as ``{int: [tuple]}``."""
    out: dict[int, list[tuple[int, int, int, int]]] = {}
    for frame, boxes in dict(value or {}).items():
        for box in boxes:
            values = tuple(int(v) for v in box)
            if len(values) != 4:
                raise InputError(f"reviewed tile of frame {frame}: expected 4 numbers, got {box}")
            values = (values[0], values[1], values[2], values[3])
            out.setdefault(int(frame), []).append(values)
    return out


@dataclass(frozen=True)
class PixelEdit:
    """Set the pixels at ``index`` of a label stack to ``value``.

    Attributes
    ----------
    index : tuple of numpy.ndarray
        One integer array per axis of the stack (leading axes, then Y and X), all of one length.
    value : int
        New label value.
    """

    index: tuple[np.ndarray, ...]
    value: int

    @property
    def n_pixels(self) -> int:
        """Number of pixels the edit sets."""
        return int(self.index[-1].size)


class CorrectionSession:
    """Review and correct one label stack.

    Parameters
    ----------
    labels : numpy.ndarray of int
        Shape ``(..., Y, X)``; frames are the ``(Y, X)`` planes in C order of the leading axes.
        The session reads it and writes only through :meth:`apply`.
    name : str
        Name of the stack (names the saved files).
    reviewed : iterable of int
        Frames already reviewed.
    reviewed_boxes : mapping, optional
        Tiles already reviewed, ``{frame: [(y0, x0, y1, x1), ...]}`` (keys may be strings).
    """

    ignore_value = IGNORE_LABEL

    def __init__(
        self,
        labels: np.ndarray,
        name: str,
        reviewed: Iterable[int] = (),
        reviewed_boxes: Any = None,
    ) -> None:
        self.labels = labels
        self.name = name
        self._reviewed = {int(k) for k in reviewed}
        self._boxes = boxes_by_frame(reviewed_boxes)

    @property
    def n_frames(self) -> int:
        """Number of ``(Y, X)`` frames of the stack."""
        return int(np.prod(np.shape(self.labels)[:-2], dtype=np.int64))

    @property
    def reviewed(self) -> list[int]:
        """Frames accepted or corrected so far, sorted."""
        return sorted(self._reviewed)

    def mark_reviewed(self, frame: int) -> None:
        """Count ``frame`` as reviewed."""
        self._reviewed.add(int(frame))

    @property
    def reviewed_boxes(self) -> dict[int, list[tuple[int, int, int, int]]]:
        """Tiles reviewed so far, ``{frame: [(y0, x0, y1, x1), ...]}`` in the order accepted."""
        return {k: list(v) for k, v in sorted(self._boxes.items()) if v}

    def mark_box_reviewed(self, frame: int, box: Iterable[int]) -> None:
        """Count the tile ``box`` ``(y0, x0, y1, x1)`` of ``frame`` as reviewed."""
        values = tuple(int(v) for v in box)
        boxes = self._boxes.setdefault(int(frame), [])
        if values not in boxes:
            boxes.append(values)  # type: ignore[arg-type]

    def _prefix(self, frame: int) -> tuple[int, ...]:
        lead = np.shape(self.labels)[:-2]
        return tuple(int(i) for i in np.unravel_index(frame, lead)) if lead else ()

    def frame(self, frame: int) -> np.ndarray:
        """The ``(Y, X)`` labels of ``frame`` (a view when ``labels`` is a numpy array)."""
        return np.asarray(self.labels[self._prefix(frame)])

    def _edit(self, frame: int, where: np.ndarray, value: int) -> PixelEdit:
        ys, xs = np.nonzero(where)
        lead = tuple(np.full(ys.shape, p) for p in self._prefix(frame))
        return PixelEdit((*lead, ys, xs), int(value))

    def object_at(self, frame: int, y: float, x: float) -> int:
        """Label of the object at ``(y, x)`` of ``frame``.

        Returns
        -------
        int
            0 outside the frame, on background or on an unreviewed region.
        """
        plane = self.frame(frame)
        yi, xi = round(float(y)), round(float(x))
        if not (0 <= yi < plane.shape[0] and 0 <= xi < plane.shape[1]):
            return 0
        value = int(plane[yi, xi])
        return 0 if value == self.ignore_value else value

    def delete_object(self, frame: int, y: float, x: float) -> PixelEdit | None:
        """The edit that deletes the object at ``(y, x)`` of ``frame``; the frame is reviewed.

        Returns
        -------
        PixelEdit or None
            ``None`` (and nothing reviewed) outside the frame, on background or on an
            unreviewed region.
        """
        value = self.object_at(frame, y, x)
        if not value:
            return None
        self.mark_reviewed(frame)
        return self._edit(frame, self.frame(frame) == value, 0)

    def clear_ignore(self, frame: int) -> PixelEdit:
        """The edit that turns the unreviewed pixels of ``frame`` into background; reviewed."""
        self.mark_reviewed(frame)
        return self._edit(frame, self.frame(frame) == self.ignore_value, 0)

    def apply(self, edit: PixelEdit | None) -> None:
        """Write ``edit`` into :attr:`labels` (for use without a viewer)."""
        if edit is not None and edit.n_pixels:
            self.labels[edit.index] = edit.value

    # -- corrections folder ----------------------------------------------------------------
    def save_path(self, folder: str | os.PathLike) -> Path:
        """``<folder>/<safe name>.tif``, where :meth:`save` writes the labels."""
        return Path(folder) / f"{safe_name(self.name)}.tif"

    def save(self, folder: str | os.PathLike, axes: str | None = None) -> Path:
        """Write the labels and the reviewed frames into ``folder`` (made when missing).

        Parameters
        ----------
        folder : path-like
        axes : str, optional
            Axes of the labels, e.g. ``"ZYX"``.

        Returns
        -------
        pathlib.Path
            The labels file; the JSON beside it has the same stem.
        """
        path = self.save_path(folder)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_labels(path, np.asarray(self.labels), axes=axes)
        state: dict[str, Any] = {"layer": self.name, REVIEWED_KEY: self.reviewed}
        if self._boxes:
            boxes = {str(k): [list(b) for b in v] for k, v in self.reviewed_boxes.items()}
            state[REVIEWED_BOXES_KEY] = boxes
        text = json.dumps(state, indent=1)
        atomic_write(path.with_suffix(".json"), lambda tmp: Path(tmp).write_text(text))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> CorrectionSession:
        """Read a session written by :meth:`save` (``path`` is its ``.tif``)."""
        from ..io._image import read_image

        path = Path(path)
        state = json.loads(path.with_suffix(".json").read_text())
        labels = np.asarray(read_image(path).data)
        name = str(state.get("layer", path.stem))
        return cls(labels, name, state.get(REVIEWED_KEY, []), state.get(REVIEWED_BOXES_KEY))
