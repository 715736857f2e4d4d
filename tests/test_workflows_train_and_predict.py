"""Train-and-predict without napari: frame choice, eager checks, save, prediction of all frames."""

from __future__ import annotations

import numpy as np
import pytest

from napari_selfsup_seg._config import IGNORE_LABEL, ModelConfig, TrainConfig
from napari_selfsup_seg._errors import InputError
from napari_selfsup_seg._progress import drain
from napari_selfsup_seg.data._synthetic import make_sample_stack
from napari_selfsup_seg.models._factory import read_model_config
from napari_selfsup_seg.workflows._train_and_predict import (
    TrainPredictResult,
    split_frames,
    train_and_predict_iter,
)

TINY = TrainConfig(steps=3, batch_size=2, tile_size=64, device="cpu")


def _stack(n=3):
    image, labels = make_sample_stack(n, (64, 64), seed=5)
    masks = labels.astype(np.int32)
    masks[0, :16, :16] = IGNORE_LABEL
    return image[:, 0], masks


def test_split_frames_holds_out_the_last_reviewed_frame_in_use():
    assert split_frames([0, 1, 2]) == ([0, 1, 2], [])
    assert split_frames([0, 1, 2], reviewed=[2, 1], hold_out=True) == ([0, 2], [1])
    assert split_frames([0, 1], reviewed=[1, 5], hold_out=True) == ([0], [1])
    with pytest.raises(InputError, match="no reviewed frame"):
        split_frames([0, 1], reviewed=[5], hold_out=True)
    with pytest.raises(InputError, match="no frame left"):
        split_frames([1], reviewed=[1], hold_out=True)


def test_bad_requests_are_refused_before_anything_runs(tmp_path):
    images, masks = _stack(2)
    with pytest.raises(InputError, match="do not match"):
        train_and_predict_iter(images, masks[:1], TINY)
    with pytest.raises(InputError, match="no reviewed frame"):
        train_and_predict_iter(images, masks, TINY, hold_out=True)
    with pytest.raises(InputError, match="not a model folder"):
        train_and_predict_iter(images, masks, TINY, init=tmp_path)


def test_trains_saves_previews_and_predicts_every_frame(tmp_path):
    images, masks = _stack(3)
    records = []
    job = train_and_predict_iter(
        images,
        masks,
        TINY,
        ModelConfig.tiny(),
        frames=[0, 1, 2],
        reviewed=[0, 2],
        hold_out=True,
        save_dir=tmp_path / "model",
        provenance={"masks_layer": "m"},
        preview_frame=1,
        preview_every=1,
        input_channels=[1],
    )
    result = drain(job, records.append)
    assert isinstance(result, TrainPredictResult)
    assert result.train_frames == [0, 1] and result.held_out == [2]
    assert result.labels.shape == (3, 64, 64) and result.labels.dtype == np.int32
    assert result.model.path == tmp_path / "model"
    cfg = read_model_config(tmp_path / "model")
    assert cfg.provenance["frames"] == [0, 1] and cfg.provenance["held_out"] == [2]
    assert cfg.provenance["reviewed"] == [0]  # frame 2 was reviewed but held out
    assert cfg.provenance["masks_layer"] == "m" and cfg.input_channels == [1]
    assert cfg.model.encoder_depth == ModelConfig.tiny().encoder_depth
    stages = [r.stage for r in records]
    assert "save" in stages and stages[-1] == "predict"
    previews = [r.labels for r in records if getattr(r, "labels", None) is not None]
    assert previews and previews[0].shape == (64, 64)
    assert any(r.extra.get("val_ap50") is not None for r in records if r.stage == "train")


def test_stop_keeps_the_model_trained_so_far():
    images, masks = _stack(1)
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) > 2

    recipe = TrainConfig(steps=10_000, batch_size=2, tile_size=64, device="cpu")
    result = drain(train_and_predict_iter(images, masks, recipe, ModelConfig.tiny(), stop=stop))
    assert result.model.log and result.model.log[-1]["step"] < 10
    assert result.model.path is None and result.labels.shape == (1, 64, 64)
