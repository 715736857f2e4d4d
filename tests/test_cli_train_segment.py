"""Command line: ``train`` then ``segment`` end to end on small TIFF files, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from napari_selfsup_seg.cli.main import main
from napari_selfsup_seg.data._synthetic import make_sample, make_sample_stack

pytest.importorskip("torch")

FAST = ["--steps", "3", "--batch-size", "2", "--tile-size", "64", "--encoder-depth", "3"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    s = make_sample((64, 80), n_nuclei=5, seed=4)
    tifffile.imwrite(d / "two.tif", s.stack(), metadata={"axes": "CYX"}, imagej=True)
    tifffile.imwrite(d / "mask.tif", s.labels)
    stack, labels = make_sample_stack(2, (64, 64), seed=7)
    tifffile.imwrite(d / "zstack.tif", stack, metadata={"axes": "ZCYX"}, imagej=True)
    tifffile.imwrite(d / "zmask.tif", labels, metadata={"axes": "ZYX"}, imagej=True)
    return d


@pytest.fixture(scope="module")
def model_dir(files, tmp_path_factory):
    out = tmp_path_factory.mktemp("model") / "m"
    args = ["train", "--images", str(files / "two.tif"), str(files / "zstack.tif")]
    args += ["--masks", str(files / "mask.tif"), str(files / "zmask.tif")]
    args += ["--out", str(out), "--input-channel", "1", "--device", "cpu", "--quiet", *FAST]
    assert main(args) == 0
    return out


def test_train_writes_model_with_channel(model_dir, capsys):
    cfg = json.loads((model_dir / "config.json").read_text())
    assert cfg["input_channels"] == [1] and cfg["model"]["in_channels"] == 1
    assert cfg["training"]["steps"] == 3 and cfg["task"] == "instances"
    assert (model_dir / "training_log.csv").read_text().count("\n") == 4


def test_segment_keeps_planes_and_reports_failures(files, model_dir, tmp_path, capsys):
    out = tmp_path / "seg"
    args = ["segment", "--model", str(model_dir), str(files / "two.tif"), str(files / "zstack.tif")]
    args += ["--out", str(out), "--device", "cpu", "--quiet", "--json", "--tile-size", "64"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["failed"] == [] and len(summary["written"]) == 2
    two = tifffile.imread(out / "two_labels.tif")
    z = tifffile.imread(out / "zstack_labels.tif")
    assert two.shape == (64, 80) and z.shape == (2, 64, 64)
    assert two.dtype.kind == "u"

    bad = tmp_path / "bad.tif"
    tifffile.imwrite(bad, np.zeros((40, 40), np.uint16))  # one channel, model needs channel 1
    args = ["segment", "--model", str(model_dir), str(files / "two.tif"), str(bad)]
    args += [str(tmp_path / "missing.tif"), "--out", str(out), "--quiet", "--json"]
    assert main(args) == 1
    captured = capsys.readouterr()
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert [f["path"] for f in summary["failed"]] == [str(bad), str(tmp_path / "missing.tif")]
    assert "failed:" in captured.err and (out / "two_labels.tif").exists()
    assert not (out / "bad_labels.tif").exists()


def test_finetune_with_init(files, model_dir, tmp_path):
    out = tmp_path / "tuned"
    args = ["train", "--images", str(files / "two.tif"), "--masks", str(files / "mask.tif")]
    args += ["--out", str(out), "--input-channel", "0", "--init", str(model_dir), "--quiet"]
    assert main([*args, *FAST, "--device", "cpu"]) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["provenance"]["init"] == str(model_dir) and cfg["input_channels"] == [0]


def _one_line_error(capsys, code: int, needle: str) -> str:
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err
    return err[0]


@pytest.mark.parametrize(
    "case, needle",
    [
        ("shape", "does not match"),
        ("background", "all background"),
        ("channel", "out of range"),
        ("nan", "NaN"),
        ("constant", "constant"),
        ("missing", "no such file"),
    ],
)
def test_train_bad_input_exits_2(files, tmp_path, capsys, case, needle):
    s = make_sample((64, 64), n_nuclei=4, seed=1)
    img, mask = tmp_path / "img.tif", tmp_path / "msk.tif"
    image, labels = s.fluorescence.astype(np.float32), s.labels
    channel = []
    if case == "shape":
        labels = labels[:, :40]
    elif case == "background":
        labels = np.zeros_like(labels)
    elif case == "channel":
        channel = ["--input-channel", "3"]
    elif case == "nan":
        image[5, 5] = np.nan
    elif case == "constant":
        image[:] = 3
    tifffile.imwrite(img, image)
    tifffile.imwrite(mask, labels)
    if case == "missing":
        img = tmp_path / "nope.tif"
    args = ["train", "--images", str(img), "--masks", str(mask), "--out", str(tmp_path / "m")]
    line = _one_line_error(capsys, main([*args, *channel, *FAST, "--quiet"]), needle)
    # The message names the file at fault.
    assert str(mask if case in ("shape", "background") else img) in line


def test_segment_bad_input_exits_2(files, model_dir, tmp_path, capsys):
    s = make_sample((48, 48), seed=2)
    nan = tmp_path / "nan.tif"
    image = s.stack().astype(np.float32)
    image[1, 3, 3] = np.nan
    tifffile.imwrite(nan, image, metadata={"axes": "CYX"}, imagej=True)
    code = main(["segment", "--model", str(model_dir), str(nan), "--out", str(tmp_path / "o")])
    _one_line_error(capsys, code, "NaN")
    const = tmp_path / "const.tif"
    tifffile.imwrite(
        const, np.full((2, 48, 48), 9, np.uint16), metadata={"axes": "CYX"}, imagej=True
    )
    code = main(["segment", "--model", str(model_dir), str(const), "--out", str(tmp_path / "o")])
    _one_line_error(capsys, code, "constant")
    code = main(["segment", "--model", str(tmp_path), str(nan), "--out", str(tmp_path / "o")])
    _one_line_error(capsys, code, "not a model folder")

    # A model folder written by another format version is refused with one line.
    old = tmp_path / "old"
    old.mkdir()
    cfg = json.loads((model_dir / "config.json").read_text())
    cfg["format_version"] = 99
    (old / "config.json").write_text(json.dumps(cfg))
    (old / "weights.pt").write_bytes((model_dir / "weights.pt").read_bytes())
    code = main(["segment", "--model", str(old), str(nan), "--out", str(tmp_path / "o")])
    _one_line_error(capsys, code, "format version")
    args = ["train", "--images", str(files / "two.tif"), "--masks", str(files / "mask.tif")]
    args += ["--out", str(tmp_path / "m2"), "--input-channel", "1", "--init", str(old)]
    _one_line_error(capsys, main([*args, *FAST, "--quiet"]), "format version")


def test_segment_says_when_the_model_knows_fewer_flips(files, tmp_path, capsys):
    out = tmp_path / "m"
    args = ["train", "--images", str(files / "two.tif"), "--masks", str(files / "mask.tif")]
    args += ["--out", str(out), "--input-channel", "1", "--device", "cpu", "--quiet", *FAST]
    assert main([*args, "--symmetry", "none"]) == 0
    assert json.loads((out / "config.json").read_text())["symmetries"] == ["identity"]
    capsys.readouterr()
    seg = ["segment", "--model", str(out), str(files / "two.tif"), "--out", str(tmp_path / "s")]
    assert main([*seg, "--flips", "4", "--device", "cpu", "--quiet", "--json"]) == 0
    captured = capsys.readouterr()
    assert "averaging 1 of the 4 flips asked" in captured.err
    assert json.loads(captured.out.strip().splitlines()[-1])["flips_used"] == 1
