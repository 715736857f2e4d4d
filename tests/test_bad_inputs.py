"""Bad inputs and faults on the command line: one row per case, each on small generated files.

Every row asserts the exit status, the first line of stderr (one line in all for exit status 2),
and that no file that existed before the run changed (SHA-256 before and after), unless the row
is about a run that legitimately rewrites its own earlier outputs.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import time
import tracemalloc
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_selfsup_seg.cli.main import main
from napari_selfsup_seg.data._synthetic import make_sample

pytest.importorskip("torch")

SEG = ["--device", "cpu", "--tile-size", "64", "--quiet"]


def _tif(path: Path, data: np.ndarray, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, data, **kwargs)
    return path


def _image(path: Path, seed: int = 0, shape=(64, 64)) -> Path:
    return _tif(path, make_sample(shape, seed=seed).fluorescence)


def _model(ctx) -> Path:
    """A copy of the session's tiny trained model inside the row's folder."""
    target = ctx.d / "model"
    if not target.exists():
        shutil.copytree(ctx.model_dir, target)
    return target


def _hashes(root: Path) -> dict[Path, str]:
    return {
        p: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


@dataclass
class Ctx:
    d: Path
    model_dir: Path
    monkeypatch: pytest.MonkeyPatch
    memo: dict


@dataclass
class Case:
    id: str
    setup: Callable[[Ctx], list[str]]
    code: int
    first_line: str  # regular expression searched in the first line of stderr
    unchanged: bool = True  # every file that existed before is byte-identical after
    nothing_new: bool = False  # and no file was added
    check: Callable[[Ctx, str, str], None] | None = None


# -- 1-4: writing over inputs and earlier outputs ------------------------------------------------


def segment_over_own_input(c: Ctx) -> list[str]:
    a = _image(c.d / "d" / "a.tif")
    own = _tif(c.d / "d" / "a_labels.tif", make_sample((64, 64), seed=9).labels)
    return ["segment", "--model", str(_model(c)), str(a), str(own), "--out", str(c.d / "d"), *SEG]


def pseudo_mask_two_inputs_one_name(c: Ctx) -> list[str]:
    a, b = _image(c.d / "A" / "x.tif", 1), _image(c.d / "B" / "x.tif", 2)
    return ["pseudo-mask", "--method", "threshold", str(a), str(b), "--out", str(c.d / "o")]


def folder_in_is_out_with_ground_truth(c: Ctx) -> list[str]:
    d = c.d / "d"
    for i in range(2):
        _image(d / f"img{i}.tif", i)
    _image(d / "img3.tif", 3)
    _tif(d / "img3_labels.tif", make_sample((64, 64), seed=3).labels)  # a user's ground truth
    return ["segment-folder", "--model", str(_model(c)), str(d), str(d), *SEG]


def folder_in_is_out_rerun_everything(c: Ctx) -> list[str]:
    d = c.d / "d"
    for i in range(2):
        _image(d / f"img{i}.tif", i)
    args = ["segment-folder", "--model", str(_model(c)), str(d), str(d), *SEG]
    assert main(args) == 0  # outputs cannot collide with inputs: allowed
    return [*args, "--pattern", "*", "--json"]


def check_rerun_everything(c: Ctx, out: str, err: str) -> None:
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["total"] == 2 and summary["skipped"] == 2  # no CSV or label taken as input


def folder_rerun_with_broken_model(c: Ctx) -> list[str]:
    model = _model(c)
    _image(c.d / "in" / "a.tif", 0)
    _image(c.d / "in" / "b.tif", 1)
    args = ["segment-folder", "--model", str(model), str(c.d / "in"), str(c.d / "out"), *SEG]
    assert main(args) == 0
    weights = model / "weights.pt"
    weights.write_bytes(weights.read_bytes()[:1000])  # cut short
    return args


# -- 5, 6: size ------------------------------------------------------------------------------------


def decompression_bomb(c: Ctx) -> list[str]:
    """2.5 MB of zlib tiles that decode to 50,000 x 50,000 bytes (2.5 GB)."""
    blob = zlib.compress(bytes(1 << 20), 9)
    n = ((50000 + 1023) // 1024) ** 2
    path = c.d / "bomb.tif"
    tifffile.imwrite(
        path,
        data=((blob, 1 << 20) for _ in range(n)),
        shape=(50000, 50000),
        dtype=np.uint8,
        tile=(1024, 1024),
        compression="zlib",
    )
    assert path.stat().st_size < 4e6
    from napari_selfsup_seg.io import _size_guard

    c.monkeypatch.setattr(_size_guard, "available_memory", lambda: 16 * 10**9)
    return ["pseudo-mask", "--method", "threshold", str(path), "--out", str(c.d / "o")]


def image_over_flag_limit(c: Ctx) -> list[str]:
    path = _image(c.d / "a.tif")
    return ["segment", "--model", str(_model(c)), str(path), "--out", str(c.d / "o"), *SEG,
            "--max-image-gb", "0.0001"]  # fmt: skip


def evaluate_many_objects(c: Ctx) -> list[str]:
    gt = np.arange(1, 128 * 128 + 1, dtype=np.uint16).reshape(128, 128)
    gt = gt.repeat(2, 0).repeat(2, 1)  # 16,384 objects of 2 x 2 pixels
    pred = gt.copy()
    pred[::2] = 0
    _tif(c.d / "gt.tif", gt)
    _tif(c.d / "pred.tif", pred)
    import scipy.sparse.csgraph  # noqa: F401 (imported before tracing: imports are slow traced)

    import napari_selfsup_seg.evaluation._metrics  # noqa: F401

    tracemalloc.start()
    c.memo["tracing"] = True
    return ["evaluate", "--pred", str(c.d / "pred.tif"), "--gt", str(c.d / "gt.tif"), "--json"]


def check_evaluate_memory(c: Ctx, out: str, err: str) -> None:
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 100e6, peak  # a dense 16,384² overlap matrix alone is 2.1 GB
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["n_true"] == 16384 and summary["ap"]["0.5"] == 1.0


# -- 7, 8: resume and model saving -------------------------------------------------------------


def folder_input_replaced(c: Ctx) -> list[str]:
    for i in range(2):
        _image(c.d / "in" / f"img{i}.tif", i)
    args = ["segment-folder", "--model", str(_model(c)), str(c.d / "in"), str(c.d / "out"), *SEG]
    assert main(args) == 0
    _image(c.d / "in" / "img1.tif", 7, shape=(96, 64))  # another image, another shape
    touched = c.d / "in" / "img0.tif"
    os.utime(touched, ns=(time.time_ns(), time.time_ns() + 10**9))  # same bytes, new time
    return [*args, "--json"]


def check_input_replaced(c: Ctx, out: str, err: str) -> None:
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["done"] == 1 and summary["skipped"] == 1
    assert tifffile.imread(c.d / "out" / "img1_labels.tif").shape == (96, 64)


KILLED_SWAP = """
import os, signal, sys
from pathlib import Path
from napari_selfsup_seg.models._folder import swap_in
real, calls = os.rename, []
def rename(a, b):
    calls.append(a)
    if len(calls) == 3:  # the old model renamed aside, the new one not yet in place
        os.kill(os.getpid(), signal.SIGKILL)
    return real(a, b)
