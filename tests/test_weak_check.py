"""The held-out check of the weak-label classifier: it learns a learnable task, and masks from a
classifier at chance are refused by the API, the command line and the Pseudo-masks widget."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from napari_selfsup_seg._errors import InputError
from napari_selfsup_seg._progress import TrainProgress, drain
from napari_selfsup_seg.cli.main import main
from napari_selfsup_seg.pseudo._scorecam import (
    ScoreCAMConfig,
    scorecam_pseudo_masks_iter,
    train_weak_classifier_iter,
)
from napari_selfsup_seg.pseudo._weak_check import (
    ChanceClassifierError,
    HeldOutCheck,
    fisher_greater,
    stratified_folds,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# Small and quick: 32 px tiles, a narrow network, few steps (each fold trains as many).
CFG = {"steps": 40, "width": 8, "batch_size": 8, "learning_rate": 5e-3}


def _tiles(n=16, seed=0):
    """``n`` 32×32 noise tiles; every second one has a bright square (label 1)."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for i in range(n):
        img = rng.normal(100, 5, (32, 32))
        if i % 2:
            y, x = rng.integers(2, 22, 2)
            img[y : y + 8, x : x + 8] += 80
        images.append(img.astype(np.float32))
        labels.append(i % 2)
    return images, labels


@pytest.fixture
def small_classifier(monkeypatch):
    """Every ScoreCAMConfig made (also by the CLI and the widget) gets a narrow network and
    small batches, so the folds of the check train quickly."""
    before = ScoreCAMConfig.__post_init__

    def small(self):
        self.width, self.batch_size = CFG["width"], CFG["batch_size"]
        before(self)

    monkeypatch.setattr(ScoreCAMConfig, "__post_init__", small)


def _shuffled(labels, seed=1):
    """The same number of 0s and 1s in a random order: no link to the images any more."""
    return [int(v) for v in np.random.default_rng(seed).permutation(labels)]


def test_fisher_test_and_check_figures():
    assert fisher_greater(4, 0, 0, 4) == pytest.approx(1 / 70)
    assert fisher_greater(3, 0, 0, 3) == pytest.approx(0.05)  # 6 images: never significant
    # Always answering the majority class: plain accuracy 0.75, but no evidence at all.
    check = HeldOutCheck.of(np.array([0] * 12 + [1] * 4), np.zeros(16, int), folds=2)
    assert check.accuracy == 0.75 and check.balanced_accuracy == 0.5
    assert check.p_value == 1.0 and not check.better_than_chance
    good = HeldOutCheck.of(np.array([0, 1] * 8), np.array([0, 1] * 7 + [1, 1]), folds=4)
    assert good.correct == 15 and good.better_than_chance
    assert good.as_dict()["better_than_chance"] is True


def test_folds_are_stratified_disjoint_and_cover_all():
    labels = [0] * 30 + [1] * 10
    folds = stratified_folds(labels, seed=3)
    assert len(folds) == 4
    every = np.concatenate(folds)
    assert sorted(every.tolist()) == list(range(40))
    for f in folds:
        assert {labels[i] for i in f} == {0, 1} and 9 <= len(f) <= 11
    assert len(stratified_folds([0, 0, 0, 1, 1])) == 2  # never more folds than the minority


def test_learnable_task_passes_the_check_and_reports_it():
    images, labels = _tiles()
    records: list = []
    fit = drain(train_weak_classifier_iter(images, labels, ScoreCAMConfig(**CFG)), records.append)
    check = fit.check
    assert check is not None and check.better_than_chance
    assert check.n == 16 and check.folds == 4 and check.accuracy >= 13 / 16
    held = [r for r in records if isinstance(r, TrainProgress) and "held_out_p" in r.extra]
    assert len(held) == 1 and held[0].extra["held_out_accuracy"] == check.accuracy
    assert any(r.message == "held-out check 4/4" for r in records)
    assert fit.record()["held_out"]["balanced_accuracy"] == check.balanced_accuracy


