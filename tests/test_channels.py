"""Input channels: recorded at training (index and name), picked by name or index, overridden."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from napari_selfsup_seg._config import ModelBundleConfig, ModelConfig, PredictConfig
from napari_selfsup_seg._errors import InputError
from napari_selfsup_seg._napari.reader import read_layers
from napari_selfsup_seg.batch._folder import segment_folder
from napari_selfsup_seg.cli.main import main
from napari_selfsup_seg.data._synthetic import make_sample
from napari_selfsup_seg.inference._predict import predict_labels, predict_stack
from napari_selfsup_seg.io._image import read_image
from napari_selfsup_seg.io._tiff_write import write_image
from napari_selfsup_seg.models._channels import describe_channels, model_channels
from napari_selfsup_seg.models._factory import load_model

pytest.importorskip("torch")

CFG = PredictConfig(device="cpu", tile_size=64, overlap=16)


@pytest.fixture(scope="module")
def sample():
    return make_sample((64, 64), seed=3)


def _recording(model_dir: Path, dest: Path, chans, names) -> Path:
    """A copy of ``model_dir`` whose config records ``chans`` and ``names``."""
    shutil.copytree(model_dir, dest)
    cfg = json.loads((dest / "config.json").read_text())
    cfg["input_channels"], cfg["input_channel_names"] = chans, names
    (dest / "config.json").write_text(json.dumps(cfg))
    return dest


def test_bundle_names_validated_and_old_configs_load():
    bundle = ModelBundleConfig(input_channels=[1], input_channel_names=["DAPI"])
    again = ModelBundleConfig.from_dict(json.loads(json.dumps(bundle.to_dict())))
    assert again.input_channel_names == ["DAPI"] and again.input_channels == [1]
    old = bundle.to_dict()
    del old["input_channel_names"]
    assert ModelBundleConfig.from_dict(old).input_channel_names is None
    with pytest.raises(InputError, match="input_channel_names"):
        ModelBundleConfig(input_channel_names=["a", "b"])  # the network takes one channel
    with pytest.raises(InputError, match="input_channels"):
        ModelBundleConfig(input_channels=[0, 1])
    with pytest.raises(InputError, match="input_channels"):
        PredictConfig(input_channels=("1",))


def test_training_records_source_channel_and_name(sample):
    from napari_selfsup_seg._config import TrainConfig
    from napari_selfsup_seg.train._supervised import train

    tiny = {"steps": 1, "batch_size": 1, "tile_size": 64, "device": "cpu"}
    model = train(
        [sample.fluorescence],
        [sample.labels],
        model_config=ModelConfig.tiny(),
        input_channels=[1],
        input_channel_names=["DAPI"],
        **tiny,
    )
    assert model.config.input_channels == [1]
    assert model.config.input_channel_names == ["DAPI"]
    assert describe_channels(model.config) == "channel 1 (DAPI)"
    # (C, Y, X) images with TrainConfig.input_channel: the names of all channels may be given.
    model = train(
        [sample.stack()],
        [sample.labels],
        train_config=TrainConfig(input_channel=1, **tiny),
        model_config=ModelConfig.tiny(),
        input_channel_names=["BF", "DAPI"],
    )
    assert model.config.input_channels == [1]
    assert model.config.input_channel_names == ["DAPI"]
    with pytest.raises(InputError, match="input_channels must list 1"):
        train([sample.fluorescence], [sample.labels], input_channels=[0, 1], **tiny)


def test_name_wins_over_index(model_dir, sample, tmp_path):
    """A model trained on 'DAPI' (channel 1 of its files) finds it at index 0 of other files."""
    model = load_model(_recording(model_dir, tmp_path / "m", [1], ["DAPI"]), "cpu")
    fluo, bf = sample.fluorescence, sample.brightfield
    want = predict_labels(model, fluo, CFG)
    assert want.max() > 0
    swapped = write_image(
        tmp_path / "swapped.tif", np.stack([fluo, bf]), axes="CYX", channel_names=["DAPI", "BF"]
    )
    usual = write_image(
        tmp_path / "usual.tif", np.stack([bf, fluo]), axes="CYX", channel_names=["BF", "DAPI"]
    )
    unnamed = write_image(tmp_path / "unnamed.tif", np.stack([bf, fluo]), axes="CYX")
    for path in (swapped, usual, unnamed):
        np.testing.assert_array_equal(predict_stack(model, read_image(path), CFG), want)
    # Names differ but index 1 exists: the index is used.
    other = write_image(
        tmp_path / "other.tif", np.stack([bf, fluo]), axes="CYX", channel_names=["a", "b"]
    )
    assert model_channels(model, 2, ["a", "b"], "other.tif") == [1]
    np.testing.assert_array_equal(predict_stack(model, read_image(other), CFG), want)
    # Name missing and index out of range: one line naming the file and what is missing.
    single = write_image(tmp_path / "gfp.ome.tif", fluo[None], axes="CYX", channel_names=["GFP"])
    with pytest.raises(InputError, match=r"gfp.ome.tif: model reads channel 1 \(DAPI\)"):
        predict_stack(model, read_image(single), CFG)


def test_override_and_unrecorded_model(model_dir, sample, tmp_path):
    """A model that records no channel fails on 2-channel files unless the run names one."""
    src = tmp_path / "in"
    src.mkdir()
    for i in range(2):
        s = make_sample((64, 64), seed=10 + i)
        write_image(src / f"two{i}.tif", s.stack(), axes="CYX")
    write_image(src / "one.tif", sample.fluorescence)
    summary = segment_folder(model_dir, src, tmp_path / "plain", predict_config=CFG)
    reasons = {Path(f["path"]).name: f["reason"] for f in summary["failed"]}
    assert set(reasons) == {"two0.tif", "two1.tif"} and summary["done"] == 1
    assert "does not record which to use" in reasons["two0.tif"]

    out = tmp_path / "chosen"
    summary = segment_folder(
        model_dir, src, out, predict_config=CFG, pattern="two*.tif", input_channels=[1]
    )
    assert summary["done"] == 2 and summary["failed"] == []
    model = load_model(model_dir, "cpu")
    fluo = read_image(src / "two0.tif").channel(1)
    np.testing.assert_array_equal(
        read_image(out / "two0_labels.tif").data, predict_labels(model, fluo, CFG)
    )
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["predict_config"]["input_channels"] == [1]
    # Another channel changes the labels: the rerun redoes the images instead of skipping them.
    again = segment_folder(
        model_dir, src, out, predict_config=CFG, pattern="two*.tif", input_channels=0
    )
    assert again["skipped"] == 0 and again["done"] == 2
    with pytest.raises(InputError, match="chosen channel"):
        model_channels(model, 2, (), "x.tif", [2])


def test_reader_sets_channel_and_name(sample, tmp_path):
    named = write_image(
        tmp_path / "n.ome.tif", sample.stack(), axes="CYX", channel_names=["BF", "DAPI"]
    )
    plain = write_image(tmp_path / "p.tif", sample.stack(), axes="CYX")
    one = write_image(tmp_path / "one.tif", sample.fluorescence)
    meta = [
        (kw["metadata"]["channel"], kw["metadata"]["channel_name"])
        for _, kw, _ in read_layers(str(named))
    ]
    assert meta == [(0, "BF"), (1, "DAPI")]
    meta = [
        (kw["metadata"]["channel"], kw["metadata"]["channel_name"])
        for _, kw, _ in read_layers(str(plain))
    ]
    assert meta == [(0, None), (1, None)]
    _, kw, _ = read_layers(str(one))[0]
    assert kw["metadata"]["channel"] is None and kw["metadata"]["channel_name"] is None


def test_cli_records_name_and_takes_input_channel(sample, tmp_path, capsys):
    named = write_image(
        tmp_path / "named.ome.tif", sample.stack(), axes="CYX", channel_names=["BF", "DAPI"]
    )
    mask = write_image(tmp_path / "mask.tif", sample.labels.astype(np.uint16))
    out = tmp_path / "m"
    args = ["train", "--images", str(named), "--masks", str(mask), "--out", str(out)]
    args += ["--input-channel", "1", "--steps", "1", "--batch-size", "1", "--tile-size", "64"]
    assert main([*args, "--encoder-depth", "3", "--device", "cpu", "--quiet"]) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["input_channels"] == [1] and cfg["input_channel_names"] == ["DAPI"]

    # A model that records nothing, on a 2-channel file: --input-channel makes it work.
    plain = tmp_path / "plain"
    plain.mkdir()
    write_image(plain / "two.tif", sample.stack(), axes="CYX")
    cfg_out = json.loads((out / "config.json").read_text())
    cfg_out["input_channels"] = cfg_out["input_channel_names"] = None
    bare = tmp_path / "bare"
    shutil.copytree(out, bare)
    (bare / "config.json").write_text(json.dumps(cfg_out))
    seg = ["segment", "--model", str(bare), str(plain / "two.tif"), "--out", str(tmp_path / "s")]
    seg += ["--device", "cpu", "--quiet", "--tile-size", "64"]
    assert main(seg) == 2  # one bad input: a usage error
    assert "does not record which to use" in capsys.readouterr().err
    assert main([*seg, "--input-channel", "1"]) == 0
    assert (tmp_path / "s" / "two_labels.tif").exists()
    folder = ["segment-folder", "--model", str(bare), str(plain), str(tmp_path / "f")]
    folder += ["--device", "cpu", "--quiet", "--tile-size", "64"]
    assert main([*folder, "--input-channel", "1"]) == 0
    assert (tmp_path / "f" / "two_labels.tif").exists()
    with pytest.raises(SystemExit):
        main([*folder, "--input-channel", "x"])
    assert "expected channel index(es)" in capsys.readouterr().err