os.rename = rename
swap_in(Path(sys.argv[1]), Path(sys.argv[2]))
"""


def killed_while_saving_a_model(c: Ctx) -> list[str]:
    """A complete new model folder is being put in place of the old one when the process dies."""
    model = _model(c)
    c.memo["old"] = {p.name: h for p, h in _hashes(model).items()}
    new = c.d / ".model.new-x1"  # as save_model writes it, whole, before the swap
    shutil.copytree(model, new)
    (new / "training_log.csv").write_text("step,loss\n1,0.25\n")
    proc = subprocess.run([sys.executable, "-c", KILLED_SWAP, str(new), str(model)])
    assert proc.returncode == -9
    image = _image(c.d / "a.tif")
    return ["segment", "--model", str(model), str(image), "--out", str(c.d / "o"), *SEG]


def check_killed_save(c: Ctx, out: str, err: str) -> None:
    (old,) = c.d.glob(".model.old-*")
    (new,) = c.d.glob(".model.new-*")
    assert {p.name: h for p, h in _hashes(old).items()} == c.memo["old"]  # previous model whole
    assert (new / "config.json").exists() and (new / "weights.pt").exists()


# -- 9-15: values, messages, --json, progress --------------------------------------------------


def huge_float_values(c: Ctx) -> list[str]:
    img = make_sample((64, 64), seed=1).fluorescence.astype(np.float64) * 1e300
    path = _tif(c.d / "huge.tif", img)  # about 2.6 MB decoded, values up to about 1e303
    return ["pseudo-mask", "--method", "threshold", str(path), "--out", str(c.d / "o")]


def huge_float_values_segment(c: Ctx) -> list[str]:
    img = make_sample((64, 64), seed=1).fluorescence.astype(np.float64) * 1e300
    path = _tif(c.d / "huge.tif", img)
    return ["segment", "--model", str(_model(c)), str(path), "--out", str(c.d / "o"), *SEG]


def pseudo_mask_one_text_file(c: Ctx) -> list[str]:
    good, good2 = _image(c.d / "good.tif", 1), _image(c.d / "good2.tif", 2)
    text = c.d / "text.tif"
    text.write_text("not an image\n")
    return ["pseudo-mask", "--method", "threshold", str(good), str(text), str(good2),
            "--out", str(c.d / "o")]  # fmt: skip


def check_good_ones_written(c: Ctx, out: str, err: str) -> None:
    assert sorted(p.name for p in (c.d / "o").glob("*_pseudo.tif")) == [
        "good2_pseudo.tif",
        "good_pseudo.tif",
    ]


def train_lr_nan(c: Ctx) -> list[str]:
    img, mask = _image(c.d / "a.tif"), _tif(c.d / "m.tif", make_sample((64, 64)).labels)
    return ["train", "--images", str(img), "--masks", str(mask), "--out", str(c.d / "m"),
            "--lr", "nan"]  # fmt: skip


def _segment_with(c: Ctx, edit: Callable[[Path], None]) -> list[str]:
    model = _model(c)
    edit(model)
    image = _image(c.d / "a.tif")
    return ["segment", "--model", str(model), str(image), "--out", str(c.d / "o"), *SEG]


def _edit_config(key: str, value) -> Callable[[Path], None]:
    def edit(model: Path) -> None:
        cfg = json.loads((model / "config.json").read_text())
        *parents, last = key.split(".")
        node = cfg
        for k in parents:
            node = node[k]
        node[last] = value
        (model / "config.json").write_text(json.dumps(cfg))  # NaN is written as NaN

    return edit


def _weights_as_list(model: Path) -> None:
    import torch

    torch.save([1, 2, 3], model / "weights.pt")


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def _malicious_pickle(model: Path) -> None:
    (model / "weights.pt").write_bytes(pickle.dumps({"w": _Evil()}))


def _corrupt_log(model: Path) -> None:
    (model / "training_log.csv").write_bytes(b"step,loss\n1,abc\n\xff\xfe,,,\n2")


def evaluate_negative_labels(c: Ctx) -> list[str]:
    gt = make_sample((64, 64)).labels.astype(np.int32)
    neg = gt.copy()
    neg[neg == 1] = -3
    return ["evaluate", "--pred", str(_tif(c.d / "neg.tif", neg)),
            "--gt", str(_tif(c.d / "gt.tif", gt))]  # fmt: skip


def evaluate_bool_mask(c: Ctx) -> list[str]:
    gt = make_sample((64, 64)).labels
    return ["evaluate", "--pred", str(_tif(c.d / "mask.tif", gt > 0)),
            "--gt", str(_tif(c.d / "gt.tif", gt))]  # fmt: skip


def _folder_args(c: Ctx) -> list[str]:
    _image(c.d / "in" / "a.tif")
    return ["segment-folder", "--model", str(_model(c)), str(c.d / "in"), str(c.d / "out"), *SEG]


def scheduler_timeout_nan(c: Ctx) -> list[str]:
    return [*_folder_args(c), "--scheduler", "tcp://127.0.0.1:1", "--scheduler-timeout", "nan"]


def scheduler_garbage(c: Ctx) -> list[str]:
    c.memo["t0"] = time.perf_counter()
    return [*_folder_args(c), "--scheduler", "!!not an address!!"]


def check_fast(c: Ctx, out: str, err: str) -> None:
    assert time.perf_counter() - c.memo["t0"] < 5


def foreground_threshold_nan(c: Ctx) -> list[str]:
    path = _image(c.d / "a.tif")
    return ["segment", "--model", str(_model(c)), str(path), "--out", str(c.d / "o"), *SEG,
            "--foreground-threshold", "nan"]  # fmt: skip


def nan_image(c: Ctx) -> list[str]:
    img = make_sample((64, 64)).fluorescence.astype(np.float32)
    img[3, 3] = np.nan
    path = _tif(c.d / "nan.tif", img)
    return ["segment", "--model", str(_model(c)), str(path), "--out", str(c.d / "o"), *SEG]


def constant_image(c: Ctx) -> list[str]:
    path = _tif(c.d / "flat.tif", np.full((64, 64), 7, np.uint16))
    return ["pseudo-mask", "--method", "threshold", str(path), "--out", str(c.d / "o")]


def int64_with_offset(c: Ctx) -> list[str]:
    img = make_sample((64, 64)).fluorescence.astype(np.int64) + 10**12
    path = _tif(c.d / "offset.tif", img)
    return ["pseudo-mask", "--method", "threshold", str(path), "--out", str(c.d / "o")]


def _weak_labels(c: Ctx, text: str) -> list[str]:
    _image(c.d / "x.tif")
    csv = c.d / "weak.csv"
    csv.write_bytes(text.encode("utf-8-sig"))
    return ["pseudo-mask", "--method", "scorecam", "--weak-labels", str(csv),
            "--out", str(c.d / "o"), "--quiet"]  # fmt: skip


def missing_file_json(c: Ctx) -> list[str]:
    return ["segment", "--model", str(_model(c)), str(c.d / "none.tif"), "--out", str(c.d / "o"),
            "--json"]  # fmt: skip


def check_json_error(c: Ctx, out: str, err: str) -> None:
    obj = json.loads(out.strip().splitlines()[-1])
    assert obj["command"] == "segment" and obj["exit"] == 2 and "none.tif" in obj["error"]


def train_progress_in_a_log(c: Ctx) -> list[str]:
    img, mask = _image(c.d / "a.tif"), _tif(c.d / "m.tif", make_sample((64, 64)).labels)
    return ["train", "--images", str(img), "--masks", str(mask), "--out", str(c.d / "m"),
            "--steps", "4", "--batch-size", "2", "--tile-size", "64", "--encoder-depth", "3",
            "--device", "cpu"]  # fmt: skip


def check_progress_lines(c: Ctx, out: str, err: str) -> None:
    assert "\r" not in err
    lines = err.strip().splitlines()
    assert 1 <= len(lines) <= 3 and all(line.startswith("train: ") for line in lines)
    assert lines[-1].startswith("train: 4/4 (100%)")


CASES = [
    Case("1-segment-output-over-input", segment_over_own_input, 2,
         r"a_labels\.tif: the output of .*a\.tif would overwrite this input", nothing_new=True),
    Case("2-pseudo-mask-two-inputs-one-output", pseudo_mask_two_inputs_one_name, 2,
         r"x_pseudo\.tif: .*A/x\.tif and .*B/x\.tif would both be written there",
         nothing_new=True),
    Case("3-folder-in-equals-out-ground-truth", folder_in_is_out_with_ground_truth, 2,
         r"img3_labels\.tif: the labels of .*img3\.tif would overwrite this input",
         nothing_new=True),
    Case("3-folder-in-equals-out-own-outputs-not-inputs", folder_in_is_out_rerun_everything, 0,
         r"^$", unchanged=False, check=check_rerun_everything),
    Case("4-rerun-with-broken-model-keeps-csvs", folder_rerun_with_broken_model, 2,
         r"weights\.pt: unreadable weights", nothing_new=True),
    Case("5-decompression-bomb", decompression_bomb, 2,
         r"bomb\.tif: a 50000x50000 uint8 image needs about 82\.5 GB .* 16 GB limit "
         r"\(available memory\); raise it with --max-image-gb", nothing_new=True),
    Case("5-size-limit-flag", image_over_flag_limit, 2,
         r"a\.tif: a 64x64 .* limit \(--max-image-gb\)", nothing_new=True),
    Case("6-evaluate-16384-objects-sparse", evaluate_many_objects, 0, r"^$",
         check=check_evaluate_memory),
    Case("7-resume-redoes-replaced-input", folder_input_replaced, 0, r"^$", unchanged=False,
         check=check_input_replaced),
    Case("8-killed-while-saving-model", killed_while_saving_a_model, 2,
         r"model: no such model folder \(a save was interrupted: a complete model is in .*"
         r"\.model\.new-", unchanged=False, check=check_killed_save),
    Case("9-float64-1e303-pseudo-mask", huge_float_values, 2,
         r"huge\.tif: pixel values reach [0-9.]+e\+30\d, beyond the float32 range",
         nothing_new=True),
    Case("9-float64-1e303-segment", huge_float_values_segment, 2,
         r"huge\.tif: pixel values reach .*beyond the float32 range", nothing_new=True),
    Case("10-pseudo-mask-one-unreadable-of-three", pseudo_mask_one_text_file, 1,
         r"^failed: .*text\.tif: .*text\.tif: not a readable TIFF image",
         check=check_good_ones_written),
    Case("11-train-lr-nan", train_lr_nan, 2,
         r"train: error: argument --lr: expected a finite number, got 'nan'", nothing_new=True),
    Case("11-weights-a-torch-list", lambda c: _segment_with(c, _weights_as_list), 2,
         r"weights\.pt: not a weights file \(expected a mapping of names to tensors\)",
         nothing_new=True),
    Case("11-config-input-channels-text", lambda c: _segment_with(
        c, _edit_config("input_channels", "abc")), 2,
        r"config\.json: invalid model config \(input_channels", nothing_new=True),
    Case("11-corrupt-training-log-still-loads", lambda c: _segment_with(c, _corrupt_log), 0,
         r"^$"),
    Case("11-evaluate-negative-labels", evaluate_negative_labels, 2,
         r"neg\.tif: holds negative labels \(down to -3\)", nothing_new=True),
    Case("11-scheduler-timeout-nan", scheduler_timeout_nan, 2,
         r"argument --scheduler-timeout: expected a finite number, got 'nan'", nothing_new=True),
    Case("11-scheduler-garbage-address", scheduler_garbage, 2,
         r"argument --scheduler: not a Dask scheduler address", nothing_new=True,
         check=check_fast),
    Case("12-foreground-threshold-nan", foreground_threshold_nan, 2,
         r"argument --foreground-threshold: expected a finite number, got 'nan'",
         nothing_new=True),
    Case("12-config-clip-margin-nan", lambda c: _segment_with(
        c, _edit_config("normalization.clip_margin", float("nan"))), 2,
        r"config\.json: normalization\.clip_margin must be a finite number", nothing_new=True),
    Case("13-nan-image-names-file", nan_image, 2, r"nan\.tif: .*NaN", nothing_new=True),
    Case("13-constant-image-names-file", constant_image, 2, r"flat\.tif: .*constant",
         nothing_new=True),
    Case("13-int64-large-offset-is-not-constant", int64_with_offset, 0, r"^$"),
    Case("13-bool-mask-is-not-floating-point", evaluate_bool_mask, 0, r"^$"),
    Case("13-weak-labels-line-after-blank-lines", lambda c: _weak_labels(
        c, "path,label\n\nx.tif,1\n\nmissing.tif,0\n"), 2,
        r"weak\.csv: line 5: 'missing\.tif' does not exist", nothing_new=True),
    Case("13-weak-labels-bom-header", lambda c: _weak_labels(c, "path,lbl\nx.tif,1\n"), 2,
         r"weak\.csv: needs columns path,label \(header has 'path', 'lbl'\)$", nothing_new=True),
    Case("13-malicious-pickle-no-unsafe-advice", lambda c: _segment_with(c, _malicious_pickle),
         2, r"weights\.pt: refused: holds Python objects other than tensors", nothing_new=True),
    Case("14-json-error-object", missing_file_json, 2, r"none\.tif: no such file",
         nothing_new=True, check=check_json_error),
    Case("15-progress-lines-in-a-log", train_progress_in_a_log, 0, r"^train: 1/4",
         check=check_progress_lines),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path, model_dir, monkeypatch, capsys):
    ctx = Ctx(tmp_path, model_dir, monkeypatch, {})
    argv = case.setup(ctx)
    capsys.readouterr()
    before = _hashes(tmp_path)
    try:
        with warnings.catch_warnings(record=True) as caught:  # each would be a line on stderr
            warnings.simplefilter("always")
            code = main(argv)
    except SystemExit as exc:  # a bad command line, as argparse exits
        code, caught = exc.code, []
    finally:
        if ctx.memo.get("tracing") and case.check is None:
            tracemalloc.stop()
    out, err = capsys.readouterr()
    assert code == case.code, err
    first = err.splitlines()[0] if err else ""
    assert re.search(case.first_line, first), first
    if code == 2:
        assert len(err.strip().splitlines()) == 1, err
        assert "Traceback" not in err and "weights_only=False" not in err
        assert [str(w.message) for w in caught] == []
    after = _hashes(tmp_path)
    if case.unchanged:
        assert [p for p, h in before.items() if after.get(p) != h] == []
    if case.nothing_new:
        assert sorted(set(after) - set(before)) == []
    if case.check is not None:
        case.check(ctx, out, err)
