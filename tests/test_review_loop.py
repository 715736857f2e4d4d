"""The review loop's core: next tile, accept, a burst from the current model, saved tiles."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_selfsup_seg._config import ModelConfig, TrainConfig
from napari_selfsup_seg._errors import InputError
from napari_selfsup_seg._progress import RoundProgress, drain
from napari_selfsup_seg.data._synthetic import make_sample
from napari_selfsup_seg.workflows._boxes import box_overlap
from napari_selfsup_seg.workflows._correction import CorrectionSession
from napari_selfsup_seg.workflows._fine_tune import FineTuneConfig
from napari_selfsup_seg.workflows._queue import QueueConfig
from napari_selfsup_seg.workflows._review import ReviewLoop
from napari_selfsup_seg.workflows._train_and_predict import train_and_predict_iter

RECIPE = TrainConfig(batch_size=1, tile_size=32, learning_rate=1e-2, device="cpu", seed=3)
BURST = FineTuneConfig(max_steps=4, min_steps=0, patience=2, smoothing=1)


@pytest.fixture(scope="module")
def student():
    """A tiny U-Net trained a few steps on a 96 px field, the field and a teacher missing some."""
    from napari_selfsup_seg.models._device import cpu_threads
    from napari_selfsup_seg.train._supervised import train

    sample = make_sample((96, 96), radius=(4.0, 6.0), seed=2)
    with cpu_threads(1):
        model = train(
            [sample.fluorescence], [sample.labels], steps=4, model_config=ModelConfig.tiny(),
            train_config=RECIPE,
        )  # fmt: skip
    teacher = sample.labels.copy()
    teacher[:48, :48] = 0  # the pseudo-masks missed every object of the top-left corner
    return model, sample, teacher


def _params(model) -> np.ndarray:
    return np.concatenate([p.detach().cpu().numpy().ravel() for p in model.net.parameters()])


def test_next_tile_accept_burst_and_no_second_proposal(student, tmp_path, one_torch_thread):
    model, sample, teacher = student
    before = _params(model)
    labels = np.stack([teacher, teacher])
    maps = (labels > 0).astype(np.float32)
    loop = ReviewLoop(
        model, np.stack([sample.fluorescence] * 2), labels, maps, planes=[0],
        queue_config=QueueConfig(device="cpu", tile_size=32), fine_tune_config=BURST,
        train_config=RECIPE, device="cpu",
    )  # fmt: skip
    tile = loop.next_tile(0)
    assert tile is not None
    y0, x0, y1, x1 = tile.box
    assert (y1 - y0, x1 - x0) == (32, 32) and 0 <= y0 and y1 <= 96 and 0 <= x0 and x1 <= 96

    corrected = teacher.copy()
    corrected[tile.slices] = sample.labels[tile.slices]  # the user fixes the tile
    assert loop.accept(0, tile.box, edited=True, labels=corrected) == tile.box
    assert loop.reviewed == {0: [tile.box]} and loop.history == [(0, tile.box, True)]
    np.testing.assert_array_equal(loop.labels[0], corrected)
    np.testing.assert_array_equal(labels[0], teacher)  # the caller's array is left alone

    records = []
    result = drain(loop.burst_iter(0, save_dir=tmp_path / "model-2"), records.append)
    bursts = [r for r in records if isinstance(r, RoundProgress)]
    assert len(bursts) == 1 and 1 <= bursts[0].record["steps"] <= BURST.max_steps
    assert {r.stage for r in records} >= {"train", "fine-tune", "save", "predict"}
    assert result.plane == 0 and result.labels.shape == (96, 96)
    assert result.labels.dtype == np.int32
    assert result.record["reviewed_tiles"] == 1 and result.record["reason"] in (
        "plateau", "max_steps",
    )  # fmt: skip
    assert loop.model is result.model and result.model is not model
    assert (tmp_path / "model-2" / "config.json").exists()
    assert result.model.path == tmp_path / "model-2"
    np.testing.assert_array_equal(_params(model), before)  # the burst trained a copy
    assert not np.array_equal(_params(result.model), before)

    # The next proposals never cover the reviewed tile again, and the queue runs dry.
    seen = [tile.box]
    while (nxt := loop.next_tile(0)) is not None:
        assert all(box_overlap(nxt.box, b) <= loop.queue_config.max_overlap for b in seen)
        loop.accept(0, nxt.box)
        seen.append(nxt.box)
    assert len(seen) >= 4
    assert loop.next_tile(1) is not None  # another plane has its own reviewed tiles


def test_bad_requests_are_refused(student):
    model, sample, teacher = student
    loop = ReviewLoop(model, sample.fluorescence, teacher, device="cpu")
    assert loop.n_planes == 1
    with pytest.raises(InputError, match="accept a tile first"):
        drain(loop.burst_iter(0))
    with pytest.raises(InputError, match="outside the stack"):
        loop.accept(3, (0, 0, 8, 8))
    with pytest.raises(InputError, match="outside"):
        loop.accept(0, (0, 0, 8, 200))
    with pytest.raises(InputError, match="do not match"):
        ReviewLoop(model, sample.fluorescence, teacher[:50], device="cpu")
    with pytest.raises(InputError, match="probability map"):
        ReviewLoop(model, sample.fluorescence, teacher, np.zeros((5, 5)), device="cpu")


def test_session_saves_and_loads_reviewed_tiles(tmp_path):
    labels = np.zeros((2, 32, 32), np.int32)
    session = CorrectionSession(
        labels, "cells pseudo", reviewed=[1], reviewed_boxes={"0": [[0, 0, 8, 8]]}
    )
    session.mark_box_reviewed(0, (8, 8, 16, 16))
    session.mark_box_reviewed(0, (8, 8, 16, 16))  # twice counts once
    path = session.save(tmp_path, axes="ZYX")
    state = json.loads(path.with_suffix(".json").read_text())
    assert state["reviewed"] == [1]
    assert state["reviewed_boxes"] == {"0": [[0, 0, 8, 8], [8, 8, 16, 16]]}
    loaded = CorrectionSession.load(path)
    assert loaded.reviewed == [1]
    assert loaded.reviewed_boxes == {0: [(0, 0, 8, 8), (8, 8, 16, 16)]}
    with pytest.raises(InputError, match="4 numbers"):
        CorrectionSession(labels, "x", reviewed_boxes={0: [[1, 2, 3]]})


def test_train_and_predict_oversamples_reviewed_tiles(student, one_torch_thread, monkeypatch):
    from napari_selfsup_seg.train import _supervised

    _, sample, teacher = student
    seen = {}
    real = _supervised.train_iter

    def spy(*args, **kwargs):
        seen["preferred"] = kwargs.get("preferred_boxes")
        return (yield from real(*args, **kwargs))

    monkeypatch.setattr(_supervised, "train_iter", spy)
    images, masks = np.stack([sample.fluorescence] * 2), np.stack([teacher] * 2)
    job = train_and_predict_iter(
        images, masks, TrainConfig(steps=1, batch_size=1, tile_size=32, device="cpu"),
        ModelConfig.tiny(), frames=[1], reviewed_boxes={0: [(0, 0, 8, 8)], 1: [(0, 0, 32, 32)]},
    )  # fmt: skip
    result = drain(job)
    assert seen["preferred"] == [(0, (0, 0, 32, 32))]  # frame 1 is training image 0
    assert result.model.config.provenance["reviewed_tiles"] == 1
    with pytest.raises(InputError, match="reviewed tile of frame 1"):
        train_and_predict_iter(images, masks, reviewed_boxes={1: [(0, 0, 8, 300)]})
