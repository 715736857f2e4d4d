"""Running a bioimage.io package exported by this tool wherever a MODEL_DIR is accepted, and
refusing, in one line that names what is missing, a package it cannot run.
"""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import tifffile
import yaml

from napari_selfsup_seg import api
from napari_selfsup_seg._errors import ModelError
from napari_selfsup_seg.cli.main import main
from napari_selfsup_seg.data._synthetic import make_sample
from napari_selfsup_seg.io._tiff_write import write_image


@pytest.fixture(scope="module")
def package(model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("pkg") / "model.zip"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BIOIMAGEIO_CACHE_PATH", str(tmp_path_factory.mktemp("cache")))
        api.export_bioimageio(model_dir, out, authors=["A B"], torchscript=False)
    return out


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    for i in range(2):
        write_image(folder / f"img{i}.tif", make_sample((64, 80), seed=10 + i).fluorescence)
    return folder


def _segment(model, images, out) -> list[np.ndarray]:
    args = ["segment", "--model", str(model), *map(str, sorted(images.glob("*.tif")))]
    assert main([*args, "--out", str(out), "--device", "cpu", "--quiet", "--tile-size", "64"]) == 0
    return [tifffile.imread(p) for p in sorted(out.glob("*_labels.tif"))]


def test_segment_with_package_equals_segment_with_model_dir(model_dir, package, images, tmp_path):
    from_dir = _segment(model_dir, images, tmp_path / "dir")
    from_zip = _segment(package, images, tmp_path / "zip")
    assert len(from_zip) == 2 and any(lab.max() > 0 for lab in from_zip)
    for a, b in zip(from_dir, from_zip):
        np.testing.assert_array_equal(a, b)


def test_segment_folder_and_api_take_a_package(model_dir, package, images, tmp_path):
    kwargs = dict(predict_config=api.PredictConfig(tile_size=64, device="cpu"))
    api.segment_folder(model_dir, images, tmp_path / "dir", **kwargs)
    summary = api.segment_folder(package, images, tmp_path / "zip", **kwargs)
    assert summary["done"] == 2
    assert json.loads((tmp_path / "zip" / "run.json").read_text())["model"] == str(package)
    for name in ("img0_labels.tif", "img1_labels.tif"):
        a, b = (tifffile.imread(tmp_path / d / name) for d in ("dir", "zip"))
        np.testing.assert_array_equal(a, b)
    loaded = api.load_model(package, device="cpu")
    plane = make_sample((64, 64), seed=5).fluorescence
    np.testing.assert_array_equal(
        api.predict_labels(loaded, plane), api.predict_labels(model_dir, plane)
    )
    assert loaded.log and loaded.config.to_dict() == api.load_model(model_dir).config.to_dict()
    assert api.load_model(package).path == loaded.path  # unpacked once, then reused


def _zip(path, files: dict[str, bytes]):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def _foreign_rdf(**extra) -> bytes:
    rdf = {"type": "model", "format_version": "0.5.4", "name": "someone else's model"}
    return yaml.safe_dump({**rdf, **extra}).encode()


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"rdf.yaml": _foreign_rdf(config={"deepimagej": {}})}, "not exported by napari-selfsup"),
        ({"weights.pt": b""}, "no rdf.yaml inside"),
        ({"rdf.yaml": _foreign_rdf(type="dataset")}, "not a model"),
        (
            {
                "rdf.yaml": _foreign_rdf(
                    config={
                        "napari_selfsup_seg": {
                            "package_version": 1,
                            "weights": "weights.pt",
                            "model_config": "config.json",
                        }
                    }
                ),
                "config.json": b"{}",
            },
            "weights file 'weights.pt' named in rdf.yaml is missing",
        ),
        (
            {"rdf.yaml": _foreign_rdf(config={"napari_selfsup_seg": {"package_version": 99}})},
            "newer napari-selfsup-seg",
        ),
    ],
)
def test_other_packages_are_refused_in_one_line(files, message, images, tmp_path, capsys):
    bad = _zip(tmp_path / "other.zip", files)
    with pytest.raises(ModelError, match=message):
        api.load_model(bad)
    args = ["segment", "--model", str(bad), str(images / "img0.tif"), "--out", str(tmp_path)]
    assert main([*args, "--json"]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and "other.zip" in err and message in err
    assert json.loads(captured.out.strip().splitlines()[-1])["exit"] == 2
    assert not list(tmp_path.glob("*_labels.tif"))


def test_foreign_package_message_names_what_is_missing(tmp_path):
    bad = _zip(tmp_path / "cellpose.zip", {"rdf.yaml": _foreign_rdf()})
    with pytest.raises(ModelError) as err:
        api.segment_folder(bad, tmp_path, tmp_path / "out")
    assert "config.napari_selfsup_seg" in str(err.value) and "bioimageio.core" in str(err.value)
    not_zip = tmp_path / "broken.zip"
    not_zip.write_bytes(b"PK but not really")
    with pytest.raises(ModelError, match="not a readable zip file"):
        api.load_model(not_zip)
