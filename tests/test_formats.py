"""Image formats: OME-TIFF scenes, OME-Zarr, ND2/CZI/LIF through bioio (or the install hint),
read through the API, the command line and the napari reader."""

from __future__ import annotations

import json
import sys
import types
from collections import namedtuple

import numpy as np
import pytest
import tifffile

from napari_selfsup_seg._errors import InputError
from napari_selfsup_seg.cli.main import main
from napari_selfsup_seg.data._synthetic import make_sample
from napari_selfsup_seg.io._formats import FORMATS_HINT, image_format, is_image_name
from napari_selfsup_seg.io._image import image_stem, read_image


def _two_scene_tiff(path):
    """An OME-TIFF with two series: a ZCYX stack and a 64 x 64 fluorescence image."""
    first = np.random.default_rng(0).integers(0, 1000, (2, 3, 32, 40), dtype=np.uint16)
    second = (make_sample((64, 64), seed=1).fluorescence * 1000).astype(np.uint16)
    with tifffile.TiffWriter(path, ome=True) as tw:
        tw.write(first, metadata={"axes": "ZCYX", "Name": "wellA", "PhysicalSizeX": 0.5,
                                  "PhysicalSizeY": 0.5, "PhysicalSizeZ": 2.0,
                                  "Channel": {"Name": ["DAPI", "BF", "GFP"]}})  # fmt: skip
        tw.write(second, metadata={"axes": "YX", "Name": "wellB", "PhysicalSizeX": 0.25,
                                   "PhysicalSizeY": 0.25})  # fmt: skip
    return first, second


def _ome_zarr(path, data, names=("BF", "DAPI"), pixel=0.4):
    """An OME-Zarr (NGFF 0.4) image of axes CYX with channel names and a pixel size."""
    import zarr

    root = zarr.open_group(str(path), mode="w", zarr_format=2)
    root.create_array("0", data=data, chunks=(1, 32, 32))
    axes = [{"name": "c", "type": "channel"}] + [
        {"name": a, "type": "space", "unit": "micrometer"} for a in "yx"
    ]
    scale = [{"type": "scale", "scale": [1.0, pixel, pixel]}]
    root.attrs["multiscales"] = [
        {
            "version": "0.4",
            "axes": axes,
            "datasets": [{"path": "0", "coordinateTransformations": scale}],
        }
    ]
    root.attrs["omero"] = {"channels": [{"label": n} for n in names]}
    return path


def _sample_zarr(path):
    s = make_sample((64, 64), seed=2)
    data = (np.stack([s.brightfield, s.fluorescence]) * 1000).astype(np.uint16)
    return _ome_zarr(path, data), data


def test_ome_tiff_scenes_keep_their_own_metadata(tmp_path):
    path = tmp_path / "plate.ome.tif"
    first, second = _two_scene_tiff(path)
    a = read_image(path)
    assert (a.axes, a.scene, a.channel_names) == ("ZCYX", "wellA", ["DAPI", "BF", "GFP"])
    assert a.pixel_size == (0.5, 0.5) and a.z_spacing == 2.0
    np.testing.assert_array_equal(a.data, first)
    for scene in (1, "1", "wellB", -1):
        b = read_image(path, scene=scene)
        assert (b.axes, b.scene, b.channel_names, b.pixel_size) == ("YX", "wellB", [], (0.25, 0.25))
        np.testing.assert_array_equal(b.data, second)
    with pytest.raises(
        InputError, match=r"plate\.ome\.tif: scene 2 out of range .*'wellA', 'wellB'"
    ):
        read_image(path, scene=2)
    with pytest.raises(InputError, match="no scene named 'wellC'"):
        read_image(path, scene="wellC")
    one = tmp_path / "one.tif"
    tifffile.imwrite(one, second)
    assert read_image(one).scene is None and read_image(one, scene=0).shape == (64, 64)
    with pytest.raises(InputError, match=r"scene 1 out of range .*1 scene"):
        read_image(one, scene=1)


def test_ome_zarr_reads_eagerly_and_lazily(tmp_path):
    path, data = _sample_zarr(tmp_path / "cells.ome.zarr")
    assert image_format(path) == "zarr" and image_stem(path) == "cells"
    stack = read_image(path)
    assert isinstance(stack.data, np.ndarray)
    assert (stack.axes, stack.channel_names, stack.pixel_size) == (
        "CYX",
        ["BF", "DAPI"],
        (0.4, 0.4),
    )
    np.testing.assert_array_equal(stack.data, data)
    lazy = read_image(path, lazy=True)
    assert type(lazy.data).__module__.startswith("dask")
    np.testing.assert_array_equal(np.asarray(lazy.channel(1)), data[1])
    assert read_image(path, lazy="auto").data.__class__ is np.ndarray  # fits in memory
    with pytest.raises(InputError, match="scene 1 out of range"):
        read_image(path, scene=1)
    # A lazy TIFF, too: nothing read until asked.
    tifffile.imwrite(tmp_path / "t.tif", data, metadata={"axes": "CYX"})
    lazy_tiff = read_image(tmp_path / "t.tif", lazy=True)
    np.testing.assert_array_equal(np.asarray(lazy_tiff.data), data)


