"""Self-supervised pretraining: corruptions, loss going down, saving, fine-tuning, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from napari_selfsup_seg._config import ModelConfig
from napari_selfsup_seg._errors import InputError
from napari_selfsup_seg._progress import TrainProgress
from napari_selfsup_seg.data import _corruptions as corr
from napari_selfsup_seg.data._synthetic import make_sample
from napari_selfsup_seg.train._pretrain import (
    PretrainConfig,
    few_label_mask,
    pretrain,
    pretrain_iter,
)

TINY = dict(model_config=ModelConfig.tiny(), tile_size=32, batch_size=4, device="cpu")


@pytest.fixture(scope="module")
def sample():
    return make_sample((64, 64), seed=3)


@pytest.fixture
def tile(sample):
    img = sample.fluorescence.astype(np.float32)
    img = (img - img.min()) / (img.max() - img.min())
    return np.stack([img, img[::-1]])  # (2, 64, 64)


@pytest.mark.parametrize(
    "fn",
    [
        corr.local_pixel_shuffle,
        corr.nonlinear_intensity,
        corr.inpaint,
        corr.outpaint,
        corr.gaussian_noise,
        corr.corrupt,
    ],
)
def test_corruption_changes_image_keeps_shape_and_dtype(fn, tile):
    before = tile.copy()
    for seed in range(5):
        out = fn(tile, np.random.default_rng(seed))
        assert out.shape == tile.shape
        assert out.dtype == tile.dtype
        assert not np.allclose(out, tile)
    np.testing.assert_array_equal(tile, before)  # input untouched


def test_local_shuffle_keeps_pixel_values(tile):
    out = corr.local_pixel_shuffle(tile, np.random.default_rng(0))
    np.testing.assert_allclose(np.sort(out, axis=None), np.sort(tile, axis=None))


def test_corrupt_changes_even_with_zero_probabilities(tile):
    out = corr.corrupt(
        tile, np.random.default_rng(0), p_shuffle=0, p_nonlinear=0, p_paint=0, p_noise=0
    )
    assert not np.allclose(out, tile)


def test_bezier_curve_spans_unit_interval():
    xs, ys = corr.bezier_curve(np.random.default_rng(1))
    assert np.all(np.diff(xs) >= 0)
    assert xs[0] == pytest.approx(0) and xs[-1] == pytest.approx(1)
    assert {round(ys[0]), round(ys[-1])} == {0, 1}


def test_pretraining_reduces_restoration_loss(sample):
    model = pretrain([sample.fluorescence], steps=30, contrastive_weight=0.0, seed=0, **TINY)
    rec = [row["restoration"] for row in model.log]
    assert len(rec) == 30
    assert np.mean(rec[-8:]) < 0.5 * np.mean(rec[:4])
    assert model.config.task == "pretrained"
    assert model.config.model.classes == model.config.model.in_channels == 1
    assert model.config.training["steps"] == 30
    assert not model.net.training


def test_pretrain_iter_yields_progress_with_contrastive_term(sample):
    cfg = PretrainConfig(
        steps=3, tile_size=32, batch_size=4, device="cpu", contrastive_weight=1.0, seed=1
    )
    gen = pretrain_iter([sample.stack()], ModelConfig.tiny(), cfg)
    records = []
    try:
        while True:
            records.append(next(gen))
    except StopIteration as end:
        model = end.value
    assert [r.done for r in records] == [1, 2, 3]
    assert all(isinstance(r, TrainProgress) and r.total == 3 for r in records)
    assert all(r.extra["contrastive"] > 0 for r in records)
    # two channels in, restoration head gives two channels out
    assert model.config.model.in_channels == model.config.model.classes == 2


def test_stop_ends_run_early(sample):
    calls = []

    def stop():
        calls.append(1)
        return len(calls) > 2

    model = pretrain([sample.fluorescence], steps=50, stop=stop, **TINY)
    assert len(model.log) == 2
    assert model.config.training["stopped_early"] is True


def test_same_seed_same_weights(sample):
    a = pretrain([sample.fluorescence], steps=2, seed=5, **TINY)
    b = pretrain([sample.fluorescence], steps=2, seed=5, **TINY)
    for (k, va), vb in zip(a.net.state_dict().items(), b.net.state_dict().values()):
        assert np.allclose(va.numpy(), vb.numpy()), k


def test_small_images_are_padded_to_tile(sample):
    model = pretrain([sample.fluorescence[:20, :25]], steps=1, **TINY)
    assert len(model.log) == 1


def test_bad_inputs_raise_input_error(sample):
    with pytest.raises(InputError, match="constant"):
        pretrain([np.full((64, 64), 7, np.uint16)], steps=1, **TINY)
    with pytest.raises(InputError, match="at least one"):
        pretrain([], steps=1, **TINY)
    with pytest.raises(InputError, match="tile_size"):
        PretrainConfig(tile_size=50)
    with pytest.raises(InputError, match="contrastive_weight"):
        PretrainConfig(contrastive_weight=-1)
    with pytest.raises(InputError, match="channel"):
        pretrain([sample.stack()], steps=1, input_channel=3, **TINY)


def test_few_label_mask(sample):
    out = few_label_mask(sample.labels, [(0, 0, 16, 32), (40, 40, 24, 24)])
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out[:16, :32], sample.labels[:16, :32])
    np.testing.assert_array_equal(out[40:, 40:], sample.labels[40:, 40:])
    assert (out[20:36, :] == 65535).all()
    with pytest.raises(InputError, match="outside"):
        few_label_mask(sample.labels, [(60, 60, 10, 10)])


def _conv1(net):
    return net.encoder.conv1.weight.detach().cpu().numpy().copy()


def test_saved_model_fine_tunes_with_encoder_carried_over(sample, tmp_path):
    from napari_selfsup_seg.models._factory import load_model
    from napari_selfsup_seg.train._supervised import train

    pre = pretrain([sample.fluorescence], steps=3, seed=1, model_dir=tmp_path / "pre", **TINY)
    loaded = load_model(tmp_path / "pre", device="cpu")
    assert loaded.config.task == "pretrained"
    assert loaded.config.training["method"] == pre.config.training["method"]
    np.testing.assert_array_equal(_conv1(loaded.net), _conv1(pre.net))

    kw = dict(steps=1, tile_size=32, batch_size=2, device="cpu", learning_rate=1e-7, seed=9)
    tuned = train([sample.fluorescence], [sample.labels], init=tmp_path / "pre", **kw)
    scratch = train([sample.fluorescence], [sample.labels], model_config=ModelConfig.tiny(), **kw)
    assert tuned.config.task == "instances"
    assert tuned.config.model.classes == 3
    assert tuned.config.model.encoder_depth == 3
    # encoder and decoder come from the pretrained model; a lr of 1e-7 barely moves them
    np.testing.assert_allclose(_conv1(tuned.net), _conv1(pre.net), atol=1e-5)
    assert not np.allclose(_conv1(scratch.net), _conv1(pre.net), atol=1e-3)
    dec_key = next(k for k in pre.net.state_dict() if k.startswith("decoder") and "conv" in k)
    np.testing.assert_allclose(
        tuned.net.state_dict()[dec_key].cpu().numpy(),
        pre.net.state_dict()[dec_key].cpu().numpy(),
        atol=1e-5,
    )
    assert tuned.net.segmentation_head[0].weight.shape[0] == 3


def _cli(argv, capsys):
    from napari_selfsup_seg.cli.main import main

    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_pretrain_then_train_init(sample, tmp_path, capsys):
    img = tmp_path / "img.tif"
    stack = tmp_path / "stack.tif"
    mask = tmp_path / "mask.tif"
    tifffile.imwrite(img, sample.fluorescence)
    tifffile.imwrite(stack, np.stack([np.roll(sample.fluorescence, 7 * k, 0) for k in range(5)]))
    tifffile.imwrite(mask, sample.labels)
    pre_dir = tmp_path / "pre"
    common = ["--encoder-depth", "3", "--tile-size", "32", "--batch-size", "2", "--device", "cpu"]
    code, out, err = _cli(
        ["pretrain", "--images", str(img), str(stack), "--out", str(pre_dir), "--steps", "2",
         "--contrastive-weight", "0.5", "--seed", "3", "--quiet", "--json", *common],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["command"] == "pretrain"
    assert summary["n_planes"] == 6 and summary["steps"] == 2
    assert summary["failed"] == []
    cfg = json.loads((pre_dir / "config.json").read_text())
    assert cfg["task"] == "pretrained" and cfg["training"]["contrastive_weight"] == 0.5
    assert (pre_dir / "weights.pt").exists() and (pre_dir / "training_log.csv").exists()

    code, out, err = _cli(
        ["train", "--images", str(img), "--masks", str(mask), "--out", str(tmp_path / "tuned"),
         "--init", str(pre_dir), "--steps", "2", "--quiet", "--json", *common],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    tuned = json.loads((tmp_path / "tuned" / "config.json").read_text())
    assert tuned["task"] == "instances" and tuned["model"]["classes"] == 3
    assert tuned["provenance"]["init"] == str(pre_dir)


def test_cli_pretrain_bad_input_exit_2(sample, tmp_path, capsys):
    flat = tmp_path / "flat.tif"
    tifffile.imwrite(flat, np.full((64, 64), 5, np.uint16))
    two = tmp_path / "two.tif"
    tifffile.imwrite(two, sample.stack())
    out_dir = tmp_path / "out"
    for images, needle in [
        ([str(tmp_path / "missing.tif")], "missing.tif"),
        ([str(flat)], "constant"),
        ([str(two)], "--input-channel"),
    ]:
        code, _, err = _cli(
            ["pretrain", "--images", *images, "--out", str(out_dir), "--steps", "1", "--quiet"],
            capsys,
        )
        assert code == 2
        assert needle in err and len(err.strip().splitlines()) == 1
    assert not out_dir.exists()  # nothing written for bad input


def test_image_embeddings_and_csv(sample, tmp_path):
    import csv

    from napari_selfsup_seg.inference._embeddings import image_embeddings, write_embeddings_csv

    model = pretrain([sample.fluorescence], steps=1, model_dir=tmp_path / "m", **TINY)
    other = make_sample((48, 56), seed=8).fluorescence  # not a multiple of 8: padded
    emb = image_embeddings(model, [sample.fluorescence, other])
    widths = model.net.encoder.out_channels[1:]
    assert emb.shape == (2, sum(widths)) and emb.dtype == np.float32
    assert np.isfinite(emb).all() and not np.allclose(emb[0], emb[1])
    last = image_embeddings(tmp_path / "m", sample.fluorescence, stages="last")
    np.testing.assert_allclose(last[0], emb[0, -widths[-1] :], rtol=1e-4, atol=1e-5)
    path = write_embeddings_csv(tmp_path / "emb.csv", ["a", "b"], emb)
    rows = list(csv.reader(path.open()))
    assert rows[0][:2] == ["name", "f0"] and len(rows) == 3 and rows[2][0] == "b"
    with pytest.raises(InputError, match="constant"):
        image_embeddings(model, [np.zeros((32, 32), np.uint16)])


def test_segment_refuses_a_pretrained_model(sample, tmp_path):
    from napari_selfsup_seg._config import ModelBundleConfig, ModelConfig
    from napari_selfsup_seg._errors import InputError
    from napari_selfsup_seg.inference._predict import predict_labels
    from napari_selfsup_seg.models._factory import build_model, save_model

    cfg = ModelBundleConfig(model=ModelConfig.tiny(classes=1), task="pretrained")
    save_model(tmp_path / "pre", build_model(cfg.model), cfg)
    with pytest.raises(InputError, match="pretrained model does not segment"):
        predict_labels(tmp_path / "pre", sample.fluorescence)
