"""Segment folder widget: results table with a failure, opening a result and the QC report, bad
input."""

from __future__ import annotations

from pathlib import Path

import pytest

from napari_selfsup_seg._config import ModelConfig
from napari_selfsup_seg._napari.widgets._layers import layer_kind
from napari_selfsup_seg._napari.widgets.segment_folder import SegmentFolderWidget
from napari_selfsup_seg.data._synthetic import make_sample
from napari_selfsup_seg.io._tiff_write import write_image

pytestmark = pytest.mark.gui


@pytest.fixture
def folder_and_model(tmp_path):
    from napari_selfsup_seg.train._supervised import train

    samples = [make_sample((64, 64), seed=s) for s in range(2)]
    model_dir = tmp_path / "model"
    train(
        [s.fluorescence for s in samples],
        [s.labels for s in samples],
        steps=2,
        batch_size=2,
        tile_size=64,
        device="cpu",
        model_config=ModelConfig.tiny(),
        model_dir=model_dir,
    )
    in_dir = tmp_path / "in"
    in_dir.mkdir()
    for i, s in enumerate(samples):
        write_image(in_dir / f"img{i}.tif", s.fluorescence)
    (in_dir / "broken.tif").write_bytes(b"not an image")
    return model_dir, in_dir, tmp_path / "out"


def test_segment_folder_table_and_open(viewer, qtbot, folder_and_model, errors, monkeypatch):
    import webbrowser

    model_dir, in_dir, out_dir = folder_and_model
    opened: list[str] = []
    monkeypatch.setattr(webbrowser, "open", lambda url, *a, **k: opened.append(url) or True)
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-selfsup-seg", "5. Segment folder")
    assert isinstance(widget, SegmentFolderWidget)
    assert not widget.report_button.enabled  # no run yet
    widget.model_dir.value = model_dir
    widget.in_dir.value = in_dir
    widget.out_dir.value = out_dir
    widget.device.value = "cpu"
    worker = widget.run()
    with qtbot.waitSignal(worker.finished, timeout=120000):
        pass
    qtbot.waitUntil(lambda: widget.summary is not None, timeout=5000)
    assert errors == []
    table = widget.table.value
    rows = {r[0]: r for r in table["data"]}
    assert set(rows) == {"broken.tif", "img0.tif", "img1.tif"}
    assert rows["broken.tif"][1] == "failed" and "TIFF" in rows["broken.tif"][-1]
    # The reason, last, takes the room left; its full text is also the cell's tooltip.
    native = widget.table.native
    reason_col = native.columnCount() - 1
    assert native.horizontalHeaderItem(reason_col).text() == "reason"
    row = [native.item(r, 0).text() for r in range(native.rowCount())].index("broken.tif")
    assert "TIFF" in native.item(row, reason_col).toolTip()
    assert [Path(f["path"]).name for f in widget.summary["failed"]] == ["broken.tif"]
    assert rows["img0.tif"][1] == "done"
    assert (out_dir / "img0_labels.tif").exists()
    assert "1 failed" in widget.controls.status.value
    row = [r.status for r in widget.results].index("done")
    layers = widget.open_result(row)
    assert [layer_kind(ly) for ly in layers] == ["image", "labels"]
    # A failed row has no result to open: a notification, no exception.
    widget.open_result([r.status for r in widget.results].index("failed"))
    assert len(errors) == 1
    # The finished run's QC report opens in the system browser.
    assert widget.report_button.enabled
    widget.report_button.clicked.emit()
    assert opened == [(out_dir / "report.html").resolve().as_uri()]
    assert (out_dir / "report.html").is_file()


def test_missing_settings_give_notification(viewer, tmp_path, errors):
    widget = SegmentFolderWidget(viewer)
    assert widget.run() is None
    assert "model folder" in errors[0]
    widget.model_dir.value = tmp_path
    widget.in_dir.value = tmp_path
    widget.out_dir.value = tmp_path / "o"
    assert widget.run() is None
    assert "not a model folder" in errors[1]