def test_bioformats2raw_zarr_scenes(tmp_path):
    import zarr

    path = tmp_path / "plate.zarr"
    root = zarr.open_group(str(path), mode="w", zarr_format=2)
    root.attrs["bioformats2raw.layout"] = 3
    images = [np.full((2, 32, 32), k + 1, np.uint16) for k in range(2)]
    for k, img in enumerate(images):
        _ome_zarr(path / str(k), img, pixel=0.1 * (k + 1))
    second = read_image(path, scene=1)
    assert second.scene == "1" and second.pixel_size == pytest.approx((0.2, 0.2))
    np.testing.assert_array_equal(second.data, images[1])


@pytest.mark.parametrize("suffix", [".nd2", ".czi", ".lif"])
def test_microscope_formats_without_the_extra_give_one_line_hint(tmp_path, monkeypatch, suffix):
    monkeypatch.setitem(sys.modules, "bioio", None)  # `import bioio` now fails
    path = tmp_path / f"scan{suffix}"
    path.write_bytes(b"\x00" * 64)
    assert image_format(path) == "bioio" and is_image_name(path.with_suffix(suffix.upper()))
    with pytest.raises(InputError) as info:
        read_image(path)
    text = str(info.value)
    assert "\n" not in text and str(path) in text and FORMATS_HINT in text
    assert f"bioio-{suffix[1:]}" in text


class _FakeBioImage:
    """What read_image uses of bioio.BioImage: two scenes of a TCZYX image."""

    Sizes = namedtuple("Sizes", "Z Y X")

    def __init__(self, path):
        self.scenes = ("Pos A", "Pos B")
        rng = np.random.default_rng(3)
        self.pixels = {
            "Pos A": rng.integers(0, 9, (1, 2, 1, 16, 20)).astype(np.uint16),
            "Pos B": rng.integers(0, 9, (3, 2, 4, 24, 28)).astype(np.uint16),
        }
        self.current_scene = "Pos A"

    def set_scene(self, index):
        self.current_scene = self.scenes[index]

    @property
    def dims(self):
        return types.SimpleNamespace(order="TCZYX")

    @property
    def channel_names(self):
        return ["DAPI", "Brightfield"]

    @property
    def physical_pixel_sizes(self):
        return (
            self.Sizes(1.5, 0.3, 0.3) if self.current_scene == "Pos B" else self.Sizes(None, 1, 1)
        )

    def get_image_dask_data(self, order):
        import dask.array as da

        assert order == "TZCYX"
        return da.from_array(self.pixels[self.current_scene].transpose(0, 2, 1, 3, 4))


def test_bioio_files_keep_dimension_order_channels_sizes_and_scenes(tmp_path, monkeypatch):
    fake = types.ModuleType("bioio")
    fake.BioImage = _FakeBioImage  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "bioio", fake)
    path = tmp_path / "timelapse.czi"
    path.write_bytes(b"")
    stack = read_image(path, scene="Pos B")
    assert stack.axes == "TZCYX" and stack.shape == (3, 4, 2, 24, 28)
    assert stack.channel_names == ["DAPI", "Brightfield"] and stack.scene == "Pos B"
    assert stack.pixel_size == (0.3, 0.3) and stack.z_spacing == 1.5
    np.testing.assert_array_equal(stack.channel(1), _FakeBioImage(path).pixels["Pos B"][:, 1])
    first = read_image(path)
    assert first.axes == "CYX" and first.scene == "Pos A" and first.z_spacing is None
    assert type(read_image(path, scene=1, lazy=True).data).__module__.startswith("dask")
    with pytest.raises(InputError, match=r"no scene named 'Pos C'.*'Pos A', 'Pos B'"):
        read_image(path, scene="Pos C")


