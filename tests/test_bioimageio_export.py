"""``export-bioimageio``: the package passes bioimageio.core's own test offline, and it carries
the provenance of the training labels, a cover, attachments and the user's authors and licence.
"""

from __future__ import annotations

import json
import shutil
import socket
import zipfile

import numpy as np
import pytest
import yaml

from napari_selfsup_seg._errors import InputError
from napari_selfsup_seg.api import export_bioimageio
from napari_selfsup_seg.cli.main import main
from napari_selfsup_seg.data._synthetic import make_sample
from napari_selfsup_seg.io._tiff_write import write_image


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    """bioimageio's cache in a temporary folder, and every network connection refused and
    recorded (the list of attempted addresses is yielded)."""
    cache = tmp_path_factory.mktemp("bioimageio-cache")
    attempts: list = []

    def refuse(self, address, *args, **kwargs):
        attempts.append(address)
        raise OSError("network disabled in this test")

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BIOIMAGEIO_CACHE_PATH", str(cache))
        mp.setattr(socket.socket, "connect", refuse)
        mp.setattr(socket.socket, "connect_ex", refuse)
        from bioimageio.spec._internal._settings import settings

        mp.setattr(settings, "cache_path", cache)
        yield attempts


@pytest.fixture(scope="module")
def test_image(tmp_path_factory):
    path = tmp_path_factory.mktemp("img") / "field.tif"
    write_image(path, make_sample((64, 64), seed=3).fluorescence)
    return path


