"""Reading stacks with their axes and writing labels/maps atomically."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tifffile

from napari_selfsup_seg._errors import InputError
from napari_selfsup_seg.io._image import image_stem, read_image
from napari_selfsup_seg.io._tiff_write import write_float, write_labels


def test_plain_2d(tmp_path):
    img = np.arange(64 * 48, dtype=np.uint16).reshape(64, 48)
    tifffile.imwrite(tmp_path / "a.tif", img)
    stack = read_image(tmp_path / "a.tif")
    assert stack.axes == "YX"
    assert stack.n_channels == 1
    np.testing.assert_array_equal(stack.data, img)
    assert stack.planes().shape == (1, 1, 64, 48)


def test_ome_zcyx_keeps_axes_and_pixel_size(tmp_path):
    data = np.random.default_rng(0).integers(0, 500, (3, 2, 32, 40), dtype=np.uint16)
    tifffile.imwrite(
        tmp_path / "s.ome.tif",
        data,
        ome=True,
        metadata={"axes": "ZCYX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.25},
    )
    stack = read_image(tmp_path / "s.ome.tif")
    assert stack.axes == "ZCYX"
    assert stack.stem == "s"
    assert stack.n_channels == 2
    assert stack.plane_shape == (3,)
    assert stack.pixel_size == pytest.approx((0.25, 0.5))
    np.testing.assert_array_equal(stack.channel(1), data[:, 1])
    planes = stack.planes(1)
    assert planes.shape == (3, 1, 32, 40)
    assert stack.restack(planes[:, 0]).shape == (3, 32, 40)


def test_imagej_tzyx(tmp_path):
    data = np.zeros((2, 3, 16, 16), np.uint8)
    data[1, 2, 5, 5] = 7
    tifffile.imwrite(tmp_path / "t.tif", data, imagej=True, metadata={"axes": "TZYX"})
    stack = read_image(tmp_path / "t.tif")
    assert stack.axes == "TZYX"
    assert stack.plane_shape == (2, 3)
    assert stack.planes().shape == (6, 1, 16, 16)
    assert stack.planes()[5, 0, 5, 5] == 7


def test_rgb_samples_become_channels(tmp_path):
    data = np.zeros((20, 30, 3), np.uint8)
    data[..., 2] = 9
    tifffile.imwrite(tmp_path / "rgb.tif", data, photometric="rgb")
    stack = read_image(tmp_path / "rgb.tif")
    assert stack.axes == "CYX"
    assert stack.channel(2).max() == 9


def test_axes_override(tmp_path):
    tifffile.imwrite(tmp_path / "q.tif", np.zeros((6, 16, 16), np.uint16))
    assert read_image(tmp_path / "q.tif", axes="ZYX").axes == "ZYX"
    with pytest.raises(InputError, match="do not match"):
        read_image(tmp_path / "q.tif", axes="YX")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "no such file"),
        (lambda p: p.write_text("not an image"), "not a readable TIFF"),
        (lambda p: p.write_bytes(b"II*\x00" + b"\x00" * 4), "not a readable TIFF"),
    ],
)
def test_bad_files_give_one_line(tmp_path, make, message):
    path = tmp_path / "bad.tif"
    make(path)
    with pytest.raises(InputError, match=message) as info:
        read_image(path)
    assert "\n" not in str(info.value)
    assert "bad.tif" in str(info.value)


def test_truncated_tiff(tmp_path):
    good = tmp_path / "good.tif"
    tifffile.imwrite(good, np.ones((256, 256), np.uint16))
    cut = tmp_path / "cut.tif"
    cut.write_bytes(good.read_bytes()[:3000])
    with pytest.raises(InputError, match=r"cut\.tif"):
        read_image(cut)


def test_channel_out_of_range(tmp_path):
    tifffile.imwrite(
        tmp_path / "c.tif", np.zeros((2, 16, 16), np.uint16), imagej=True, metadata={"axes": "CYX"}
    )
    stack = read_image(tmp_path / "c.tif")
    with pytest.raises(InputError, match="channel 2 out of range"):
        stack.channel(2)
    with pytest.raises(InputError, match="channel 5 out of range"):
        stack.planes(5)
    with pytest.raises(InputError, match="choose one"):
        stack.channel(None)


def test_write_labels_dtype_and_atomic(tmp_path):
    small = np.zeros((8, 8), np.int64)
    small[2, 2] = 65535
    out = write_labels(tmp_path / "l.tif", small)
    assert tifffile.imread(out).dtype == np.uint16
    big = np.zeros((8, 8), np.int64)
    big[2, 2] = 70000
    assert tifffile.imread(write_labels(tmp_path / "b.tif", big)).max() == 70000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.tif", "l.tif"]
    # Not private like a temporary file: readable by others unless the umask says otherwise.
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask


def test_write_failure_leaves_no_partial_file(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(tifffile, "imwrite", boom)
    with pytest.raises(OSError):
        write_float(tmp_path / "p.tif", np.zeros((4, 4)))
    assert list(tmp_path.iterdir()) == []


def test_write_stack_roundtrip(tmp_path):
    labels = np.zeros((3, 16, 16), np.uint16)
    labels[1, 4:8, 4:8] = 3
    write_labels(tmp_path / "z.tif", labels, axes="ZYX", pixel_size=(0.5, 0.5))
    stack = read_image(tmp_path / "z.tif")
    assert stack.axes == "ZYX"
    np.testing.assert_array_equal(stack.data, labels)
    assert stack.pixel_size == pytest.approx((0.5, 0.5))


def test_write_into_missing_folder(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        write_labels(tmp_path / "nope" / "x.tif", np.zeros((4, 4), np.uint16))


def test_image_stem():
    assert image_stem("/a/b/img.ome.tif") == "img"
    assert image_stem("x.TIFF") == "x"
