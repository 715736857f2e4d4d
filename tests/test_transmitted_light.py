"""Transmitted-light normalisation: flat field and local contrast, the same in training,
prediction and a saved model."""

import numpy as np
import pytest

from napari_selfsup_seg._config import ModelConfig, NormalizationConfig, TrainConfig
from napari_selfsup_seg._errors import InputError
from napari_selfsup_seg.data._normalize import (
    flatten_planes,
    percentile_normalize,
    transmitted_light_normalization,
)
from napari_selfsup_seg.data._synthetic import make_sample_stack
from napari_selfsup_seg.data._train_data import prepare_training_data
from napari_selfsup_seg.inference._input import prepare_input
from napari_selfsup_seg.models._factory import load_model
from napari_selfsup_seg.workflows._recipes import fluorescence_to_brightfield

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _disc_masks(n: int = 2, size: int = 96, diameter: int = 10) -> list[np.ndarray]:
    yy, xx = np.mgrid[:size, :size]
    masks = []
    for k in range(n):
        m = np.zeros((size, size), np.int32)
        for i, (cy, cx) in enumerate([(20, 20), (20, 70), (70, 30), (60 + k, 75)]):
            m[(yy - cy) ** 2 + (xx - cx) ** 2 <= (diameter / 2) ** 2] = i + 1
        masks.append(m)
    return masks


def test_flat_field_removes_uneven_illumination():
    rng = np.random.default_rng(0)
    xx = np.mgrid[:128, :128][1]
    relief = 1.0 + 0.05 * rng.standard_normal((128, 128))
    plane = (1000.0 + 20.0 * xx) * relief  # illumination five times brighter on the right
    cfg = NormalizationConfig(background_sigma=20.0)
    flat = flatten_planes(plane, cfg)
    left, right = flat[:, 8:40].mean(), flat[:, 88:120].mean()
    assert abs(right / left - 1) < 0.1
    assert plane[:, 88:120].mean() / plane[:, 8:40].mean() > 2
    # Local contrast: faint texture is raised towards the scale of strong texture.
    faint = np.where(xx < 64, 0.1, 1.0) * rng.standard_normal((128, 128))
    lc = flatten_planes(faint, NormalizationConfig(contrast_sigma=8.0))
    assert lc[:, 8:56].std() / lc[:, 72:120].std() > 2 * 0.1
    # No flattening asked: percentile_normalize is what it was.
    np.testing.assert_array_equal(
        percentile_normalize(plane), percentile_normalize(plane, NormalizationConfig())
    )


def test_transmitted_light_widths_follow_the_objects():
    cfg = transmitted_light_normalization(_disc_masks(diameter=10))
    assert cfg.flattens
    assert 30 < cfg.background_sigma < 50 and 15 < cfg.contrast_sigma < 25
    bigger = transmitted_light_normalization(_disc_masks(diameter=20))
    assert bigger.contrast_sigma > 1.5 * cfg.contrast_sigma
    assert not transmitted_light_normalization([np.zeros((32, 32), int)]).flattens
    with pytest.raises(InputError, match="contrast_sigma"):
        NormalizationConfig(contrast_sigma=-1.0)


def test_recipe_records_it_and_prediction_reproduces_training(tmp_path):
    image, _ = make_sample_stack(2, (64, 64), seed=0)
    model = fluorescence_to_brightfield(
        image,
        fluorescence_channel=1,
        brightfield_channel=0,
        train_config=TrainConfig(steps=2, batch_size=2, tile_size=64, device="cpu"),
        model_config=ModelConfig.tiny(),
        model_dir=tmp_path / "model",
    )
    norm = model.config.normalization
    assert norm.flattens and norm.background_sigma > norm.contrast_sigma > 0
    masks = [np.ones((64, 64), np.int32)]
    masks[0][:8] = 0
    tc = TrainConfig(input_channel=0, tile_size=64)
    trained, _ = prepare_training_data([image[0]], masks, tc, norm)
    saved = load_model(tmp_path / "model", device="cpu")
    assert saved.config.normalization == norm
    # A brightfield-only plane and the 2-channel plane are fed exactly as in training.
    for m in (model, saved):
        np.testing.assert_allclose(prepare_input(m, image[0, 0]), trained[0], atol=1e-6)
        np.testing.assert_allclose(prepare_input(m, image[0]), trained[0], atol=1e-6)


def test_cli_train_transmitted_light_then_segment_brightfield_only(tmp_path):
    import tifffile

    from napari_selfsup_seg._config import PredictConfig
    from napari_selfsup_seg.cli.main import main
    from napari_selfsup_seg.inference._predict import predict_labels

    stack, labels = make_sample_stack(2, (64, 64), seed=3)
    tifffile.imwrite(tmp_path / "two.tif", stack, metadata={"axes": "ZCYX"}, imagej=True)
    tifffile.imwrite(tmp_path / "mask.tif", labels, metadata={"axes": "ZYX"}, imagej=True)
    tifffile.imwrite(tmp_path / "bf.tif", stack[0, 0])
    out = tmp_path / "m"
    args = ["train", "--images", str(tmp_path / "two.tif"), "--masks", str(tmp_path / "mask.tif")]
    args += ["--out", str(out), "--input-channel", "0", "--transmitted-light", "--quiet"]
    args += ["--steps", "2", "--batch-size", "2", "--tile-size", "64", "--device", "cpu"]
    assert main(args) == 0
    model = load_model(out, device="cpu")
    assert model.config.normalization == transmitted_light_normalization(list(labels))
    seg = ["segment", "--model", str(out), str(tmp_path / "bf.tif"), "--out", str(tmp_path / "s")]
    assert main([*seg, "--device", "cpu", "--quiet", "--tile-size", "64"]) == 0
    written = tifffile.imread(tmp_path / "s" / "bf_labels.tif")
    expected = predict_labels(model, stack[0, 0], PredictConfig(device="cpu", tile_size=64))
    np.testing.assert_array_equal(written > 0, expected > 0)
    no_masks = ["train", "--images", str(tmp_path / "two.tif"), "--out", str(tmp_path / "n")]
    assert main([*no_masks, "--input-channel", "0", "--transmitted-light", "--quiet"]) != 0


def test_blockwise_prediction_flattens_like_the_whole_plane(tmp_path, monkeypatch):
    """Blocks with their halo are fed (nearly) what the whole plane gives the network."""
    import tifffile

    from napari_selfsup_seg._config import ModelBundleConfig, PredictConfig
    from napari_selfsup_seg.inference import _blockwise
    from napari_selfsup_seg.io._lazy import open_lazy
    from napari_selfsup_seg.models._factory import LoadedModel

    stack, _ = make_sample_stack(1, (192, 192), seed=5)
    plane = stack[0, 0]
    tifffile.imwrite(tmp_path / "bf.tif", plane)
    norm = NormalizationConfig(background_sigma=24.0, contrast_sigma=8.0)
    model = LoadedModel(net=None, config=ModelBundleConfig(normalization=norm), device="cpu")
    fed = []

    def keep_input(_model, x, _config):
        fed.append(x.copy())
        return np.zeros(x.shape[1:], np.int32)

    monkeypatch.setattr(_blockwise, "predict_block", keep_input)
    run = _blockwise.segment_blockwise_iter(
        model, open_lazy(tmp_path / "bf.tif"), tmp_path / "out.zarr", PredictConfig(), 64, 48
    )
    list(run)
    whole = prepare_input(model, plane)
    # The centre block (64..128) sees its full 48 px halo.
    centre = fed[4][:, 48:112, 48:112]
    assert np.abs(centre - whole[:, 64:128, 64:128]).mean() < 0.05
