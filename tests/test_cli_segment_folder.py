"""The ``segment-folder`` subcommand: exit status, JSON summary, outputs, bad arguments."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from napari_selfsup_seg.cli.main import main
from napari_selfsup_seg.data._synthetic import make_sample
from napari_selfsup_seg.io._image import read_image
from napari_selfsup_seg.io._tiff_write import write_image


def _folder(path: Path, n: int = 2) -> Path:
    path.mkdir(parents=True)
    for i in range(n):
        write_image(path / f"img{i}.tif", make_sample((64, 64), seed=i + 1).fluorescence)
    return path


def _args(model_dir, src, out, *extra) -> list[str]:
    return ["segment-folder", "--model", str(model_dir), str(src), str(out), "--device", "cpu",
            "--tile-size", "64", "--json", *extra]  # fmt: skip


def test_success_then_resume(model_dir, tmp_path, capsys):
    src = _folder(tmp_path / "in")
    assert main(_args(model_dir, src, tmp_path / "out")) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["done"] == 2 and summary["failed"] == []
    assert {p.name for p in (tmp_path / "out").iterdir()} >= {
        "img0_labels.tif", "img1_labels.tif", "measurements.csv", "summary.csv", "run.json",
    }  # fmt: skip
    assert main(_args(model_dir, src, tmp_path / "out")) == 0
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert again["skipped"] == 2 and again["done"] == 0
    assert again["n_objects"] == summary["n_objects"]
    assert main(_args(model_dir, src, tmp_path / "out", "--overwrite")) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["done"] == 2


def test_truncated_file_in_the_middle_gives_exit_1(model_dir, tmp_path, capsys):
    src = _folder(tmp_path / "in")
    good = (src / "img0.tif").read_bytes()
    (src / "img0b.tif").write_bytes(good[: len(good) // 2])
    assert main(_args(model_dir, src, tmp_path / "out")) == 1
    captured = capsys.readouterr()
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert summary["done"] == 2 and summary["n_failed"] == 1
    assert Path(summary["failed"][0]["path"]).name == "img0b.tif"
    assert "img0b.tif" in captured.err and "failed" in captured.err
    assert (tmp_path / "out" / "img1_labels.tif").exists()


def test_bad_arguments_exit_2_with_one_line(model_dir, tmp_path, capsys):
    src = _folder(tmp_path / "in", n=1)
    assert main(_args(tmp_path / "nope", src, tmp_path / "out")) == 2
    err = capsys.readouterr().err.strip()
    assert "nope" in err and len(err.splitlines()) == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(_args(model_dir, empty, tmp_path / "out")) == 2
    assert "no files match" in capsys.readouterr().err
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = main(
        _args(model_dir, src, tmp_path / "out2", "--scheduler", f"tcp://127.0.0.1:{port}",
              "--scheduler-timeout", "1")
    )  # fmt: skip
    assert code == 2
    assert "no Dask scheduler answered" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(_args(model_dir, src, blocker / "out")) == 2
    assert "output folder" in capsys.readouterr().err


def test_ctrl_c_leaves_whole_files_and_resumes(model_dir, tmp_path, monkeypatch, capsys):
    from napari_selfsup_seg.cli import _common

    n = 8  # more than can be under way at once (read-ahead, two predictors, write queue)
    src = _folder(tmp_path / "in", n=n)
    seen = []

    def interrupt(self, record):  # Ctrl-C arrives while the first result is shown
        seen.append(record)
        raise KeyboardInterrupt

    monkeypatch.setattr(_common.ProgressBar, "__call__", interrupt)
    out = tmp_path / "out"
    assert main(_args(model_dir, src, out)) == 130
    assert "interrupted" in capsys.readouterr().err
    assert not [p for p in out.rglob("*") if p.name.endswith(".part")]
    statuses = [line.split(",")[1] for line in (out / "summary.csv").read_text().splitlines()[1:]]
    done = statuses.count("done")
    assert 1 <= done < n and statuses.count("not_run") == n - done
    # Every label image on disk is whole and listed as done.
    written = sorted(out.glob("*_labels.tif"))
    assert len(written) == done
    for p in written:
        assert read_image(p).shape == (64, 64)
    monkeypatch.undo()
    assert main(_args(model_dir, src, out)) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["skipped"] == done and summary["done"] == n - done
    assert sorted(p.name for p in out.glob("*_labels.tif")) == [
        f"img{i}_labels.tif" for i in range(n)
    ]
