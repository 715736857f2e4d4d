"""The fluorescence-to-brightfield recipe on small generated pairs."""

import numpy as np
import pytest

from napari_selfsup_seg._config import ModelConfig, TrainConfig
from napari_selfsup_seg._errors import InputError
from napari_selfsup_seg.data._synthetic import make_sample_stack
from napari_selfsup_seg.inference._predict import predict_stack
from napari_selfsup_seg.io._image import ImageStack
from napari_selfsup_seg.workflows._recipes import fluorescence_to_brightfield

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_recipe_trains_a_brightfield_model(tmp_path):
    image, _ = make_sample_stack(2, (64, 64), seed=0)
    records = []
    model = fluorescence_to_brightfield(
        image,
        fluorescence_channel=1,
        brightfield_channel=0,
        train_config=TrainConfig(steps=3, batch_size=2, tile_size=64, device="cpu"),
        model_config=ModelConfig.tiny(),
        model_dir=tmp_path / "model",
        callback=records.append,
    )
    assert [r.stage for r in records[:2]] == ["pseudo-mask", "pseudo-mask"]
    assert len(records) == 2 + 3
    assert model.config.input_channels == [0]
    assert model.config.provenance["method"] == "fluorescence_to_brightfield"
    assert (tmp_path / "model" / "config.json").exists()
    labels = predict_stack(model, ImageStack(image, "ZCYX"))
    assert labels.shape == (2, 64, 64)


def test_recipe_bad_input():
    image, _ = make_sample_stack(1, (64, 64), seed=0)
    with pytest.raises(InputError, match="must differ"):
        fluorescence_to_brightfield(image, 1, 1)
    with pytest.raises(InputError, match="out of range"):
        fluorescence_to_brightfield(image, 2, 0)
    with pytest.raises(InputError, match="channels"):
        fluorescence_to_brightfield([np.zeros((64, 64))], 1, 0)
