"""Training: targets, loss with ignored pixels, the loop, stopping, seeds, fine-tuning."""

from __future__ import annotations

import numpy as np
import pytest

from napari_selfsup_seg._config import ModelConfig, TrainConfig
from napari_selfsup_seg._errors import InputError
from napari_selfsup_seg._progress import PreviewProgress, TrainProgress, drain
from napari_selfsup_seg.data._synthetic import make_sample
from napari_selfsup_seg.data._targets import make_targets, uncertain_to_ignore
from napari_selfsup_seg.train._optim import learning_rate
from napari_selfsup_seg.train._supervised import train, train_iter

torch = pytest.importorskip("torch")

TINY = ModelConfig.tiny()


def tiny_config(**kw) -> TrainConfig:
    base = dict(steps=4, batch_size=2, tile_size=64, device="cpu", seed=0)
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def sample():
    return make_sample((64, 64), n_nuclei=5, seed=3)


def test_targets_two_touching_objects_and_ignore():
    labels = np.zeros((12, 14), np.int32)
    labels[2:9, 2:7] = 1
    labels[2:9, 7:12] = 2
    labels[11, 0] = 65535
    t = make_targets(labels, boundary_width=1)
    assert t.dtype == np.uint8
    assert set(np.unique(t)) == {0, 1, 2, 255}
    # The line where the two objects meet is boundary on both sides, interiors stay interior.
    assert (t[3:8, 6] == 2).all() and (t[3:8, 7] == 2).all()
    assert (t[3:8, 3:6] == 1).all() and (t[3:8, 8:11] == 1).all()
    assert t[11, 0] == 255 and t[0, 0] == 0
    # A wider boundary leaves less interior.
    wide = make_targets(labels, boundary_width=2)
    assert (wide == 1).sum() < (t == 1).sum()
    assert ((wide == 1) | (wide == 2)).sum() == ((t == 1) | (t == 2)).sum()


def test_targets_reject_bad_input():
    with pytest.raises(InputError):
        make_targets(np.zeros((2, 3, 4), np.int32))
    with pytest.raises(InputError):
        make_targets(np.zeros((3, 4), np.float32))


def test_uncertain_to_ignore():
    labels = np.ones((4, 4), np.int32)
    prob = np.linspace(0, 1, 16).reshape(4, 4)
    out = uncertain_to_ignore(labels, prob, 0.3, 0.7, ignore_value=9)
    assert ((out == 9) == ((prob > 0.3) & (prob < 0.7))).all()


def test_loss_ignores_pixels_in_value_and_gradient():
    from napari_selfsup_seg.models._losses import segmentation_loss

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 16, 16, generator=g, requires_grad=True)
    target = torch.randint(0, 3, (2, 16, 16), generator=g)
    target[:, :8] = 255
    loss = segmentation_loss(logits, target)
    loss.backward()
    grad = logits.grad
    assert torch.all(grad[:, :, :8] == 0)
    assert torch.any(grad[:, :, 8:] != 0)
    # Changing the logits where the target is ignored changes nothing.
    other = logits.detach().clone()
    other[:, :, :8] = torch.randn(2, 3, 8, 16, generator=g) * 10
    assert torch.allclose(segmentation_loss(other, target), loss.detach())
    # Everything ignored: zero loss, no NaN.
    assert float(segmentation_loss(logits.detach(), torch.full_like(target, 255))) == 0.0


def test_learning_rate_warmup_and_decay():
    lrs = [learning_rate(s, 100, 1e-3, 0.1) for s in range(100)]
    assert lrs[0] < lrs[5] < lrs[9] == pytest.approx(1e-3)
    # Cosine decay to 1 % of the peak when the run ends; the last step is one step above it.
    assert learning_rate(100, 100, 1e-3, 0.1) == pytest.approx(1e-5)
    assert 1e-5 < lrs[-1] < 1.1e-5
    decay = lrs[9:]
    assert all(decay[i] >= decay[i + 1] for i in range(len(decay) - 1))


def test_training_reduces_loss(sample):
    model = train(
        [sample.fluorescence],
        [sample.labels],
        train_config=tiny_config(steps=16, learning_rate=3e-3, augment=False),
        model_config=TINY,
    )
    losses = [row["loss"] for row in model.log]
    assert len(losses) == 16
    assert np.mean(losses[-4:]) < 0.8 * np.mean(losses[:3])
    assert not model.net.training
    cfg = model.config
    assert cfg.task == "instances" and cfg.model.classes == 3 and cfg.input_channels is None
    assert cfg.training["steps"] == 16


def test_records_stop_and_seeds(sample):
    records = []
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] > 3

    gen = train_iter([sample.fluorescence], [sample.labels], tiny_config(steps=50), TINY, stop=stop)
    model = drain(gen, records.append)
    assert [r.done for r in records] == [1, 2, 3]
    assert all(isinstance(r, TrainProgress) and r.total == 50 for r in records)
    assert records[-1].eta_s > 0 and records[-1].images_per_s > 0
    assert len(model.log) == 3 and not model.net.training

    def weights(seed):
        m = train(
            [sample.fluorescence],
            [sample.labels],
            train_config=tiny_config(steps=2, seed=seed),
            model_config=TINY,
        )
        return [p.detach().clone() for p in m.net.parameters()], m.log[-1]["loss"]

    w1, l1 = weights(5)
    w2, l2 = weights(5)
    _, l3 = weights(6)
    assert l1 == l2 and all(torch.equal(a, b) for a, b in zip(w1, w2))
    assert l1 != l3


