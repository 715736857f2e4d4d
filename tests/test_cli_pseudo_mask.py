"""``napari-selfsup-seg pseudo-mask`` for each method, stacks, and bad input."""

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_selfsup_seg.cli.main import main
from napari_selfsup_seg.data._synthetic import make_sample, make_sample_stack

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _summary(capsys):
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _f1(pred, truth):
    p, t = pred > 0, truth > 0
    return 2 * (p & t).sum() / (p.sum() + t.sum())


@pytest.fixture
def fluo(tmp_path):
    sample = make_sample((96, 96), seed=5)
    path = tmp_path / "cells.tif"
    tifffile.imwrite(path, sample.fluorescence)
    return path, sample


def test_threshold_fixed_and_auto(tmp_path, fluo, capsys):
    path, sample = fluo
    out = tmp_path / "out"
    assert main(["pseudo-mask", "--method", "threshold", str(path), "--out", str(out),
                 "--json", "--quiet"]) == 0  # fmt: skip
    labels = tifffile.imread(out / "cells_pseudo.tif")
    prob = tifffile.imread(out / "cells_prob.tif")
    assert labels.dtype == np.uint16 and prob.dtype == np.float32
    assert _f1(labels, sample.labels) > 0.8
    assert main(["pseudo-mask", "--method", "threshold", str(path), "--out", str(out),
                 "--threshold", "auto", "--json", "--quiet"]) == 0  # fmt: skip
    summary = _summary(capsys)
    cut = summary["chosen_thresholds"]["cells"][0]
    assert 0.05 <= cut <= 0.95
    assert _f1(tifffile.imread(out / "cells_pseudo.tif"), sample.labels) > 0.75


def test_psm_on_a_two_channel_stack(tmp_path, capsys):
    image, truth = make_sample_stack(2, (96, 96), seed=1)  # (Z, C, Y, X)
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, image, metadata={"axes": "ZCYX"}, imagej=True)
    out = tmp_path / "out"
    code = main(["pseudo-mask", "--method", "psm", str(path), "--out", str(out), "--channel",
                 "1", "--steps", "10", "--json", "--quiet"])  # fmt: skip
    assert code == 0
    labels = tifffile.imread(out / "stack_pseudo.tif")
    assert labels.shape == (2, 96, 96)
    assert tifffile.imread(out / "stack_prob.tif").shape == (2, 96, 96)
    assert _f1(labels, truth) > 0.6
    assert list((out / ".psm-cache").glob("psm_*.pt"))


def _weak_csv(tmp_path, n=8, all_one=False, missing=False):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:64, :64]
    folder = tmp_path / "tiles"
    folder.mkdir()
    rows = ["path,label"]
    for i in range(n):
        img = rng.normal(100, 5, (64, 64))
        if i % 2:
            cy, cx = rng.integers(14, 50, 2)
            img[(yy - cy) ** 2 + (xx - cx) ** 2 < 100] += 80
        tifffile.imwrite(folder / f"t{i}.tif", img.astype(np.uint16))
        rows.append(f"tiles/t{i}.tif,{1 if all_one else i % 2}")
    if missing:
        rows.append("tiles/nope.tif,0")
    csv = tmp_path / "weak.csv"
    csv.write_text("\n".join(rows) + "\n")
    return csv


def test_scorecam_from_csv(tmp_path, capsys):
    csv = _weak_csv(tmp_path)
    out = tmp_path / "out"
    code = main(["pseudo-mask", "--method", "scorecam", "--weak-labels", str(csv), "--out",
                 str(out), "--steps", "20", "--threshold", "auto", "--json",
                 "--quiet"])  # fmt: skip
    assert code == 0
    summary = _summary(capsys)
    assert len(summary["outputs"]) == 4  # the positive tiles
    assert set(summary["chosen_thresholds"]) == {"t1", "t3", "t5", "t7"}
    assert (out / "t1_pseudo.tif").exists() and (out / "t1_prob.tif").exists()


