"""Early stopping in the training engine: a plateau ends the run, a falling loss does not; the
model records why training ended; the command line and the Train widget offer it alike."""

from __future__ import annotations

import math

import pytest

from napari_selfsup_seg._config import ModelConfig, TrainConfig
from napari_selfsup_seg._progress import drain
from napari_selfsup_seg.data._synthetic import make_sample
from napari_selfsup_seg.train._engine import Objective, Recipe, run
from napari_selfsup_seg.train._plateau import EarlyStop, Plateau, StopRule

torch = pytest.importorskip("torch")


class _Series(Objective):
    """A loss that follows ``curve(step)`` (with a gradient, so the engine can step)."""

    def __init__(self, curve) -> None:
        self.w = torch.nn.Linear(1, 1)
        self.curve = curve

    def modules(self):
        return [self.w]

    def loss(self, step):
        return (self.w.weight * 0).sum() + self.curve(step), {}


RULE = StopRule(patience=10, min_steps=20, min_delta=0.01, smoothing=5)


def _run(curve, steps=200, rule=RULE):
    recipe = Recipe(steps, 1, 1e-3, stop_rule=rule)
    records = []
    summary = drain(run(_Series(curve), recipe, torch.device("cpu")), records.append)
    return summary, records


def test_plateau_rule():
    # A loss: stuck from step 5 on -> plateau once patience has passed after min_steps.
    p = Plateau(patience=3, min_steps=6, min_delta=0.1, higher=False)
    hits = [p.update(s, 1.0 if s >= 5 else 10.0 - s) for s in range(1, 12)]
    assert hits.index(True) == 7  # step 8: 3 steps after the best (step 5), past min_steps
    # A score that keeps rising by more than min_delta never plateaus.
    p = Plateau(patience=2, min_steps=0, min_delta=0.01, higher=True)
    assert not any(p.update(s, 0.05 * s) for s in range(1, 50))


def test_flat_loss_stops_early_falling_loss_runs_to_the_end():
    summary, records = _run(lambda step: 1.0)
    # The smoothed loss counts from step 5; its best is that step; patience 10, min_steps 20.
    assert summary.done == 20 and summary.ended["reason"] == "plateau"
    assert records[-1].done == 20 and len(records) == 20
    assert summary.ended["criterion"] == "loss" and summary.ended["max_steps"] == 200
    summary, _ = _run(lambda step: math.exp(-0.03 * step))
    assert summary.done == 200 and summary.ended["reason"] == "max_steps"


def test_noisy_plateau_after_a_fall_stops():
    # Falls for 32 steps, then wobbles around a floor: stops after the fall, well before 300.
    def curve(step):
        return max(0.2, math.exp(-0.05 * step)) + 0.02 * ((step * 7919) % 13 - 6) / 6

    summary, _ = _run(curve, steps=300)
    assert 40 < summary.done < 80 and summary.ended["reason"] == "plateau"


def test_without_a_rule_it_runs_every_step_and_says_so():
    summary, _ = _run(lambda step: 1.0, steps=30, rule=None)
    assert summary.done == 30 and summary.ended == {
        "steps": 30,
        "max_steps": 30,
        "reason": "max_steps",
    }


def test_held_out_score_is_the_criterion_when_reported():
    watch = EarlyStop(StopRule(patience=20, min_steps=0, min_delta=0.01), "val_ap50")
    # The loss falls every step but the score stops rising after step 10: a plateau at 30.
    hits = [
        watch.update(s, 1.0 / s, {"val_ap50": min(s, 10) / 10} if s % 10 == 0 else {})
        for s in range(1, 41)
    ]
    assert hits.index(True) + 1 == 30
    assert watch.record(30, 40, "plateau")["criterion"] == "val_ap50"


def test_train_records_why_it_ended(one_torch_thread):
    from napari_selfsup_seg.train._supervised import train

    sample = make_sample((64, 64), radius=(4.0, 6.0), seed=1)
    # An improvement of 100 % of the loss never happens: the run ends after the patience.
    tc = TrainConfig(
        steps=60, batch_size=1, tile_size=32, device="cpu", early_stop=True, patience=4,
        min_steps=0, min_delta=1.0, smoothing=3,
    )  # fmt: skip
    model = train([sample.fluorescence], [sample.labels], train_config=tc,
                  model_config=ModelConfig.tiny())  # fmt: skip
    ended = model.config.provenance["training_end"]
    assert ended["reason"] == "plateau" and ended["steps"] == 7 and len(model.log) == 7
    model = train([sample.fluorescence], [sample.labels], steps=3, batch_size=1, tile_size=32,
                  device="cpu", model_config=ModelConfig.tiny())  # fmt: skip
    ended = model.config.provenance["training_end"]
    assert ended["reason"] == "max_steps" and ended["steps"] == 3


def test_cli_flags_follow_the_config():
    from napari_selfsup_seg.cli._flags import config_from_args
    from napari_selfsup_seg.cli.main import build_parser

    base = ["train", "--images", "a.tif", "--out", "m"]
    args = build_parser().parse_args(base)
    tc = config_from_args(TrainConfig, args)
    assert (tc.early_stop, tc.patience, tc.min_delta) == (
        TrainConfig().early_stop,
        TrainConfig().patience,
        TrainConfig().min_delta,
    )
    flag = "--no-early-stop" if TrainConfig().early_stop else "--early-stop"
    args = build_parser().parse_args([*base, flag, "--patience", "7", "--min-delta", "0.05"])
    tc = config_from_args(TrainConfig, args)
    assert tc.early_stop != TrainConfig().early_stop and tc.patience == 7 and tc.min_delta == 0.05


@pytest.mark.gui
def test_train_widget_box_starts_at_the_config_default(viewer):
    from napari_selfsup_seg._napari.widgets.train import TrainWidget

    widget = TrainWidget(viewer)
    viewer.window.add_dock_widget(widget)
    assert widget.early_stop.value == TrainConfig().early_stop
    widget.early_stop.value = not TrainConfig().early_stop
    assert widget.configs()[0].early_stop == (not TrainConfig().early_stop)
