"""Folder runs: outputs, measurements, failures, resume, stacks, Dask, large images."""

from __future__ import annotations

import csv
import json
import socket
from pathlib import Path

import numpy as np
import pytest

from napari_selfsup_seg._config import PredictConfig
from napari_selfsup_seg._errors import InputError
from napari_selfsup_seg._progress import Progress, drain
from napari_selfsup_seg.batch._folder import (
    ImageResult,
    segment_folder,
    segment_folder_iter,
)
from napari_selfsup_seg.batch._measure import SUMMARY_COLUMNS, measurement_columns
from napari_selfsup_seg.batch._records import LargeImageOptions
from napari_selfsup_seg.data._synthetic import make_sample
from napari_selfsup_seg.io._image import read_image
from napari_selfsup_seg.io._tiff_write import write_image

CFG = PredictConfig(device="cpu", tile_size=64, overlap=16)


def _folder(path: Path, n: int = 3, size: int = 96) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        write_image(path / f"img{i}.tif", make_sample((size, size), seed=i + 1).fluorescence)
    return path


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_outputs_measurements_and_summary_match_labels(model_dir, tmp_path):
    src = _folder(tmp_path / "in")
    records: list[Progress] = []
    summary = segment_folder(
        model_dir, src, tmp_path / "out", callback=records.append, predict_config=CFG
    )
    assert summary["done"] == 3 and summary["failed"] == [] and summary["n_failed"] == 0
    assert [r.done for r in records] == [1, 2, 3] and all(r.total == 3 for r in records)
    assert all(isinstance(r, ImageResult) and r.status == "done" for r in records)
    out = tmp_path / "out"
    meas = _rows(out / "measurements.csv")
    summ = {r["image"]: r for r in _rows(out / "summary.csv")}
    assert list(meas[0]) == measurement_columns(1)
    assert list(next(iter(summ.values()))) == list(SUMMARY_COLUMNS)
    total = 0
    for i in range(3):
        labels = read_image(out / f"img{i}_labels.tif").data
        ids = np.unique(labels[labels > 0])
        rows = [r for r in meas if r["image"] == f"img{i}.tif"]
        assert sorted(int(r["label"]) for r in rows) == ids.tolist()
        areas = np.bincount(labels.ravel())[ids]
        assert [int(r["area"]) for r in sorted(rows, key=lambda r: int(r["label"]))] == list(areas)
        s = summ[f"img{i}.tif"]
        assert s["status"] == "done" and int(s["count"]) == len(ids) > 0
        assert float(s["area_sum"]) == areas.sum()
        assert float(s["area_mean"]) == pytest.approx(areas.mean(), abs=1e-3)
        assert float(s["area_cv_percent"]) == pytest.approx(
            100 * areas.std() / areas.mean(), abs=1e-3
        )
        r0 = rows[0]
        img = read_image(src / f"img{i}.tif").data
        mask = labels == int(r0["label"])
        assert float(r0["mean_intensity_c0"]) == pytest.approx(img[mask].mean(), rel=1e-5)
        assert float(r0["max_intensity_c0"]) == img[mask].max()
        total += len(ids)
    assert summary["n_objects"] == total == len(meas)
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["model_hash"] == summary["model_hash"] and len(manifest["model_hash"]) == 64
    assert manifest["counts"] == {"total": 3, "done": 3, "skipped": 0, "failed": 0, "not_run": 0}
    assert manifest["predict_config"]["tile_size"] == 64
    assert not list(out.glob(".*.part")) and not list(out.glob("*.part"))


