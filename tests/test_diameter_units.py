"""``--diameter`` in pixels or micrometres: converted per file with its pixel size, refused in one
line naming the file that has none; the JSON output records the pixels used for each file."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import tifffile

from napari_selfsup_seg.cli._flags import Micrometres, length_arg
from napari_selfsup_seg.cli.main import main
from napari_selfsup_seg.io._image import read_image
from napari_selfsup_seg.io._tiff_write import write_labels


def _discs(diameter: int = 20, size: int = 128) -> np.ndarray:
    """Five bright discs of ``diameter`` pixels on a dark background, ``(size, size)`` uint16."""
    yy, xx = np.mgrid[:size, :size]
    image = np.full((size, size), 100, np.uint16)
    r = diameter / 2
    for cy, cx in [(30, 30), (30, 95), (95, 30), (95, 95), (62, 62)]:
        image[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 1000
    return image


def _summary(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("text", "value"),
    [("15", 15.0), ("15px", 15.0), ("12um", Micrometres(12.0)), ("12 µm", Micrometres(12.0)),
     ("12μm", Micrometres(12.0)), ("2.5 UM", Micrometres(2.5)), ("8 microns", Micrometres(8.0))],
)  # fmt: skip
def test_length_arg_reads_pixels_and_micrometres(text, value):
    assert length_arg(text) == value


@pytest.mark.parametrize("text", ["", "12 mm", "um", "-3um", "0", "nan", "12 um px"])
def test_length_arg_refuses_other_text(text):
    with pytest.raises(argparse.ArgumentTypeError):
        length_arg(text)


def test_pseudo_mask_micrometres_per_file(tmp_path, capsys):
    # Same discs (20 px), two pixel sizes: 10 µm is 20 px in one file and 40 px in the other.
    write_labels(tmp_path / "half.tif", _discs(), "YX", (0.5, 0.5))
    write_labels(tmp_path / "quarter.tif", _discs(), "YX", (0.25, 0.25))
    assert read_image(tmp_path / "half.tif").pixel_size == pytest.approx((0.5, 0.5))
    args = ["pseudo-mask", "--method", "threshold", "--out", str(tmp_path / "out"), "--json"]
    files = [str(tmp_path / "half.tif"), str(tmp_path / "quarter.tif")]
    assert main([*args, *files, "--diameter", "10um", "--quiet"]) == 0
    rows = {r["path"].rsplit("/", 1)[-1]: r for r in _summary(capsys)["outputs"]}
    assert rows["half.tif"]["diameter_px"] == pytest.approx(20.0)
    assert rows["quarter.tif"]["diameter_px"] == pytest.approx(40.0)
    assert rows["half.tif"]["diameters"] == [pytest.approx(20.0)]
    # At the right scale the five discs are found whole; twice too large merges nothing new in.
    assert rows["half.tif"]["n_objects"] == 5
    # Pixels as before; the estimate (no --diameter) is recorded too.
    out2 = str(tmp_path / "out2")
    assert main([*args[:-3], "--out", out2, "--json", files[0], "--diameter", "20", "--quiet"]) == 0
    assert _summary(capsys)["outputs"][0]["diameter_px"] == 20.0
    out3 = str(tmp_path / "out3")
    assert main([*args[:-3], "--out", out3, "--json", files[0], "--quiet"]) == 0
    estimated = _summary(capsys)["outputs"][0]["diameter_px"]
    assert 15 <= estimated <= 25


def test_pseudo_mask_micrometres_refused_without_pixel_size(tmp_path, capsys):
    tifffile.imwrite(tmp_path / "plain.tif", _discs())
    out = tmp_path / "out"
    args = ["pseudo-mask", "--method", "threshold", "--out", str(out), str(tmp_path / "plain.tif")]
    assert main([*args, "--diameter", "12um", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "plain.tif" in err[0] and "pixel size" in err[0]
    assert not (out / "plain_pseudo.tif").exists()
    # Among several files, only that one fails; the other is written.
    write_labels(tmp_path / "sized.tif", _discs(), "YX", (0.5, 0.5))
    assert main([*args, str(tmp_path / "sized.tif"), "--diameter", "12um", "--json",
                 "--quiet"]) == 1  # fmt: skip
    summary = _summary(capsys)
    assert [f["path"] for f in summary["failed"]] == [str(tmp_path / "plain.tif")]
    assert summary["outputs"][0]["diameter_px"] == pytest.approx(24.0)


def test_segment_micrometres(tmp_path, model_dir, capsys):
    write_labels(tmp_path / "half.tif", _discs(size=64), "YX", (0.5, 0.5))
    tifffile.imwrite(tmp_path / "plain.tif", _discs(size=64))
    args = ["segment", "--model", str(model_dir), "--out", str(tmp_path / "o"), "--json"]
    files = [str(tmp_path / "half.tif"), str(tmp_path / "plain.tif")]
    assert main([*args, *files, "--diameter", "6 um", "--device", "cpu", "--quiet"]) == 1
    summary = _summary(capsys)
    assert [r["diameter_px"] for r in summary["written"]] == [pytest.approx(12.0)]
    assert "plain.tif" in summary["failed"][0]["reason"]
    assert "pixel size" in summary["failed"][0]["reason"]
    assert main([*args[:-3], "--out", str(tmp_path / "o2"), "--json", files[1],
                 "--diameter", "9", "--device", "cpu", "--quiet"]) == 0  # fmt: skip
    assert _summary(capsys)["written"][0]["diameter_px"] == 9.0


def test_segment_folder_micrometres(tmp_path, model_dir, capsys):
    src = tmp_path / "in"
    src.mkdir()
    write_labels(src / "a.tif", _discs(size=64), "YX", (0.5, 0.5))
    write_labels(src / "b.tif", _discs(size=64), "YX", (0.25, 0.25))
    tifffile.imwrite(src / "c.tif", _discs(size=64))
    out = tmp_path / "out"
    args = ["segment-folder", "--model", str(model_dir), str(src), str(out), "--json"]
    assert main([*args, "--diameter", "4um", "--device", "cpu", "--quiet"]) == 1
    summary = _summary(capsys)
    assert summary["diameters_px"] == {"a.tif": pytest.approx(8.0), "b.tif": pytest.approx(16.0)}
    assert len(summary["failed"]) == 1 and "c.tif" in summary["failed"][0]["reason"]
    assert "pixel size" in summary["failed"][0]["reason"]
    rows = (out / "summary.csv").read_text().splitlines()
    assert rows[0].endswith("diameter_px") and rows[1].endswith(",8.0")
    # Images segmented block by block convert with their own pixel size too.
    big = tmp_path / "big"
    args = ["segment-folder", "--model", str(model_dir), str(src), str(big), "--json"]
    assert main([*args, "--diameter", "4um", "--large-threshold", "1000", "--block-size", "64",
                 "--halo", "16", "--device", "cpu", "--quiet"]) == 1  # fmt: skip
    summary = _summary(capsys)
    assert summary["diameters_px"] == {"a.tif": pytest.approx(8.0), "b.tif": pytest.approx(16.0)}
    assert (big / "a_labels.zarr").is_dir() and "c.tif" in summary["failed"][0]["reason"]
