"""Flips and turns that keep the objects' look: oblique light restricts them, fluorescence not."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_selfsup_seg._config import ModelBundleConfig, ModelConfig, TrainConfig
from napari_selfsup_seg._errors import InputError
from napari_selfsup_seg.data._augment import TileSampler
from napari_selfsup_seg.data._symmetry import (
    TRANSFORMS,
    apply_transform,
    object_symmetries,
    training_symmetries,
)


def _discs(seed: int, shape=(96, 96), n=12, radius=5, elongation=1.0):
    """Instance labels of ``n`` separate discs (ellipses stretched along x by ``elongation``)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    labels = np.zeros(shape, np.int32)
    k = 0
    for _ in range(200):
        cy, cx = rng.uniform(12, shape[0] - 12), rng.uniform(12, shape[1] - 12)
        inside = ((yy - cy) / radius) ** 2 + ((xx - cx) / (radius * elongation)) ** 2 <= 1
        if (labels[ndi.binary_dilation(inside, iterations=3)] == 0).all():
            k += 1
            labels[inside] = k
        if k == n:
            break
    return labels


def _planes(kind: str, seed: int, elongation=1.0):
    """``((1, Y, X) float image, labels)`` of one generated field."""
    labels = _discs(seed, elongation=elongation)
    blob = ndi.gaussian_filter((labels > 0).astype(np.float64), 1.5)
    if kind == "oblique":
        # Light from the top: each object bright on its upper edge, dark on its lower edge.
        image = 0.5 - 2.0 * ndi.sobel(blob, axis=0) / 8.0
    else:
        image = 0.1 + blob
    noise = np.random.default_rng(seed + 100).normal(0, 0.02, labels.shape)
    return (image + noise)[None].astype(np.float32), labels


def test_transforms_are_the_eight_flips_and_turns():
    x = np.arange(12).reshape(1, 3, 4)
    seen = {
        apply_transform(x, name).tobytes() + bytes(apply_transform(x, name).shape)
        for name in TRANSFORMS
    }
    assert len(seen) == 8
    assert np.array_equal(apply_transform(x, "flip_x"), x[..., ::-1])
    assert np.array_equal(apply_transform(x, "rot180"), x[..., ::-1, ::-1])
    with pytest.raises(ValueError, match="unknown transform"):
        apply_transform(x, "shear")


def test_fluorescent_and_aligned_objects_keep_every_transform():
    for elongation in (1.0, 2.5):  # round nuclei, and rods all lying along x
        planes = [_planes("fluorescence", s, elongation) for s in range(3)]
        images, labels = zip(*planes, strict=True)
        assert object_symmetries(images, labels, 10.0) == TRANSFORMS


def test_oblique_light_keeps_only_the_mirror_along_the_light():
    images, labels = zip(*[_planes("oblique", s) for s in range(3)], strict=True)
    assert object_symmetries(images, labels, 10.0) == ("identity", "flip_x")
    # Light from the left instead: the image turned by 90 degrees keeps the up-down mirror.
    turned = [np.ascontiguousarray(np.rot90(x, 1, axes=(-2, -1))) for x in images]
    turned_labels = [np.ascontiguousarray(np.rot90(lab)) for lab in labels]
    assert object_symmetries(turned, turned_labels, 10.0) == ("identity", "flip_y")


def test_too_few_objects_or_no_size_keep_everything():
    image, labels = _planes("oblique", 0)
    one = np.where(labels == 1, 1, 0)
    assert object_symmetries([image], [one], 10.0) == TRANSFORMS
    assert object_symmetries([image], [labels], None) == TRANSFORMS


def test_training_symmetries_modes_and_ignored_pixels():
    images, labels = zip(*[_planes("oblique", s) for s in range(2)], strict=True)
    assert training_symmetries("all", images, labels, 9, 10.0) == TRANSFORMS
    assert training_symmetries("none", images, labels, 9, 10.0) == ("identity",)
    assert training_symmetries("auto", images, labels, 9, 10.0, ["identity"]) == ("identity",)
    # Ignore-valued pixels are not an object: a field marked all "not reviewed" below its
    # objects still reads as lit from the top.
    masked = [np.where(lab == 0, 9, lab) for lab in labels]
    assert training_symmetries("auto", images, masked, 9, 10.0) == ("identity", "flip_x")


def test_sampler_draws_only_the_given_transforms():
    tile = 32
    image = np.arange(tile * tile, dtype=np.float32).reshape(1, tile, tile)
    target = np.zeros((tile, tile), np.uint8)
    target[8:20, 4:12] = 1
    sampler = TileSampler([image], [target], tile, np.random.default_rng(0),
                          transforms=("identity", "flip_x"))  # fmt: skip
    sampler._intensity = lambda x: x  # geometry only
    out_x = np.zeros((16, 1, tile, tile), np.float32)
    out_y = np.zeros((16, tile, tile), np.int64)
    sampler.batch(16, out_x, out_y)
    kinds = set()
    for x, y in zip(out_x, out_y, strict=True):
        if np.array_equal(x, image):
            kinds.add("identity")
            assert np.array_equal(y, target)
        else:
            assert np.array_equal(x, image[..., ::-1]) and np.array_equal(y, target[:, ::-1])
            kinds.add("flip_x")
    assert kinds == {"identity", "flip_x"}


def test_bundle_checks_symmetries():
    cfg = ModelBundleConfig(model=ModelConfig.tiny(), symmetries=["identity", "flip_x"])
    assert ModelBundleConfig.from_dict(cfg.to_dict()).symmetries == ["identity", "flip_x"]
    with pytest.raises(InputError, match="symmetries"):
        ModelBundleConfig(model=ModelConfig.tiny(), symmetries=["flip_x"])
    with pytest.raises(InputError, match="symmetry must be one of"):
        TrainConfig(symmetry="some")


def test_oblique_model_records_its_flips_and_predicts_with_them():
    pytest.importorskip("torch")
    from napari_selfsup_seg.inference._predict import flip_views
    from napari_selfsup_seg.train._supervised import train

    planes = [_planes("oblique", s) for s in range(2)]
    images = [x for x, _ in planes]
    labels = [lab for _, lab in planes]
    config = TrainConfig(steps=2, batch_size=2, tile_size=64, device="cpu")
    model = train(images, labels, train_config=config, model_config=ModelConfig.tiny())
    assert model.config.symmetries == ["identity", "flip_x"]
    assert flip_views(model, 4) == ((), (-1,))
    assert flip_views(model, 1) == ((),)
    every = TrainConfig(**{**config.to_dict(), "symmetry": "all"})
    turned_all = train(images, labels, train_config=every, model_config=ModelConfig.tiny())
    assert turned_all.config.symmetries == list(TRANSFORMS)
    assert flip_views(turned_all, 4) == ((), (-1,), (-2,), (-2, -1))
