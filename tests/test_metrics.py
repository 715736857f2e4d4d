"""Instance matching and pooled AP/F1; the evaluate subcommand."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from napari_selfsup_seg.cli.main import main
from napari_selfsup_seg.evaluation._metrics import evaluate


def _square(lab, k, y, x, s=10):
    lab[y : y + s, x : x + s] = k


def test_perfect_and_empty():
    gt = np.zeros((50, 50), np.uint16)
    _square(gt, 1, 5, 5)
    _square(gt, 2, 30, 30)
    s = evaluate([gt], [gt])
    assert s["ap"]["0.5"] == 1.0
    assert s["f1"]["0.9"] == 1.0
    assert s["pixel_f1"] == 1.0
    e = evaluate([np.zeros_like(gt)], [gt])
    assert e["ap"]["0.5"] == 0.0
    assert e["fn"]["0.5"] == 2


def test_known_counts_and_thresholds():
    gt = np.zeros((60, 60), np.uint16)
    pred = np.zeros_like(gt)
    _square(gt, 1, 0, 0)
    _square(pred, 5, 0, 2)  # IoU 80/120 = 0.667
    _square(gt, 2, 30, 30)  # missed
    _square(pred, 7, 45, 45)  # false positive
    s = evaluate([pred], [gt])
    assert (s["tp"]["0.5"], s["fp"]["0.5"], s["fn"]["0.5"]) == (1, 1, 1)
    assert s["ap"]["0.5"] == pytest.approx(1 / 3)
    assert s["f1"]["0.5"] == pytest.approx(0.5)
    assert s["tp"]["0.7"] == 0


def test_one_to_one_matching():
    gt = np.zeros((40, 40), np.uint16)
    _square(gt, 1, 0, 0, 20)
    pred = np.zeros_like(gt)
    pred[0:20, 0:10] = 1
    pred[0:20, 10:20] = 2  # two halves: IoU 0.5 each, only one may match
    s = evaluate([pred], [gt])
    assert s["tp"]["0.5"] == 1
    assert s["fp"]["0.5"] == 1


def test_pooled_over_images():
    gt = np.zeros((30, 30), np.uint16)
    _square(gt, 1, 0, 0)
    s = evaluate([gt, np.zeros_like(gt)], [gt, gt])
    assert s["tp"]["0.5"] == 1 and s["fn"]["0.5"] == 1
    assert s["ap"]["0.5"] == 0.5
    assert s["n_images"] == 2


def test_stack_scored_per_plane():
    gt = np.zeros((2, 30, 30), np.uint16)
    _square(gt[0], 1, 0, 0)
    _square(gt[1], 1, 0, 0)
    assert evaluate(gt, gt)["n_true"] == 2


def test_cli_evaluate(tmp_path, capsys):
    gt = np.zeros((40, 40), np.uint16)
    _square(gt, 1, 0, 0)
    _square(gt, 2, 20, 20)
    pred = gt.copy()
    pred[pred == 2] = 0
    tifffile.imwrite(tmp_path / "gt.tif", gt)
    tifffile.imwrite(tmp_path / "pred.tif", pred)
    code = main(
        [
            "evaluate",
            "--pred",
            str(tmp_path / "pred.tif"),
            "--gt",
            str(tmp_path / "gt.tif"),
            "--json",
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["ap"]["0.5"] == 0.5


def test_cli_evaluate_bad_input(tmp_path, capsys):
    tifffile.imwrite(tmp_path / "a.tif", np.zeros((10, 10), np.uint16))
    tifffile.imwrite(tmp_path / "b.tif", np.zeros((12, 10), np.uint16))
    assert (
        main(["evaluate", "--pred", str(tmp_path / "a.tif"), "--gt", str(tmp_path / "b.tif")]) == 2
    )
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "differs" in err
    assert (
        main(["evaluate", "--pred", str(tmp_path / "x.tif"), "--gt", str(tmp_path / "b.tif")]) == 2
    )
    assert "no such file" in capsys.readouterr().err


def test_every_documented_subcommand_is_registered():
    from napari_selfsup_seg.cli.main import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) == {
        "pseudo-mask",
        "train",
        "segment",
        "segment-folder",
        "evaluate",
        "pretrain",
        "demo",
        "export-bioimageio",
    }


def test_every_api_name_resolves():
    from napari_selfsup_seg import api

    missing = [name for name in api.__all__ if not hasattr(api, name)]
    assert missing == []
