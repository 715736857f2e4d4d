"""The demo subcommand runs the whole loop and writes what it promises."""

from __future__ import annotations

import json

import numpy as np
import tifffile

from napari_selfsup_seg.cli.main import main


def test_demo_writes_outputs(tmp_path, capsys):
    out = tmp_path / "demo"
    code = main(
        [
            "demo",
            "--out",
            str(out),
            "--tiny",
            "--steps",
            "6",
            "--size",
            "64",
            "--device",
            "cpu",
            "--json",
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("images", "truth", "pseudo_masks", "predictions", "metrics", "figure", "model"):
        assert (out / summary["files"][key].split("/")[-1]).exists(), key
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["model_brightfield"]["ap"]["0.5"] <= 1.0
    # The teacher (threshold of the fluorescence) must find the generated nuclei.
    assert metrics["teacher_fluorescence_threshold"]["pixel_f1"] > 0.8
    assert (out / "demo.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pred = tifffile.imread(out / "test_predictions.tif")
    assert pred.shape == (2, 64, 64) and pred.dtype == np.uint16
    assert (out / "model" / "weights.pt").exists()


def test_demo_rejects_bad_steps(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--steps", "0"]) == 2
    assert "--steps" in capsys.readouterr().err
