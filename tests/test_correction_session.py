"""The correction session without napari: edits, reviewed frames, the corrections folder."""

from __future__ import annotations

import json

import numpy as np

from napari_selfsup_seg._config import IGNORE_LABEL
from napari_selfsup_seg.workflows._correction import CorrectionSession

#: (frame, value, top, left, size) of the squares in the test stack.
SQUARES = ((0, 1, 2, 2, 6), (0, 2, 20, 20, 10), (1, 1, 2, 2, 6), (1, IGNORE_LABEL, 25, 0, 5))


def _stack() -> np.ndarray:
    lab = np.zeros((2, 32, 32), np.int32)
    for frame, value, top, left, size in SQUARES:
        lab[frame, top : top + size, left : left + size] = value
    return lab


def test_delete_object_marks_the_frame_reviewed():
    session = CorrectionSession(_stack(), "cells pseudo", reviewed=[1])
    assert session.n_frames == 2 and session.reviewed == [1]
    assert session.delete_object(0, 15, 15) is None  # background: nothing, not reviewed
    assert session.delete_object(1, 27, 2) is None  # an unreviewed region is no object
    assert session.delete_object(0, 99, 0) is None  # outside the frame
    assert session.reviewed == [1]
    assert session.object_at(0, 25.4, 24.6) == 2
    edit = session.delete_object(0, 25.4, 24.6)
    assert edit is not None and edit.value == 0 and edit.n_pixels == 100
    session.apply(edit)
    assert not (session.labels[0] == 2).any() and (session.labels[0] == 1).sum() == 36
    assert session.reviewed == [0, 1]


def test_clear_ignore_turns_unreviewed_pixels_into_background():
    session = CorrectionSession(_stack(), "x")
    assert session.ignore_value == IGNORE_LABEL
    edit = session.clear_ignore(1)
    assert edit.n_pixels == 25 and session.reviewed == [1]
    session.apply(edit)
    assert not (session.labels == IGNORE_LABEL).any()
    assert (session.labels[1] == 1).sum() == 36  # objects untouched


def test_single_frame_and_accept():
    session = CorrectionSession(_stack()[0], "one")
    assert session.n_frames == 1
    session.mark_reviewed(0)
    assert session.reviewed == [0]
    assert session.delete_object(0, 4, 4).index[0].size == 36  # (Y, X) index only
    assert len(session.delete_object(0, 4, 4).index) == 2


def test_save_and_load_round_trip(tmp_path):
    session = CorrectionSession(_stack(), "cells pseudo (threshold)", reviewed=[1, 0])
    path = session.save(tmp_path / "cells.selfsup", axes="ZYX")
    assert path == tmp_path / "cells.selfsup" / "cells_pseudo_threshold.tif"
    state = json.loads(path.with_suffix(".json").read_text())
    assert state == {"layer": "cells pseudo (threshold)", "reviewed": [0, 1]}
    assert not list(path.parent.glob(".*"))  # no temporary file left behind
    loaded = CorrectionSession.load(path)
    assert loaded.name == session.name and loaded.reviewed == [0, 1]
    np.testing.assert_array_equal(loaded.labels, session.labels)