def test_input_channel_preview_and_validation(sample):
    image = sample.stack()  # (2, Y, X): 0 brightfield, 1 fluorescence
    records = []
    gen = train_iter(
        [image],
        [sample.labels],
        tiny_config(steps=4, input_channel=1),
        TINY,
        preview_image=image,
        preview_every=2,
        validation=([image], [sample.labels]),
    )
    try:
        while True:
            records.append(next(gen))
    except StopIteration as done:
        model = done.value
    previews = [r for r in records if isinstance(r, PreviewProgress)]
    assert [r.done for r in previews] == [2, 4]
    assert previews[0].labels.shape == image.shape[1:] and previews[0].labels.dtype == np.int32
    assert 0.0 <= previews[-1].extra["val_ap50"] <= 1.0
    assert 0.0 <= previews[-1].extra["val_pixel_f1"] <= 1.0
    assert model.config.input_channels == [1] and model.config.model.in_channels == 1
    assert "val_ap50" in model.log[-1]


@pytest.mark.parametrize(
    "case, match",
    [
        ("shape", "does not match"),
        ("background", "all background"),
        ("ignore", "not reviewed"),
        ("nan", "NaN"),
        ("constant", "constant"),
        ("channel", "out of range"),
        ("count", "2 masks"),
    ],
)
def test_bad_training_input(sample, case, match):
    img, mask = sample.fluorescence.astype(np.float32), sample.labels.astype(np.int32)
    cfg = tiny_config()
    images, masks = [img], [mask]
    if case == "shape":
        masks = [mask[:-1]]
    elif case == "background":
        masks = [np.zeros_like(mask)]
    elif case == "ignore":
        masks = [np.full_like(mask, 65535)]
    elif case == "nan":
        img = img.copy()
        img[3, 3] = np.nan
        images = [img]
    elif case == "constant":
        images = [np.full_like(img, 7)]
    elif case == "channel":
        images, cfg = [np.stack([img, img])], tiny_config(input_channel=2)
    elif case == "count":
        masks = [mask, mask]
    with pytest.raises(InputError, match=match):
        drain(train_iter(images, masks, cfg, TINY))


def test_image_without_objects_trains_as_background(sample):
    """A plane with no objects (an empty well, a negative weak-label tile) is background to learn
    from, as long as some other plane holds objects; all-foreground stays refused."""
    img, mask = sample.fluorescence.astype(np.float32), sample.labels.astype(np.int32)
    empty = np.zeros_like(mask)
    model = drain(train_iter([img, img], [mask, empty], tiny_config(), TINY))
    assert model.log and np.isfinite(model.log[-1]["loss"])
    with pytest.raises(InputError, match="mask 1: is all foreground"):
        drain(train_iter([img, img], [mask, np.ones_like(mask)], tiny_config(), TINY))
    with pytest.raises(InputError, match="all 2 masks are all background"):
        drain(train_iter([img, img], [empty, empty], tiny_config(), TINY))


def test_finetune_from_saved_and_pretrained(sample, tmp_path):
    from napari_selfsup_seg._config import ModelBundleConfig
    from napari_selfsup_seg.models._factory import build_model, load_model, save_model

    first = train(
        [sample.fluorescence],
        [sample.labels],
        train_config=tiny_config(steps=2),
        model_config=TINY,
        model_dir=tmp_path / "m1",
    )
    assert (tmp_path / "m1" / "weights.pt").exists()
    # The initial model's architecture wins over model_config; provenance records it.
    bigger = ModelConfig(encoder_depth=4, decoder_channels=(128, 64, 32, 16))
    tuned = train(
        [sample.fluorescence],
        [sample.labels],
        train_config=tiny_config(steps=2, learning_rate=1e-6),
        model_config=bigger,
        init=tmp_path / "m1",
    )
    assert tuned.config.model == first.config.model
    assert tuned.config.provenance["init"] == str(tmp_path / "m1")
    a = first.net.state_dict()["encoder.conv1.weight"]
    b = tuned.net.state_dict()["encoder.conv1.weight"]
    assert torch.allclose(a, b, atol=1e-4) and not torch.equal(a, b)
    with pytest.raises(InputError, match="input channel"):
        drain(train_iter([sample.stack()], [sample.labels], tiny_config(), init=first))

    # A self-supervised "pretrained" model with another head: encoder kept, new 3-class head.
    pre_cfg = ModelConfig.tiny(classes=5)
    torch.manual_seed(1)
    pre_net = build_model(pre_cfg)
    save_model(tmp_path / "pre", pre_net, ModelBundleConfig(model=pre_cfg, task="pretrained"))
    pre = load_model(tmp_path / "pre", device="cpu")
    model = drain(
        train_iter(
            [sample.fluorescence], [sample.labels], tiny_config(), init=pre, stop=lambda: True
        )
    )
    assert model.config.model.classes == 3 and model.config.task == "instances"
    sd, psd = model.net.state_dict(), pre.net.state_dict()
    assert torch.equal(sd["encoder.conv1.weight"], psd["encoder.conv1.weight"])
    assert sd["segmentation_head.0.weight"].shape[0] == 3