def _last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_cli_reads_scenes_and_ome_zarr(tmp_path, capsys, model_dir):
    plate = tmp_path / "plate.ome.tif"
    _, second = _two_scene_tiff(plate)
    out = tmp_path / "pm"
    args = ["pseudo-mask", "--method", "threshold", "--out", str(out), "--json"]
    assert main([*args, str(plate), "--scene", "wellB"]) == 0
    summary = _last_json(capsys)
    labels = read_image(out / "plate_pseudo.tif")
    assert labels.shape == second.shape and labels.data.max() > 0
    assert labels.pixel_size == pytest.approx((0.25, 0.25))
    assert summary["outputs"][0]["labels"].endswith("plate_pseudo.tif")
    zarr_path, _ = _sample_zarr(tmp_path / "cells.ome.zarr")
    assert main([*args, str(zarr_path), "--channel", "1"]) == 0
    assert read_image(out / "cells_pseudo.tif").shape == (64, 64)
    seg = ["segment", "--model", str(model_dir), "--out", str(tmp_path / "seg"), "--json"]
    assert main([*seg, "--device", "cpu", "--tile-size", "64", str(plate), "--scene", "1"]) == 0
    assert _last_json(capsys)["written"][0]["shape"] == [64, 64]
    assert main([*seg, str(plate), "--scene", "7"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "scene 7 out of range" in err


def test_cli_hint_and_folder_default_pattern(tmp_path, capsys, monkeypatch, model_dir):
    monkeypatch.setitem(sys.modules, "bioio", None)
    src = tmp_path / "in"
    src.mkdir()
    (src / "scan.CZI").write_bytes(b"\x00" * 64)
    args = ["pseudo-mask", "--method", "threshold", "--out", str(tmp_path / "pm")]
    assert main([*args, str(src / "scan.CZI")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "scan.CZI" in err and FORMATS_HINT in err
    _, two_channels = _sample_zarr(src / "b.ome.zarr")
    tifffile.imwrite(src / "a.tif", two_channels, metadata={"axes": "CYX"})
    (src / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    argv = ["segment-folder", "--model", str(model_dir), str(src), str(out), "--device", "cpu",
            "--tile-size", "64", "--input-channel", "1", "--json"]  # fmt: skip
    assert main(argv) == 1  # the CZI fails (no bioio here), the others are done
    summary = _last_json(capsys)
    assert summary["total"] == 3 and summary["done"] == 2, summary["failed"]
    (failed,) = summary["failed"]
    assert failed["path"].endswith("scan.CZI") and FORMATS_HINT in failed["reason"]
    assert (out / "a_labels.tif").exists() and (out / "b_labels.zarr").is_dir()


def test_napari_reader_opens_ome_zarr_and_scenes(tmp_path):
    from npe2 import PluginManager, read

    from napari_selfsup_seg._napari.reader import napari_get_reader

    PluginManager.instance().discover(include_npe1=False)  # what napari does at start

    path, data = _sample_zarr(tmp_path / "cells.ome.zarr")
    assert napari_get_reader(str(path)) is not None
    assert napari_get_reader(str(tmp_path / "x.nd2")) is not None
    assert napari_get_reader(str(tmp_path / "x.png")) is None
    layers = read([str(path)], stack=False, plugin_name="napari-selfsup-seg")
    assert [kw["name"] for _, kw, _ in layers] == ["cells BF", "cells DAPI"]
    arr, kw, kind = layers[1]
    assert kind == "image" and kw["scale"] == [0.4, 0.4]
    np.testing.assert_array_equal(arr, data[1])
    plate = tmp_path / "plate.ome.tif"
    _two_scene_tiff(plate)
    layers = read([str(plate)], stack=False, plugin_name="napari-selfsup-seg")
    assert [kw["name"] for _, kw, _ in layers] == ["plate DAPI", "plate BF", "plate GFP"]
    assert layers[0][1]["scale"] == [2.0, 0.5, 0.5] and layers[0][1]["metadata"]["scene"] == "wellA"


def test_real_bioio_reads_what_read_image_expects(tmp_path):
    """bioio itself (the formats extra, part of [testing]) through the same code as ND2/CZI/LIF:
    its OME-TIFF plugin stands in for the vendor formats, which need vendor files."""
    pytest.importorskip("bioio_ome_tiff", reason="the [formats] extra is not installed")
    from napari_selfsup_seg.io._bioio import read_bioio

    path = tmp_path / "plate.ome.tif"
    first, _ = _two_scene_tiff(path)
    found = read_bioio(path)
    assert found.channel_names == ["DAPI", "BF", "GFP"] and found.pixel_size == (0.5, 0.5)
    assert found.z_spacing == 2.0 and found.scene == "Image:0"
    np.testing.assert_array_equal(np.asarray(found.data)[0], first)  # TZCYX
    assert read_bioio(path, scene=1).data.shape == (1, 1, 1, 64, 64)
