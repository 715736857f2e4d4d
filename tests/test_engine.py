"""The training engine: schedule, stop flag, divergence, precision policy, every objective on it;
CPU threads; encoder stages a shallow U-Net drops."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import numpy as np
import pytest

from napari_selfsup_seg._config import ModelConfig, TrainConfig
from napari_selfsup_seg._errors import InputError
from napari_selfsup_seg._progress import drain
from napari_selfsup_seg.data._synthetic import make_sample
from napari_selfsup_seg.train import _engine
from napari_selfsup_seg.train._engine import Objective, Recipe, run
from napari_selfsup_seg.train._optim import LR_FLOOR, learning_rate, precision_policy

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class _Toy(Objective):
    """Fit a linear layer to zeros; ``bad_step`` returns a NaN loss."""

    stage = "toy"
    what = "toy training"

    def __init__(self, bad_step: int | None = None) -> None:
        torch.manual_seed(0)
        self.net = torch.nn.Linear(4, 1)
        self.bad_step = bad_step

    def modules(self):
        return [self.net]

    def loss(self, step):
        out = self.net(torch.ones(2, 4)).pow(2).mean()
        if step == self.bad_step:
            out = out * float("nan")
        return out, {"half": out.detach() / 2}


def test_schedule_warms_up_then_decays_to_the_floor():
    lrs = [learning_rate(s, 50, 1.0, 0.2) for s in range(50)]
    assert lrs[:10] == pytest.approx([(s + 1) / 10 for s in range(10)])
    assert all(a >= b for a, b in itertools.pairwise(lrs[9:]))
    assert lrs[-1] > LR_FLOOR and learning_rate(50, 50, 1.0, 0.2) == pytest.approx(LR_FLOOR)
    # Without warm-up the first step runs at the peak.
    assert learning_rate(0, 10, 2.0, 0.0) == pytest.approx(2.0)


def test_stop_flag_records_and_log():
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] > 5

    toy = _Toy()
    recipe = Recipe(steps=20, batch_size=2, learning_rate=0.1, log_every=2)
    records = []
    summary = drain(run(toy, recipe, torch.device("cpu"), stop), records.append)
    assert summary.done == 5 and [r.done for r in records] == [2, 4]
    assert [row["step"] for row in summary.log] == [2, 4]
    r = records[-1]
    assert r.stage == "toy" and r.total == 20 and r.message == "step 4/20"
    assert r.extra["half"] == pytest.approx(r.loss / 2)
    assert r.lr == pytest.approx(learning_rate(3, 20, 0.1, 0.0))
    assert r.images_per_s > 0 and r.eta_s > 0
    assert not toy.net.training


def test_non_finite_loss_raises():
    recipe = Recipe(steps=5, batch_size=2, learning_rate=0.1)
    gen = run(_Toy(bad_step=2), recipe, torch.device("cpu"))
    with pytest.raises(InputError, match="toy training diverged at step 3"):
        drain(gen)


def test_precision_policy(monkeypatch):
    cpu = precision_policy(torch.device("cpu"))
    assert cpu.dtype is None and cpu.scaler is None
    assert precision_policy(SimpleNamespace(type="cuda"), amp=False).dtype is None
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    gpu = precision_policy(SimpleNamespace(type="cuda"))
    assert gpu.dtype == torch.bfloat16 and gpu.scaler is None


def test_every_objective_runs_on_the_engine(monkeypatch):
    """Supervised training, pretraining, the PSM activation net and the weak classifier all get
    their optimiser from the engine and yield its records."""
    from napari_selfsup_seg.pseudo._activation import train_activation_net_iter
    from napari_selfsup_seg.pseudo._classifier import train_weak_classifier_iter
    from napari_selfsup_seg.train._pretrain import PretrainConfig, pretrain_iter
    from napari_selfsup_seg.train._supervised import train_iter

    made = []
    real = _engine.make_optimizer

    def spy(params, recipe, device):
        made.append(recipe)
        return real(params, recipe, device)

    monkeypatch.setattr(_engine, "make_optimizer", spy)
    s = make_sample((64, 64), seed=0)
    tiny = ModelConfig.tiny()
    plane = s.fluorescence.astype(np.float32) / s.fluorescence.max()
    jobs = {
        "train": train_iter(
            [s.fluorescence],
            [s.labels],
            TrainConfig(steps=2, batch_size=2, tile_size=64, device="cpu"),
            tiny,
        ),
        "pretrain": pretrain_iter(
            [s.fluorescence],
            tiny,
            PretrainConfig(steps=2, batch_size=2, tile_size=64, device="cpu"),
        ),
        "psm-train": train_activation_net_iter([plane], 2, 32, 4, 0.05, 4, 0),
        "classifier": train_weak_classifier_iter(
            [plane[:32, :32], plane[32:, 32:]] * 2, [0, 1, 1, 0], steps=2, batch_size=4, width=4
        ),
    }
    for stage, gen in jobs.items():
        records = []
        drain(gen, records.append)
        recipe = made[-1]
        assert [r.stage for r in records] == [stage, stage]
        assert [r.lr for r in records] == pytest.approx(
            [learning_rate(i, 2, recipe.learning_rate, recipe.warmup_fraction) for i in range(2)]
        )
    assert len(made) == 4
    assert made[2].optimizer == "sgd" and made[3].optimizer == "adamw"


def test_cpu_threads_set_and_restore():
    from napari_selfsup_seg.models._device import cpu_thread_count, cpu_threads

    before = torch.get_num_threads()  # 1, from the fixture
    with cpu_threads(3) as n:
        assert n == torch.get_num_threads() == 3
        # The rule never goes above the count in force, and never below 1.
        assert cpu_thread_count() <= 3 and cpu_thread_count(jobs=1000) == 1
    assert torch.get_num_threads() == before == 1


# --- encoder stages -------------------------------------------------------------------------


def _encoders_offered() -> tuple[str, ...]:
    pytest.importorskip("magicgui")
    from napari_selfsup_seg._napari.widgets.train import ENCODERS

    return ENCODERS


def test_shallow_unet_drops_unused_stages_of_every_offered_encoder(tmp_path):
    """Same outputs with far fewer weights, for every encoder the Train widget offers; a
    folder saved with the unused weights still loads."""
    import segmentation_models_pytorch as smp

    from napari_selfsup_seg._config import ModelBundleConfig
    from napari_selfsup_seg.models._factory import build_model, load_model, save_model

    x = torch.randn(1, 1, 64, 64)
    for encoder in _encoders_offered():
        cfg = ModelConfig(encoder=encoder, encoder_depth=3, decoder_channels=(16, 8, 4))
        torch.manual_seed(0)
        net = build_model(cfg).eval()
        torch.manual_seed(0)
        full = smp.Unet(
            encoder_name=encoder,
            encoder_depth=3,
            decoder_channels=[16, 8, 4],
            in_channels=1,
            classes=3,
            encoder_weights=None,
        ).eval()
        n_net = sum(p.numel() for p in net.parameters())
        n_full = sum(p.numel() for p in full.parameters())
        assert n_net < 0.5 * n_full, encoder
        with torch.no_grad():
            assert torch.equal(net(x), full(x)), encoder
        path = save_model(tmp_path / encoder, full, ModelBundleConfig(model=cfg))
        with torch.no_grad():
            assert torch.equal(load_model(path, device="cpu").net(x), full(x)), encoder


def test_unknown_encoder_is_left_alone():
    from napari_selfsup_seg.models._stages import drop_unused_stages, unused_stages

    tiny = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(), torch.nn.Conv2d(2, 2, 3))
    before = {k: v.clone() for k, v in tiny.state_dict().items()}
    assert unused_stages(tiny, 1) == [] and drop_unused_stages(tiny, 1) == []
    assert tiny.state_dict().keys() == before.keys()
