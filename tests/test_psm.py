"""PSM pseudo-masks on small synthetic images."""

import numpy as np
import pytest

from napari_selfsup_seg._errors import InputError
from napari_selfsup_seg._progress import drain
from napari_selfsup_seg.data._synthetic import make_sample
from napari_selfsup_seg.pseudo._psm import PSMConfig, detect_modality, psm_pseudo_mask_iter

pytestmark = pytest.mark.usefixtures("one_torch_thread")


FAST = dict(steps=15, crop_size=48, batch_size=8, width=8)


def _f1(pred, truth):
    p, t = pred > 0, truth > 0
    return 2 * (p & t).sum() / (p.sum() + t.sum())


def test_psm_finds_bright_blobs_and_reuses_cache(tmp_path):
    sample = make_sample((96, 96), seed=1)
    records = []
    gen = psm_pseudo_mask_iter([sample.fluorescence], PSMConfig(**FAST), cache_dir=tmp_path)
    ((labels, prob),) = drain(gen, records.append)
    assert labels.shape == prob.shape == (96, 96)
    assert labels.dtype == np.int32 and prob.dtype == np.float32
    assert 0 <= prob.min() and prob.max() <= 1
    assert _f1(labels, sample.labels) > 0.75
    assert labels.max() >= 2
    assert any(r.stage == "psm-train" for r in records)
    cached = list(tmp_path.glob("psm_*.pt"))
    assert len(cached) == 1
    # Second call: no training steps, the cached network is reused and gives the same result.
    again = []
    ((labels2, _),) = drain(
        psm_pseudo_mask_iter([sample.fluorescence], PSMConfig(**FAST), cache_dir=tmp_path),
        again.append,
    )
    train = [r for r in again if r.stage == "psm-train"]
    assert len(train) == 1 and "reused" in train[0].message
    np.testing.assert_array_equal(labels, labels2)
    # Another recipe is another cache entry.
    drain(psm_pseudo_mask_iter([sample.fluorescence], PSMConfig(**{**FAST, "seed": 3}), tmp_path))
    assert len(list(tmp_path.glob("psm_*.pt"))) == 2


def test_psm_stack_plane_by_plane():
    a, b = make_sample((64, 64), seed=2), make_sample((64, 64), seed=3)
    stack = np.stack([a.fluorescence, b.fluorescence])[None]  # (1, 2, Y, X): one item, 2 planes
    ((labels, prob),) = drain(psm_pseudo_mask_iter(list(stack), PSMConfig(**FAST, k=2)))
    assert labels.shape == prob.shape == (2, 64, 64)
    assert _f1(labels[0], a.labels) > 0.6 and _f1(labels[1], b.labels) > 0.6


def test_psm_brightfield_runs_and_modality_detection():
    sample = make_sample((96, 96), seed=4)
    assert detect_modality(sample.fluorescence) == "fluorescence"
    for seed in (0, 3, 7):
        assert detect_modality(make_sample((96, 96), seed=seed).brightfield) == "brightfield"
    ((labels, prob),) = drain(
        psm_pseudo_mask_iter(sample.brightfield, PSMConfig(**FAST, modality="brightfield"))
    )
    assert labels.shape == (96, 96) and np.isfinite(prob).all()


def test_psm_bad_input():
    with pytest.raises(InputError, match="smaller than the network minimum"):
        drain(psm_pseudo_mask_iter(np.ones((20, 20)), PSMConfig(**FAST)))
    with pytest.raises(InputError, match="constant"):
        drain(psm_pseudo_mask_iter(np.ones((64, 64)), PSMConfig(**FAST)))
    with pytest.raises(InputError, match="k must be"):
        PSMConfig(k=1)
    with pytest.raises(InputError, match="modality"):
        PSMConfig(modality="phase")


def test_pseudo_mask_configs_round_trip_and_check_ranges():
    from napari_selfsup_seg.pseudo._methods import METHODS

    for method in METHODS.values():
        cfg = method.config(threshold=None, min_size=5)
        assert method.config.from_dict(cfg.to_dict()) == cfg
        with pytest.raises(InputError):
            method.config(threshold=1.5)
        with pytest.raises(InputError):
            method.config.from_dict({"no_such_setting": 1})