def test_bad_files_are_recorded_and_the_rest_is_done(model_dir, tmp_path):
    src = _folder(tmp_path / "in", n=2)
    good = (src / "img0.tif").read_bytes()
    (src / "b_truncated.tif").write_bytes(good[: len(good) // 3])
    (src / "c_text.tif").write_text("not an image")
    write_image(src / "d_two_channels.tif", np.stack([make_sample((64, 64)).fluorescence] * 2))
    (src / "e_notes.txt").write_text("ignored: does not match the pattern")
    summary = segment_folder(model_dir, src, tmp_path / "out", predict_config=CFG)
    failed = {Path(f["path"]).name: f["reason"] for f in summary["failed"]}
    assert set(failed) == {"b_truncated.tif", "c_text.tif", "d_two_channels.tif"}
    assert "d_two_channels.tif" in failed["d_two_channels.tif"]
    assert "channel" in failed["d_two_channels.tif"]
    assert summary["done"] == 2 and summary["total"] == 5
    assert (tmp_path / "out" / "img0_labels.tif").exists()
    assert (tmp_path / "out" / "img1_labels.tif").exists()
    assert not (tmp_path / "out" / "b_truncated_labels.tif").exists()
    summ = {r["image"]: r for r in _rows(tmp_path / "out" / "summary.csv")}
    assert summ["c_text.tif"]["status"] == "failed" and summ["c_text.tif"]["reason"]
    assert summ["img1.tif"]["status"] == "done"


def test_rerun_skips_done_images_and_overwrite_redoes_them(model_dir, tmp_path):
    src = _folder(tmp_path / "in")
    out = tmp_path / "out"
    # Stop after the first image: the others are left for the next run.
    gen = segment_folder_iter(model_dir, src, out, predict_config=CFG, stop=lambda: len(seen) > 0)
    seen: list = []
    first = drain(gen, seen.append)
    assert first["done"] >= 1 and first["not_run"] == 3 - first["done"]
    summ = {r["image"]: r["status"] for r in _rows(out / "summary.csv")}
    assert sorted(summ.values()).count("not_run") == first["not_run"]
    stamp = {p.name: p.stat().st_mtime_ns for p in out.glob("*_labels.tif")}

    second = segment_folder(model_dir, src, out, predict_config=CFG)
    assert second["skipped"] == first["done"] and second["done"] == 3 - first["done"]
    for name, t in stamp.items():
        assert (out / name).stat().st_mtime_ns == t  # not rewritten
    assert second["n_objects"] == len(_rows(out / "measurements.csv"))

    third = segment_folder(model_dir, src, out, predict_config=CFG)
    assert third["skipped"] == 3 and third["done"] == 0
    assert third["n_objects"] == second["n_objects"] == len(_rows(out / "measurements.csv"))

    fourth = segment_folder(model_dir, src, out, predict_config=CFG, overwrite=True)
    assert fourth["done"] == 3 and fourth["skipped"] == 0

    # Other prediction settings are another result: redone without --overwrite.
    other = PredictConfig(device="cpu", tile_size=64, overlap=16, min_size=40)
    fifth = segment_folder(model_dir, src, out, predict_config=other)
    assert fifth["done"] == 3


def test_stack_keeps_planes_and_measures_each(model_dir, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    planes = np.stack([make_sample((64, 64), seed=s).fluorescence for s in (3, 4)])
    write_image(src / "stack.tif", planes, axes="ZYX", pixel_size=(0.5, 0.25))
    summary = segment_folder(model_dir, src, tmp_path / "out", predict_config=CFG)
    assert summary["done"] == 1
    labels = read_image(tmp_path / "out" / "stack_labels.tif")
    assert labels.axes == "ZYX" and labels.shape == (2, 64, 64)
    rows = _rows(tmp_path / "out" / "measurements.csv")
    for z in (0, 1):
        plane_rows = [r for r in rows if r["plane"] == str(z)]
        assert len(plane_rows) == len(np.unique(labels.data[z][labels.data[z] > 0]))
    r = rows[0]
    assert float(r["area_um2"]) == pytest.approx(int(r["area"]) * 0.5 * 0.25, rel=1e-4)
    assert float(r["centroid_x_um"]) == pytest.approx(float(r["centroid_x"]) * 0.25, rel=1e-4)


def test_dask_cluster_gives_byte_identical_results(model_dir, tmp_path):
    from distributed import Client, LocalCluster

    src = _folder(tmp_path / "in", n=4, size=64)
    serial = segment_folder(model_dir, src, tmp_path / "serial", predict_config=CFG)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        dist = segment_folder(
            model_dir, src, tmp_path / "dask", predict_config=CFG, scheduler=client
        )
    assert dist["done"] == serial["done"] == 4
    for i in range(4):
        a = (tmp_path / "serial" / f"img{i}_labels.tif").read_bytes()
        b = (tmp_path / "dask" / f"img{i}_labels.tif").read_bytes()
        assert a == b
    assert (tmp_path / "serial" / "measurements.csv").read_bytes() == (
        tmp_path / "dask" / "measurements.csv"
    ).read_bytes()


def test_dead_scheduler_is_a_clear_error_and_writes_nothing(model_dir, tmp_path):
    src = _folder(tmp_path / "in", n=1, size=64)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(InputError, match="no Dask scheduler answered"):
        segment_folder(
            model_dir,
            src,
            tmp_path / "out",
            scheduler=f"tcp://127.0.0.1:{port}",
            scheduler_timeout=1,
            predict_config=CFG,
        )
    assert not (tmp_path / "out" / "summary.csv").exists()


def test_bad_folders(model_dir, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no files match"):
        segment_folder(model_dir, empty, tmp_path / "out")
    src = _folder(tmp_path / "in", n=1, size=64)
    with pytest.raises(InputError, match=r"no files match '\*.png'"):
        segment_folder(model_dir, src, tmp_path / "out", pattern="*.png")
    with pytest.raises(InputError, match="input folder does not exist"):
        segment_folder(model_dir, tmp_path / "missing", tmp_path / "out")
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(InputError, match="output folder"):
        segment_folder(model_dir, src, blocker / "out", predict_config=CFG)
    with pytest.raises(InputError, match="model folder"):
        segment_folder(tmp_path / "no_model", src, tmp_path / "out")


def test_recursive_mirrors_subfolders(model_dir, tmp_path):
    src = _folder(tmp_path / "in", n=1, size=64)
    _folder(src / "plate2", n=1, size=64)
    summary = segment_folder(model_dir, src, tmp_path / "out", recursive=True, predict_config=CFG)
    assert summary["done"] == 2
    assert (tmp_path / "out" / "img0_labels.tif").exists()
    assert (tmp_path / "out" / "plate2" / "img0_labels.tif").exists()
    images = {r["image"] for r in _rows(tmp_path / "out" / "summary.csv")}
    assert images == {"img0.tif", "plate2/img0.tif"}


def _tiled_sample(size: int) -> np.ndarray:
    """A ``size``² field assembled from generated 128 px fields."""
    n = -(-size // 128)
    rows = [
        np.concatenate(
            [make_sample((128, 128), seed=10 + r * n + c).fluorescence for c in range(n)], 1
        )
        for r in range(n)
    ]
    return np.concatenate(rows, 0)[:size, :size]


def test_large_zarr_is_segmented_block_by_block(model_dir, tmp_path):
    import zarr

    from napari_selfsup_seg.evaluation._metrics import evaluate
    from napari_selfsup_seg.inference._blockwise import global_range
    from napari_selfsup_seg.inference._postprocess import probabilities_to_instances
    from napari_selfsup_seg.inference._predict import probabilities_iter
    from napari_selfsup_seg.io._lazy import open_lazy
    from napari_selfsup_seg.models._factory import load_model

    image = _tiled_sample(200)
    src = tmp_path / "in"
    src.mkdir()
    z = zarr.create_array(
        store=str(src / "big.zarr"), shape=image.shape, chunks=(64, 64), dtype=image.dtype
    )
    z[:] = image
    write_image(src / "big2.tif", image)
    opts = LargeImageOptions(threshold=100 * 100, block_size=64, halo=32)
    summary = segment_folder(
        model_dir, src, tmp_path / "out", pattern="big*", predict_config=CFG, large=opts
    )
    assert summary["done"] == 2, summary["failed"]
    out = zarr.open(str(tmp_path / "out" / "big_labels.zarr"), mode="r")
    labels = np.asarray(out[:])
    assert labels.shape == image.shape
    tif_out = np.asarray(zarr.open(str(tmp_path / "out" / "big2_labels.zarr"), mode="r")[:])
    assert np.array_equal(labels, tif_out)  # same pixels, same result, TIFF or Zarr
    rows = [r for r in _rows(tmp_path / "out" / "measurements.csv") if r["image"] == "big.zarr"]
    ids = np.unique(labels[labels > 0])
    assert sorted(int(r["label"]) for r in rows) == ids.tolist()
    assert [int(r["area"]) for r in sorted(rows, key=lambda r: int(r["label"]))] == list(
        np.bincount(labels.ravel())[ids]
    )
    # Against the whole image predicted at once with the same normalisation: objects crossing
    # block borders are neither lost nor doubled.
    model = load_model(model_dir, "cpu")
    lo, span = global_range(open_lazy(src / "big.zarr"), (), [0], 64, model.config.normalization)
    x = np.clip(
        (image[None].astype(np.float32) - lo[:, None, None]) / span[:, None, None], -0.5, 1.5
    )
    whole = probabilities_to_instances(drain(probabilities_iter(model, x, CFG)), CFG)
    scores = evaluate([labels], [whole])
    # Tiles sit at other places in a block than in the whole image, so a weak model's
    # probabilities differ a little; most objects still match.
    assert scores["f1"]["0.5"] >= 0.75


def test_block_stitching_keeps_every_object_once(model_dir, tmp_path, monkeypatch):
    """With a predictor that only thresholds, blocks must give exactly the whole-image objects."""
    from scipy import ndimage as ndi

    from napari_selfsup_seg.inference import _blockwise
    from napari_selfsup_seg.io._lazy import open_lazy

    def threshold_components(model, x, config):
        return ndi.label(x[0] > 0.5)[0].astype(np.int32)

    monkeypatch.setattr(_blockwise, "predict_block", threshold_components)
    n = 2
    image = np.concatenate(
        [
            np.concatenate(
                [make_sample((96, 96), touching=0.0, seed=40 + 2 * r + c).fluorescence
                 for c in range(n)], 1
            )
            for r in range(n)
        ],
        0,
    )  # fmt: skip
    src = tmp_path / "in"
    src.mkdir()
    write_image(src / "field.tif", image)
    opts = LargeImageOptions(threshold=1, block_size=64, halo=48)
    summary = segment_folder(model_dir, src, tmp_path / "out", predict_config=CFG, large=opts)
    assert summary["done"] == 1, summary["failed"]
    import zarr

    labels = np.asarray(zarr.open(str(tmp_path / "out" / "field_labels.zarr"), mode="r")[:])
    model = open_lazy(src / "field.tif")
    from napari_selfsup_seg.models._factory import read_model_config

    norm = read_model_config(model_dir).normalization
    lo, span = _blockwise.global_range(model, (), [0], 64, norm)
    whole = threshold_components(None, (image[None] - lo[:, None, None]) / span[:, None, None], CFG)
    assert np.array_equal(labels > 0, whole > 0)
    pairs = np.unique(np.stack([labels[whole > 0], whole[whole > 0]]), axis=1)
    # one-to-one: no whole-image object split between blocks, no two merged, none doubled
    assert len(np.unique(pairs[0])) == len(np.unique(pairs[1])) == pairs.shape[1] == whole.max()
    assert summary["n_objects"] == whole.max() > 8
