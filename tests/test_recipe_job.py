"""The fluorescence-to-brightfield job on two stacks: pseudo-masks, model saved, prediction."""

from __future__ import annotations

import numpy as np
import pytest

from napari_selfsup_seg._config import ModelConfig, TrainConfig
from napari_selfsup_seg._errors import InputError
from napari_selfsup_seg._progress import drain
from napari_selfsup_seg.data._synthetic import make_sample_stack
from napari_selfsup_seg.models._factory import read_model_config
from napari_selfsup_seg.workflows._recipe_job import (
    brightfield_from_stain_iter,
    stack_channels,
)

TINY = ModelConfig(encoder_depth=3)


def test_job_saves_the_model_and_predicts_every_brightfield_plane(tmp_path, one_torch_thread):
    image, truth = make_sample_stack(2, (64, 64), seed=5, n_nuclei=6, radius=(5.0, 8.0))
    records = []
    job = brightfield_from_stain_iter(
        image[:, 1],
        image[:, 0],
        train_config=TrainConfig(steps=2, batch_size=2, tile_size=64, device="cpu"),
        model_config=TINY,
        save_dir=tmp_path / "model",
        provenance={"brightfield_layer": "bf"},
    )
    result = drain(job, records.append)
    assert [r.stage for r in records][:2] == ["pseudo-mask", "pseudo-mask"]
    assert "save" in [r.stage for r in records]
    assert result.pseudo_masks.shape == result.labels.shape == truth.shape
    for k in range(2):
        assert result.pseudo_masks[k].max() >= 0.5 * (len(np.unique(truth[k])) - 1)
    config = read_model_config(tmp_path / "model")
    assert config.input_channels == [0]  # the brightfield's channel
    assert config.provenance["brightfield_layer"] == "bf"


def test_bad_stacks_are_refused_at_once():
    a = np.zeros((1, 8, 8), np.uint16)
    with pytest.raises(InputError, match="differ in shape"):
        brightfield_from_stain_iter(a, np.zeros((1, 8, 9), np.uint16))
    with pytest.raises(InputError, match="two channels"):
        stack_channels(a, a, (0, 0))
    assert stack_channels(a, a + 1, (2, 0)).shape == (1, 3, 8, 8)


def test_masks_are_placed_on_the_planes_they_came_from(one_torch_thread):
    """Training on some frames: their pseudo-masks land on those frames, the others stay empty,
    and every frame is predicted."""
    image, truth = make_sample_stack(3, (64, 64), seed=6, n_nuclei=5, radius=(5.0, 8.0))
    job = brightfield_from_stain_iter(
        image[:, 1],
        image[:, 0],
        train_config=TrainConfig(steps=2, batch_size=2, tile_size=64, device="cpu"),
        model_config=TINY,
        frames=[2, 0],
    )
    result = drain(job)
    assert result.pseudo_masks[1].max() == 0
    for k in (0, 2):
        assert result.pseudo_masks[k].max() >= 0.5 * (len(np.unique(truth[k])) - 1)
    assert result.labels.shape == truth.shape
