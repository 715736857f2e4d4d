"""Fine-tuning bursts: from the current weights, reviewed tiles over-sampled, plateau stops."""

from __future__ import annotations

import numpy as np
import pytest

from napari_selfsup_seg._config import TrainConfig
from napari_selfsup_seg._errors import InputError
from napari_selfsup_seg._progress import RoundProgress, Stage, TrainProgress, drain
from napari_selfsup_seg.data._augment import TileSampler
from napari_selfsup_seg.data._synthetic import make_sample
from napari_selfsup_seg.workflows._fine_tune import (
    FineTuneConfig,
    Plateau,
    fine_tune,
    fine_tune_iter,
)

BOX = (16, 16, 48, 48)
# Small steps: one 32 px tile per step on the CPU.
RECIPE = TrainConfig(batch_size=1, tile_size=32, learning_rate=1e-2, device="cpu", seed=3)


@pytest.fixture(scope="module")
def base():
    """A tiny U-Net trained a few steps on a 96 px field, and that field."""
    from napari_selfsup_seg._config import ModelConfig
    from napari_selfsup_seg.models._device import cpu_threads
    from napari_selfsup_seg.train._supervised import train

    sample = make_sample((96, 96), radius=(4.0, 6.0), seed=2)
    with cpu_threads(1):
        model = train(
            [sample.fluorescence], [sample.labels], steps=3, model_config=ModelConfig.tiny(),
            train_config=RECIPE,
        )  # fmt: skip
    return model, sample


def _params(model) -> np.ndarray:
    return np.concatenate([p.detach().cpu().numpy().ravel() for p in model.net.parameters()])


def _share_holding(sampler: TileSampler, box: tuple, n: int = 300) -> float:
    """Fraction of ``n`` sampled (unaugmented) tiles that hold the whole ``box``."""
    t = sampler.tile
    x = np.zeros((n, 1, t, t), np.float32)
    sampler.batch(n, x, np.zeros((n, t, t), np.int64))
    h, w = box[2] - box[0], box[3] - box[1]
    marker = sampler.images[0][0, box[0] : box[2], box[1] : box[3]]
    offsets = [(y, x) for y in range(t - h + 1) for x in range(t - w + 1)]
    held = [any((xi[0, y : y + h, x : x + w] == marker).all() for y, x in offsets) for xi in x]
    return float(np.mean(held))


def test_sampler_oversamples_preferred_boxes():
    images = [np.random.default_rng(0).random((1, 256, 256), dtype=np.float32)]
    targets = [np.zeros((256, 256), np.uint8)]
    targets[0][::9, ::7] = 1  # foreground all over
    small, large = (160, 160, 208, 208), (0, 0, 128, 128)

    def sampler(preferred, fraction):
        return TileSampler(images, targets, 64, np.random.default_rng(1), augment=False,
                           preferred=preferred, preferred_fraction=fraction)  # fmt: skip

    assert _share_holding(sampler([], 0.5), small) < 0.05
    assert 0.4 < _share_holding(sampler([(0, small)], 0.5), small) < 0.65
    # A box that fits in a tile lies inside every tile drawn for it ...
    draws = sampler([(0, small)], 1.0)
    corners = [draws._preferred_corner()[1:] for _ in range(100)]
    assert all(y <= 160 and 208 <= y + 64 and x <= 160 and 208 <= x + 64 for y, x in corners)
    assert len(set(corners)) > 20  # ... anywhere around it
    # ... and a larger box holds every tile drawn for it.
    draws = sampler([(0, large)], 1.0)
    corners = [draws._preferred_corner()[1:] for _ in range(100)]
    assert all(0 <= y <= 64 and 0 <= x <= 64 for y, x in corners)