def test_scorecam_map_settings_from_the_command_line(tmp_path, capsys):
    """--cam-layers, --refine and --auto-cut reach the maps: the old stride-8 map, unrefined,
    is coarser than the guided map (fewer distinct values), the object-pooled map holds one
    value per object, the default (auto) gives each file the map of the refinement it reports
    and the planes' votes, and a bad choice exits 2."""
    csv = _weak_csv(tmp_path)
    base = ["pseudo-mask", "--method", "scorecam", "--weak-labels", str(csv), "--steps", "20",
            "--threshold", "auto", "--quiet"]  # fmt: skip
    maps = {}
    for name, extra in [("default", ["--json"]), ("guided", ["--refine", "guided"]),
                        ("objects", ["--refine", "objects"]),
                        ("old", ["--cam-layers", "stride8", "--refine", "none",
                                 "--auto-cut", "sweep"])]:  # fmt: skip
        assert main([*base, "--out", str(tmp_path / name), *extra]) == 0
        maps[name] = tifffile.imread(tmp_path / name / "t1_prob.tif")
        if name == "default":
            summary = _summary(capsys)
    assert len(np.unique(maps["old"])) < len(np.unique(maps["guided"]))
    assert len(np.unique(maps["objects"])) < len(np.unique(maps["guided"]))
    assert (maps["objects"] == 0).any()
    votes = summary["refine_votes"]
    assert votes["objects"] + votes["guided"] + votes["none"] == 4  # the four positive tiles
    assert votes["majority"] == ("objects" if votes["objects"] > votes["guided"] else "guided")
    chosen = {o["path"]: o["refine"] for o in summary["outputs"]}
    assert all(v in (["objects"], ["guided"]) for v in chosen.values())
    t1 = chosen[next(k for k in chosen if Path(k).stem == "t1")][0]
    assert np.allclose(maps["default"], maps[t1], atol=1e-6)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main([*base, "--out", str(tmp_path / "bad"), "--refine", "crf"])
    assert exc.value.code == 2 and "--refine" in capsys.readouterr().err


def test_scorecam_auto_asks_the_classifier_once_per_plane(tmp_path, capsys, monkeypatch):
    """The command's vote over all files and the masks' pass share the planes' votes: each of
    the four positive tiles is asked about once (itself and its two masks removed)."""
    from napari_selfsup_seg.pseudo import _refine_auto

    calls = []
    real = _refine_auto.has_probability

    def counted(net, size, scale, planes):
        calls.append(len(planes))
        return real(net, size, scale, planes)

    monkeypatch.setattr(_refine_auto, "has_probability", counted)
    csv = _weak_csv(tmp_path)
    assert main(["pseudo-mask", "--method", "scorecam", "--weak-labels", str(csv), "--out",
                 str(tmp_path / "out"), "--steps", "20", "--json", "--quiet"]) == 0  # fmt: skip
    summary = _summary(capsys)
    assert calls == [3, 3, 3, 3]
    votes = summary["refine_votes"]
    assert votes["objects"] + votes["guided"] + votes["none"] == 4
    assert all(len(o["refine"]) == 1 for o in summary["outputs"])


@pytest.mark.parametrize(
    "kind, message",
    [("single", "single class"), ("missing", "does not exist"), ("few", "too few")],
)
def test_scorecam_bad_csv_exits_2(tmp_path, capsys, kind, message):
    csv = _weak_csv(tmp_path, n=3 if kind == "few" else 6, all_one=kind == "single",
                    missing=kind == "missing")  # fmt: skip
    code = main(["pseudo-mask", "--method", "scorecam", "--weak-labels", str(csv), "--out",
                 str(tmp_path / "out"), "--steps", "2", "--quiet"])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_bad_inputs_and_partial_failure(tmp_path, fluo, capsys):
    path, _ = fluo
    small = tmp_path / "small.tif"
    tifffile.imwrite(small, np.arange(400, dtype=np.uint16).reshape(20, 20))
    flat = tmp_path / "flat.tif"
    tifffile.imwrite(flat, np.full((64, 64), 7, np.uint16))
    out = tmp_path / "out"
    # One image, too small for the network: exit 2, one line, nothing written.
    assert main(["pseudo-mask", "--method", "psm", str(small), "--out", str(out), "--quiet"]) == 2
    assert "network minimum" in capsys.readouterr().err
    assert not list(out.glob("small_*"))
    # A constant image alone: exit 2.
    assert main(["pseudo-mask", "--method", "threshold", str(flat), "--out", str(out)]) == 2
    assert "constant" in capsys.readouterr().err
    # Several images, one bad: the good one is written, the bad one listed, exit 1.
    code = main(["pseudo-mask", "--method", "threshold", str(path), str(flat), "--out",
                 str(out), "--json"])  # fmt: skip
    assert code == 1
    summary = _summary(capsys)
    assert [f["path"] for f in summary["failed"]] == [str(flat)]
    assert (out / "cells_pseudo.tif").exists() and not (out / "flat_pseudo.tif").exists()
    # Bad flags.
    assert main(["pseudo-mask", "--method", "threshold", str(path), "--out", str(out),
                 "--threshold", "1.5"]) == 2  # fmt: skip
    assert main(["pseudo-mask", "--method", "scorecam", str(path), "--out", str(out)]) == 2
    assert main(["pseudo-mask", "--method", "threshold", str(tmp_path / "none.tif"),
                 "--out", str(out)]) == 2  # fmt: skip