def test_shuffled_labels_are_refused_unless_allowed():
    images, labels = _tiles()
    labels = _shuffled(labels)
    with pytest.raises(ChanceClassifierError, match="not better than chance") as info:
        drain(scorecam_pseudo_masks_iter(images, labels, ScoreCAMConfig(**CFG)))
    text = str(info.value)
    assert len(text.splitlines()) == 1 and "held-out accuracy" in text
    assert "allow_chance=True" in text and isinstance(info.value, InputError)
    out = drain(
        scorecam_pseudo_masks_iter(images, labels, ScoreCAMConfig(**CFG, allow_chance=True))
    )
    assert len(out) == len(images)


def test_too_few_of_a_class_cannot_be_checked():
    images, labels = _tiles(6)
    labels = [1, 1, 1, 1, 1, 0]
    cfg = ScoreCAMConfig(steps=2, width=4, batch_size=4)
    with pytest.raises(ChanceClassifierError, match="at least 2 of each"):
        drain(train_weak_classifier_iter(images, labels, cfg))
    fit = drain(train_weak_classifier_iter(images, labels, ScoreCAMConfig(**{
        "steps": 2, "width": 4, "batch_size": 4, "allow_chance": True})))  # fmt: skip
    assert fit.check is None and fit.record()["held_out"] is None


def _csv(tmp_path, images, labels):
    folder = tmp_path / "tiles"
    folder.mkdir()
    rows = ["path,label"]
    for i, (img, y) in enumerate(zip(images, labels)):
        tifffile.imwrite(folder / f"t{i:02d}.tif", img.astype(np.uint16))
        rows.append(f"tiles/t{i:02d}.tif,{y}")
    csv = tmp_path / "weak.csv"
    csv.write_text("\n".join(rows) + "\n")
    return csv


def _cli(csv, out, *more):
    flags = ["--steps", "40", "--quiet"]
    return main(["pseudo-mask", "--method", "scorecam", "--weak-labels", str(csv), "--out",
                 str(out), *flags, *more])  # fmt: skip


def test_cli_refuses_a_classifier_at_chance(tmp_path, capsys, small_classifier):
    images, labels = _tiles()
    csv = _csv(tmp_path, images, _shuffled(labels))
    out = tmp_path / "out"
    assert _cli(csv, out) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert str(csv) in err and "held-out accuracy" in err and "--allow-chance" in err
    assert not out.exists() or not list(out.glob("*.tif"))
    # Forced: written, with a warning, and the check in the JSON summary.
    assert _cli(csv, out, "--allow-chance", "--json") == 0
    captured = capsys.readouterr()
    assert "warning:" in captured.err and "not shown better than chance" in captured.err
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert summary["held_out"]["better_than_chance"] is False
    assert len(list(out.glob("*_pseudo.tif"))) == sum(_shuffled(labels))


def test_cli_learnable_task_reports_held_out_accuracy(tmp_path, capsys, small_classifier):
    images, labels = _tiles()
    csv = _csv(tmp_path, images, labels)
    assert _cli(csv, tmp_path / "out", "--json") == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert summary["held_out"]["better_than_chance"] is True and summary["held_out"]["n"] == 16
    assert "held-out accuracy" in captured.out and "warning" not in captured.err
    assert len(summary["outputs"]) == 8


@pytest.mark.gui
def test_widget_refuses_a_classifier_at_chance(viewer, errors, small_classifier):
    images, labels = _tiles()
    labels = _shuffled(labels)
    viewer.add_image(np.stack(images), name="tiles")
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-selfsup-seg", "2. Pseudo-masks")
    widget.method.value = "scorecam"
    widget.source.value = "tiles"
    widget.cam_steps.value = CFG["steps"]
    widget.cam_input.value = "auto"
    for k, has in enumerate(labels):
        viewer.dims.set_current_step(0, k)
        widget.weak.mark(bool(has))
    before = [ly.name for ly in viewer.layers]
    # Inline (as the other error tests): napari's test setup re-raises errors of workers.
    assert widget.run(inline=True) is None
    assert not widget.controls.running
    status = widget.controls.status.value
    assert "not better than chance" in status and "held-out accuracy" in status
    assert "Make masks even if the classifier is at chance" in status
    assert errors == [f"Pseudo-masks: {status}"]
    assert [ly.name for ly in viewer.layers] == before