def test_burst_starts_from_the_given_weights(base, one_torch_thread):
    model, sample = base
    before = _params(model)
    records = []
    new = fine_tune(model, [sample.fluorescence], [sample.labels], [BOX], train_config=RECIPE,
                    stop=lambda: True, callback=records.append)  # fmt: skip
    assert new.net is not model.net
    np.testing.assert_array_equal(_params(new), before)
    assert records[-1].record["reason"] == "stopped" and records[-1].record["steps"] == 0
    cfg = FineTuneConfig(max_steps=1)
    gen = fine_tune_iter(model, [sample.fluorescence], [sample.labels], [BOX], config=cfg,
                         train_config=RECIPE)  # fmt: skip
    one = drain(gen)
    after = _params(one)
    np.testing.assert_array_equal(_params(model), before)  # the given model is left unchanged
    moved = np.abs(after - before).max()
    assert 0 < moved < 0.05 < np.abs(before).max()
    assert one.config.provenance["fine_tune"][-1]["reason"] == "max_steps"
    assert one.config.provenance["fine_tune"][-1]["reviewed_tiles"] == 1


def test_flat_loss_stops_the_burst_before_its_cap(base, one_torch_thread):
    model, sample = base
    cfg = FineTuneConfig(max_steps=200, min_steps=10, patience=10, min_delta=0.05, lr_factor=1)
    flat = TrainConfig.from_dict({**RECIPE.to_dict(), "learning_rate": 1e-7, "augment": False})
    records = list(fine_tune_iter(model, [sample.fluorescence], [sample.labels], [BOX],
                                  config=cfg, train_config=flat))  # fmt: skip
    last = records[-1]
    assert isinstance(last, RoundProgress) and last.stage == Stage.FINE_TUNE
    assert last.record["reason"] == "plateau" and last.record["criterion"] == "loss"
    steps = [r.done for r in records if isinstance(r, TrainProgress)]
    # At least min_steps, at most patience steps after the best smoothed loss, far below the cap.
    assert 10 <= steps[-1] == last.record["steps"] < 100
    assert steps[-1] - last.record["best_step"] == 10
    assert last.model.config.provenance["fine_tune"][-1] == last.record


def test_held_out_reviewed_tile_is_the_stop_criterion(base, one_torch_thread, monkeypatch):
    from napari_selfsup_seg.data import _augment

    seen = {}

    class Spy(TileSampler):
        def __init__(self, images, targets, *args, **kwargs):
            seen.update(targets=targets, **kwargs)
            super().__init__(images, targets, *args, **kwargs)

    monkeypatch.setattr(_augment, "TileSampler", Spy)
    model, sample = base
    boxes = [(0, 0, 48, 48), (48, 48, 96, 96)]
    cfg = FineTuneConfig(max_steps=12, min_steps=2, patience=4, eval_every=2, hold_out=True)
    records = list(fine_tune_iter(model, [sample.fluorescence], [sample.labels], boxes,
                                  config=cfg, train_config=RECIPE))  # fmt: skip
    scored = [r for r in records if isinstance(r, TrainProgress) and "val_ap50" in r.extra]
    assert scored and all(r.done % 2 == 0 or r.done == 12 for r in scored)
    last = records[-1].record
    assert last["criterion"] == "val_ap50" and last["held_out"] == [0, [0, 0, 48, 48]]
    assert last["reason"] in ("plateau", "max_steps") and last["steps"] <= 12
    # The held-out tile is not trained on; the other reviewed tile is over-sampled.
    assert (seen["targets"][0][:48, :48] == 255).all()
    assert seen["preferred"] == [(0, (48, 48, 96, 96))] and seen["preferred_fraction"] == 0.5


def test_plateau_and_bad_inputs():
    loss = Plateau(patience=3, min_steps=0, min_delta=0.1, higher=False)
    assert not any(loss.update(s, v) for s, v in enumerate([1.0, 0.8, 0.6, 0.58, 0.57]))
    assert loss.update(5, 0.56) and loss.best_step == 2
    score = Plateau(patience=2, min_steps=5, min_delta=0.0, higher=True)
    assert not score.update(1, 0.5) and not score.update(4, 0.5)
    assert score.update(6, 0.5)
    image, labels = np.zeros((64, 64), np.float32), np.zeros((64, 64), np.int32)
    with pytest.raises(InputError, match="one list of boxes per image"):
        drain(fine_tune_iter(None, [image, image], [labels, labels], [(0, 0, 8, 8)]))  # type: ignore[arg-type]
    with pytest.raises(InputError, match="outside"):
        FineTuneConfig(outside="nowhere")