@pytest.fixture(scope="module")
def package(model_dir, offline, test_image, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "nuclei.zip"
    result = export_bioimageio(
        model_dir,
        out,
        name="Tiny nuclei U-Net",
        authors=["Ada Lovelace", "Alan Turing"],
        license="MIT",
        test_image=test_image,
    )
    assert result.path == out and out.is_file()
    return result


def _rdf(path) -> dict:
    with zipfile.ZipFile(path) as zf:
        return yaml.safe_load(zf.read("rdf.yaml"))


def test_package_passes_bioimageio_core_test_offline(package, offline):
    from bioimageio.core import test_model

    summary = test_model(package.path)
    failed = [d.name for d in summary.details if d.status == "failed"]
    assert summary.status == "passed", failed
    assert offline == []  # neither the export nor the test tried the network
    assert package.weight_formats == ["pytorch_state_dict", "torchscript"]


def test_package_contents_authors_licence_and_processing(package, model_dir):
    rdf = _rdf(package.path)
    assert rdf["format_version"].startswith("0.5.") and rdf["type"] == "model"
    assert [a["name"] for a in rdf["authors"]] == ["Ada Lovelace", "Alan Turing"]
    assert rdf["license"] == "MIT" and rdf["name"] == "Tiny nuclei U-Net"
    pre = rdf["inputs"][0]["preprocessing"]
    scale = next(p for p in pre if p["id"] == "scale_range")["kwargs"]
    assert (scale["min_percentile"], scale["max_percentile"]) == (1.0, 99.8)
    assert next(p for p in pre if p["id"] == "clip")["kwargs"] == {"min": -0.5, "max": 1.5}
    assert rdf["outputs"][0]["postprocessing"][0]["id"] == "softmax"
    arch = rdf["weights"]["pytorch_state_dict"]["architecture"]
    assert arch["import_from"] == "napari_selfsup_seg.api" and arch["kwargs"]["encoder_depth"] == 3
    with zipfile.ZipFile(package.path) as zf:
        names = set(zf.namelist())
        config = json.loads(zf.read("config.json"))
        cover = zf.read("cover.png")
        x = np.load(zf.open("test_input.npy"))
    assert {"README.md", "training_log.csv", "weights.pt", "test_output.npy"} <= names
    assert config == json.loads((model_dir / "config.json").read_text())
    assert {a["source"] for a in rdf["attachments"]} == {"config.json", "training_log.csv"}
    assert x.shape == package.test_shape == (1, 1, 64, 64)
    from io import BytesIO

    from PIL import Image

    assert Image.open(BytesIO(cover)).size == (128, 64)  # input | output, 2:1


def _model_with_provenance(model_dir, tmp_path, provenance: dict):
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    cfg = json.loads((copy / "config.json").read_text())
    cfg["provenance"] = provenance
    (copy / "config.json").write_text(json.dumps(cfg))
    return copy


def _readme(path) -> str:
    with zipfile.ZipFile(path) as zf:
        return zf.read("README.md").decode()


def test_readme_renders_recorded_provenance_and_says_what_is_missing(model_dir, offline, tmp_path):
    prov = {
        "masks_layer": "fluo pseudo (psm)",
        "pseudo": {"method": "psm", "clusters": 3, "threshold": None},
        "frames": [0, 1, 2],
        "reviewed": [0, 2],
        "held_out": [3],
    }
    model = _model_with_provenance(model_dir, tmp_path, prov)
    (model / "training_log.csv").write_text(
        "step,loss,val_ap50,val_pixel_f1\n5,0.9,,\n10,0.5,0.5,0.75\n"
    )
    out = export_bioimageio(model, tmp_path / "p.zip", authors=["A B"], torchscript=False)
    text = _readme(out.path)
    assert "| pseudo-mask method | psm |" in text
    assert '"clusters": 3' in text and "| planes corrected by hand | 2 (planes [0, 2]) |" in text
    assert "| self-training rounds | not recorded |" in text
    assert "## Validation" in text and "bioimageio test" in text
    assert "held-out reviewed masks (frames [3]): AP@0.5 0.500, pixel F1 0.750 at step 10" in text
    rdf = _rdf(out.path)
    assert "method: psm" in rdf["description"] and list(rdf["weights"]) == ["pytorch_state_dict"]
    assert any("2308.11144" in c.get("doi", "") for c in rdf["cite"])  # the PSM paper

    bare = _model_with_provenance(model_dir, tmp_path / "bare", {})
    text = _readme(export_bioimageio(bare, tmp_path / "b.zip", torchscript=False).path)
    for what in ("pseudo-mask method", "pseudo-mask parameters", "planes corrected by hand"):
        assert f"| {what} | not recorded |" in text
    assert "No held-out validation was recorded" in text
    assert offline == []


def test_cli_json_summary_and_default_test_input(model_dir, offline, tmp_path, capsys):
    out = tmp_path / "cli.zip"
    args = ["export-bioimageio", str(model_dir), str(out), "--authors", "Grace Hopper"]
    assert main([*args, "--no-torchscript", "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(lines[-1])
    assert summary["out"] == str(out) and summary["weight_formats"] == ["pytorch_state_dict"]
    assert summary["test_shape"] == [1, 1, 256, 256]  # a generated sample plane
    assert "bioimageio test" in lines[-2]
    rdf = _rdf(out)
    assert rdf["license"] == "CC-BY-4.0" and rdf["authors"] == [{"name": "Grace Hopper"}]
    # Exporting again replaces the earlier package; any other file is left alone.
    assert main([*args, "--no-torchscript"]) == 0
    other = tmp_path / "notes.zip"
    other.write_bytes(b"not a package")
    assert main(["export-bioimageio", str(model_dir), str(other)]) == 2
    err = capsys.readouterr().err.strip()
    assert "not a package exported by napari-selfsup-seg" in err and len(err.splitlines()) == 1
    assert other.read_bytes() == b"not a package"


@pytest.mark.parametrize(
    ("kwargs", "target", "message"),
    [
        ({}, "model.tar", "is a .zip file"),
        ({"name": "a/b"}, "m.zip", "model name"),
        ({"license": "not-a-licence"}, "m.zip", "license"),
        ({"authors": ["x/y"]}, "m.zip", "authors"),
    ],
)
def test_bad_requests_are_refused_in_one_line(
    model_dir, offline, tmp_path, kwargs, target, message
):
    with pytest.raises(InputError, match=message) as err:
        export_bioimageio(model_dir, tmp_path / target, torchscript=False, **kwargs)
    assert "\n" not in str(err.value).strip()
    assert not (tmp_path / target).exists()
