"""Normalisation, configs, the model factory, sample data and the threshold pseudo-mask."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_selfsup_seg._config import ModelBundleConfig, ModelConfig, PredictConfig, TrainConfig
from napari_selfsup_seg._errors import InputError, ModelError
from napari_selfsup_seg.data._normalize import NormalizationConfig, percentile_normalize
from napari_selfsup_seg.data._synthetic import make_sample, make_sample_stack
from napari_selfsup_seg.pseudo._threshold import ThresholdConfig, threshold_pseudo_mask


def test_normalize_maps_percentiles():
    img = np.linspace(0, 1000, 10000).reshape(100, 100)
    out = percentile_normalize(img, NormalizationConfig(1, 99, clip=False))
    assert out.dtype == np.float32
    assert np.percentile(out, 1) == pytest.approx(0, abs=1e-5)
    assert np.percentile(out, 99) == pytest.approx(1, abs=1e-5)


def test_normalize_per_channel():
    img = np.stack([np.linspace(0, 1, 400), np.linspace(0, 500, 400)]).reshape(2, 20, 20)
    out = percentile_normalize(img)
    np.testing.assert_allclose(out[0], out[1], atol=1e-5)


def test_normalize_rejects_nan_and_constant():
    img = np.ones((8, 8), np.float32)
    with pytest.raises(InputError, match="constant"):
        percentile_normalize(img, name="c.tif")
    img[0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        percentile_normalize(img, name="n.tif")


def test_normalize_sparse_image_falls_back_to_full_range():
    img = np.zeros((50, 50))
    img[3, 3] = 10
    out = percentile_normalize(img)
    assert out.max() > out.min()


@pytest.mark.parametrize(
    "bad",
    [
        lambda: TrainConfig(steps=0),
        lambda: TrainConfig(tile_size=100),
        lambda: TrainConfig(device="tpu"),
        lambda: PredictConfig(overlap=200, tile_size=256),
        lambda: ModelConfig(encoder_depth=4, decoder_channels=(64, 32, 16)),
        lambda: ModelConfig(encoder_depth=6),
        lambda: NormalizationConfig(50, 10),
        lambda: ThresholdConfig(method="magic"),
    ],
)
def test_config_ranges(bad):
    with pytest.raises(InputError):
        bad()


def test_decoder_channels_follow_depth():
    assert ModelConfig(encoder_depth=4).decoder_channels == (128, 64, 32, 16)
    assert ModelConfig.tiny().decoder_channels == (64, 32, 16)


def test_bundle_json_roundtrip():
    bundle = ModelBundleConfig(
        model=ModelConfig.tiny(in_channels=2),
        input_channels=[0, 1],
        training=TrainConfig(steps=5).to_dict(),
        provenance={"method": "threshold"},
    )
    again = ModelBundleConfig.from_dict(json.loads(json.dumps(bundle.to_dict())))
    assert again == bundle
    with pytest.raises(InputError, match="unknown setting"):
        ModelBundleConfig.from_dict({**bundle.to_dict(), "colour": "red"})


def test_build_model_shapes_and_unknown_encoder():
    import torch

    from napari_selfsup_seg.models._factory import build_model

    net = build_model(ModelConfig.tiny(in_channels=2, classes=3))
    out = net(torch.zeros(1, 2, 64, 64))
    assert out.shape == (1, 3, 64, 64)
    with pytest.raises(InputError, match="unknown encoder"):
        build_model(ModelConfig(encoder="no-such-encoder"))
    # Stages a shallow encoder never runs are not kept (nor saved).
    assert sum(p.numel() for p in net.parameters()) < 2_000_000
    assert not any(k.startswith("encoder.layer4") for k in net.state_dict())


def test_save_load_roundtrip(tmp_path):
    import torch

    from napari_selfsup_seg.models._factory import build_model, load_model, save_model

    torch.manual_seed(0)
    cfg = ModelBundleConfig(model=ModelConfig.tiny())
    net = build_model(cfg.model).eval()
    save_model(tmp_path / "m", net, cfg, log=[{"step": 1, "loss": 0.5}])
    loaded = load_model(tmp_path / "m", device="cpu")
    x = torch.rand(1, 1, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded.net(x), net(x))
    assert loaded.log == [{"step": 1.0, "loss": 0.5}]
    assert loaded.config.model == cfg.model


def test_load_refuses_other_version_and_missing(tmp_path):
    from napari_selfsup_seg.models._factory import build_model, load_model, save_model

    cfg = ModelBundleConfig(model=ModelConfig.tiny())
    save_model(tmp_path / "m", build_model(cfg.model), cfg)
    raw = json.loads((tmp_path / "m" / "config.json").read_text())
    raw["format_version"] = 99
    (tmp_path / "m" / "config.json").write_text(json.dumps(raw))
    with pytest.raises(ModelError, match="format version 99"):
        load_model(tmp_path / "m")
    with pytest.raises(ModelError, match="no such model folder"):
        load_model(tmp_path / "missing")


def test_load_refuses_mismatched_weights(tmp_path):
    from napari_selfsup_seg.models._factory import build_model, load_model, save_model

    cfg = ModelBundleConfig(model=ModelConfig.tiny())
    save_model(tmp_path / "m", build_model(cfg.model), cfg)
    raw = json.loads((tmp_path / "m" / "config.json").read_text())
    raw["model"]["in_channels"] = 3
    (tmp_path / "m" / "config.json").write_text(json.dumps(raw))
    with pytest.raises(ModelError, match="do not match"):
        load_model(tmp_path / "m")


def test_pick_device_cpu_and_unavailable():
    import torch

    from napari_selfsup_seg.models._factory import pick_device

    assert pick_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="no CUDA"):
            pick_device("cuda")


def test_sample_is_reproducible_and_has_touching_nuclei():
    a, b = make_sample((128, 128), seed=3), make_sample((128, 128), seed=3)
    np.testing.assert_array_equal(a.brightfield, b.brightfield)
    assert a.labels.max() >= 5
    assert a.fluorescence.dtype == np.uint16
    # Some pairs of different nuclei are 4-neighbours: touching objects exist.
    lab = a.labels
    horiz = (lab[:, 1:] != lab[:, :-1]) & (lab[:, 1:] > 0) & (lab[:, :-1] > 0)
    assert horiz.any()
    # Nuclei are brighter than background in fluorescence.
    assert a.fluorescence[lab > 0].mean() > 2 * a.fluorescence[lab == 0].mean()
    image, labels = make_sample_stack(2, (64, 64))
    assert image.shape == (2, 2, 64, 64)
    assert labels.shape == (2, 64, 64)


def test_threshold_pseudo_mask_recovers_nuclei():
    from napari_selfsup_seg.evaluation._metrics import evaluate

    s = make_sample((128, 128), seed=1)
    labels, prob = threshold_pseudo_mask(s.fluorescence)
    assert prob.dtype == np.float32
    assert 0 <= prob.min() and prob.max() <= 1
    scores = evaluate([labels], [s.labels])
    assert scores["pixel_f1"] > 0.85
    assert scores["ap"]["0.5"] > 0.5
    # A higher cut on the map gives a smaller foreground.
    hi, _ = threshold_pseudo_mask(s.fluorescence, ThresholdConfig(threshold=0.95))
    assert (hi > 0).sum() < (labels > 0).sum()


def test_load_ignores_weights_of_unused_stages(tmp_path):
    import torch

    from napari_selfsup_seg.models._factory import build_model, load_model, save_model

    cfg = ModelBundleConfig(model=ModelConfig.tiny())
    net = build_model(cfg.model)
    save_model(tmp_path / "m", net, cfg)
    state = torch.load(tmp_path / "m" / "weights.pt", weights_only=True)
    state["encoder.layer4.0.conv1.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "m" / "weights.pt")
    loaded = load_model(tmp_path / "m", device="cpu")
    assert "encoder.layer4.0.conv1.weight" not in loaded.net.state_dict()
