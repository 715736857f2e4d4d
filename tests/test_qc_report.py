"""The QC report of a folder run: written by segment-folder (API and CLI), self-contained, one row
per image, failures with their reasons, outliers marked, thumbnails capped, rebuilt by qc_report."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from napari_selfsup_seg import api
from napari_selfsup_seg._config import PredictConfig
from napari_selfsup_seg._errors import InputError
from napari_selfsup_seg.batch._measure import (
    SUMMARY_COLUMNS,
    area_summary,
    measurement_columns,
    object_rows,
    write_csv_atomic,
)
from napari_selfsup_seg.batch._report_data import robust_bounds
from napari_selfsup_seg.batch._report_figures import OUTLINE_COLOURS, THUMB_SIZE
from napari_selfsup_seg.cli.main import main
from napari_selfsup_seg.data._synthetic import make_sample
from napari_selfsup_seg.io._tiff_write import write_image, write_labels

CFG = PredictConfig(device="cpu", tile_size=64, overlap=16)


def _rows(page: str) -> list[str]:
    """The ``<tr>`` elements of the image table."""
    body = page.split("<tbody>")[1].split("</tbody>")[0]
    return re.findall(r"<tr class=\"[^\"]*\">.*?</tr>", body, re.S)


def _pngs(page: str) -> list[Image.Image]:
    uris = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    return [Image.open(io.BytesIO(base64.b64decode(u))) for u in uris]


def _check_self_contained(page: str) -> None:
    assert 'src="http' not in page and 'href="http' not in page
    assert "<link" not in page and "url(" not in page and "@import" not in page
    assert not re.search(r"<script[^>]+src=", page)
    assert not re.search(r'<img src="(?!data:image/png;base64,)', page)


def _folder_with_a_broken_file(path: Path) -> Path:
    path.mkdir()
    for i in range(3):
        write_image(path / f"img{i}.tif", make_sample((64, 64), seed=i + 1).fluorescence)
    (path / "broken.tif").write_bytes(b"not an image")
    return path


def test_segment_folder_writes_a_self_contained_report(model_dir, tmp_path):
    src = _folder_with_a_broken_file(tmp_path / "in")
    out = tmp_path / "out"
    summary = api.segment_folder(model_dir, src, out, predict_config=CFG)
    report = out / "report.html"
    assert summary["report"] == str(report.resolve()) and report.is_file()
    assert json.loads((out / "run.json").read_text())["input_dir"] == str(src.resolve())
    page = report.read_text(encoding="utf-8")
    _check_self_contained(page)
    rows = _rows(page)
    assert len(rows) == 4
    names = [re.search(r"<td>(?:<a [^>]*>)?([^<]+)", r).group(1) for r in rows]
    assert names == ["broken.tif", "img0.tif", "img1.tif", "img2.tif"]
    failed = rows[0]
    assert failed.startswith('<tr class="failed"') and "TIFF" in failed
    assert "<h2>Failures (1)</h2>" in page
    assert re.search(r"<li><b>broken\.tif</b>: [^<]*TIFF", page)
    for row, name in zip(rows[1:], names[1:]):
        count = int(re.search(r'data-v="(\d+)"', row).group(1))
        assert count == summary_count(out, name)
    # A thumbnail for every readable image, small, with outlines in the outline colours.
    pngs = _pngs(page)
    assert len(pngs) == 3
    for png in pngs:
        assert max(png.size) <= THUMB_SIZE
        rgb = np.asarray(png.convert("RGB")).reshape(-1, 3)
        coloured = {tuple(c) for c in rgb[rgb.std(axis=1) > 0]}
        assert coloured and coloured <= set(OUTLINE_COLOURS)
    assert "model" in page and summary["model_hash"][:12] in page


def summary_count(out: Path, name: str) -> int:
    import csv

    with open(out / "summary.csv", newline="") as fh:
        return next(int(r["count"]) for r in csv.DictReader(fh) if r["image"] == name)


def test_cli_writes_the_report_and_a_rerun_rebuilds_it(model_dir, tmp_path, capsys):
    src = _folder_with_a_broken_file(tmp_path / "in")
    out = tmp_path / "out"
    args = ["segment-folder", "--model", str(model_dir), str(src), str(out), "--device", "cpu",
            "--tile-size", "64", "--json", "--quiet"]  # fmt: skip
    assert main(args) == 1  # one file failed
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    report = Path(summary["report"])
    assert report == (out / "report.html").resolve() and report.is_file()
    report.write_text("stale")
    assert main(args) == 1  # every image skipped (or failed again); the report is rebuilt
    page = report.read_text(encoding="utf-8")
    assert len(_rows(page)) == 4 and page.count('<tr class="skipped') == 3
    _check_self_contained(page)


def _synthetic_run(tmp_path: Path, counts: list[int]) -> Path:
    """A run folder written by hand: inputs with ``counts[i]`` squares, labels, CSVs, run.json."""
    in_dir, run = tmp_path / "in", tmp_path / "run"
    in_dir.mkdir()
    run.mkdir()
    summary, measurements = [], []
    rng = np.random.default_rng(0)
    for i, n in enumerate(counts):
        labels = np.zeros((80, 120), np.uint16)
        for k in range(n):
            y, x = divmod(k, 10)
            labels[2 + 8 * y : 7 + 8 * y, 2 + 11 * x : 8 + 11 * x] = k + 1
        image = (labels > 0) * 800.0 + rng.normal(100, 10, labels.shape)
        name = f"img{i:02d}.tif"
        write_image(in_dir / name, image.astype(np.uint16))
        write_labels(run / f"img{i:02d}_labels.tif", labels)
        objs = object_rows(labels, image[np.newaxis], name)
        measurements += objs
        areas = area_summary(o["area"] for o in objs)
        output = str(run / f"img{i:02d}_labels.tif")
        summary.append({"image": name, "status": "done", **areas, "output": output})
    summary.append({"image": "zz_bad.tif", "status": "failed", "reason": "zz_bad.tif: truncated"})
    write_csv_atomic(run / "summary.csv", SUMMARY_COLUMNS, summary)
    write_csv_atomic(run / "measurements.csv", measurement_columns(1), measurements)
    manifest = {"command": "segment-folder", "model": str(tmp_path / "gone"),
                "model_hash": "ab" * 32, "input_dir": str(in_dir), "start": "2024-05-01T10:00:00Z",
                "predict_config": {"tile_size": 256}}  # fmt: skip
    (run / "run.json").write_text(json.dumps(manifest))
    return run


def test_outlier_image_is_marked_and_listed(tmp_path):
    run = _synthetic_run(tmp_path, [6, 5, 6, 7, 6, 30])
    report = api.qc_report(run)
    assert report == run.resolve() / "report.html"
    page = report.read_text(encoding="utf-8")
    rows = {re.search(r"<a [^>]*>([^<]+)</a>", r).group(1): r for r in _rows(page)[:-1]}
    assert rows["img05.tif"].startswith('<tr class="done flag"')
    assert "many objects (30)" in rows["img05.tif"]
    assert not any("flag" in r.split(">")[0] for k, r in rows.items() if k != "img05.tif")
    assert "<h2>Outliers (1)</h2>" in page and "<li><b>img05.tif</b>: many objects (30)" in page
    assert re.search(r'<figure class="thumb flag" id="t5">', page)
    assert 'class="bar out"' in page  # the outlier's bar in the count histogram is red
    assert "2024-05-01T10:00:00Z" in page and "tile_size" in page
    # The failure keeps its reason (without the repeated file name).
    assert '<tr class="failed">' in page and "<li><b>zz_bad.tif</b>: truncated</li>" in page
    _check_self_contained(page)


def test_thumbnails_are_capped_with_outliers_first_and_the_cap_is_said(tmp_path):
    counts = [6] * 11 + [40]
    run = _synthetic_run(tmp_path, counts)
    page = api.qc_report(run, max_thumbnails=4).read_text(encoding="utf-8")
    ids = re.findall(r'<figure class="thumb[^"]*" id="t(\d+)"', page)
    assert len(ids) == 4 and "11" in ids and "12" in ids  # the outlier and the failure
    assert "4 of 13 images (at most 4" in page
    assert len(_rows(page)) == 13  # the table still lists every image


def test_qc_report_refuses_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(InputError, match=r"summary\.csv"):
        api.qc_report(tmp_path)


def test_robust_bounds():
    assert robust_bounds(np.array([5.0, 6.0, 7.0])) is None  # too few images to tell
    lo, hi = robust_bounds(np.array([10.0, 12, 11, 9, 10, 100]))
    assert lo < 9 and 12 < hi < 100
    lo, hi = robust_bounds(np.array([10.0, 10, 10, 10]), floor=1.0)  # MAD 0: the floor holds
    assert (lo, hi) == (7.0, 13.0)


def test_thumbnail_shows_the_middle_plane_read_whole_or_region_by_region(tmp_path, monkeypatch):
    from napari_selfsup_seg.batch import _report_figures as figures

    image = np.full((3, 400, 300), 100, np.uint16)
    labels = np.zeros((3, 400, 300), np.uint16)
    image[1, 100:200, 50:150] = 900
    labels[1, 100:200, 50:150] = 7  # only the middle plane has an object
    write_image(tmp_path / "stack.tif", image, axes="ZYX")
    write_labels(tmp_path / "stack_labels.tif", labels, axes="ZYX")

    def pixels(**patch) -> np.ndarray:
        for name, value in patch.items():
            monkeypatch.setattr(figures, name, value)
        png = figures.thumbnail_png(tmp_path / "stack.tif", tmp_path / "stack_labels.tif")
        return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))

    whole = pixels()
    assert whole.shape == (THUMB_SIZE, THUMB_SIZE * 3 // 4, 3)  # the long side fits THUMB_SIZE
    outline = OUTLINE_COLOURS[7 % len(OUTLINE_COLOURS)]
    on = np.all(whole == outline, axis=-1)
    assert on[48, 26:70].all() and not on[55:90, 30:66].any()  # the square's edge, not inside
    assert whole[70, 48, 0] > 200 and whole[150, 100, 0] < 50  # normalised: bright square
    lazy = pixels(READ_WHOLE_BYTES=0)
    assert np.array_equal(lazy, whole)
    strided = pixels(READ_WHOLE_BYTES=0, READ_WHOLE=0)  # read with a stride: same picture size
    assert max(strided.shape[:2]) <= THUMB_SIZE and np.all(strided == outline, axis=-1).any()
