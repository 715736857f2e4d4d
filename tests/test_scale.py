"""Object scale, polarity and background of the threshold teacher, on generated discs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from napari_selfsup_seg._errors import InputError
from napari_selfsup_seg._progress import drain
from napari_selfsup_seg.cli.main import main
from napari_selfsup_seg.pseudo._scale import analyse_plane, detect_polarity
from napari_selfsup_seg.pseudo._threshold import ThresholdConfig, threshold_iter


def discs(diameter: float, shape=(256, 256), seed=0, halo=False):
    """Bright discs of one ``diameter`` on a dark noisy background, and their labels."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    labels = np.zeros(shape, np.int32)
    step = int(diameter * 1.6) + 4
    k = 0
    for cy in range(step // 2 + 2, shape[0] - step // 2, step):
        for cx in range(step // 2 + 2, shape[1] - step // 2, step):
            k += 1
            jitter = rng.uniform(-0.1, 0.1) * diameter
            r = (diameter + jitter) / 2
            labels[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = k
    image = np.where(labels > 0, 1.0, 0.1) + rng.normal(0, 0.03, shape)
    if halo:
        from scipy import ndimage as ndi

        ring = ndi.binary_dilation(labels > 0, iterations=3) & (labels == 0)
        image = np.where(labels > 0, 0.1, 0.5) + 0.6 * ring + rng.normal(0, 0.03, shape)
    return image.astype(np.float32), labels


@pytest.mark.parametrize("diameter", [8, 20, 50])
def test_diameter_estimate_within_a_quarter(diameter):
    image, _ = discs(diameter, shape=(256, 256) if diameter < 50 else (400, 400))
    scale = analyse_plane(image)
    assert scale.polarity == "bright"
    assert abs(scale.diameter / diameter - 1) < 0.25, scale.diameter


def test_polarity_bright_and_dark():
    bright, _ = discs(16)
    assert detect_polarity(bright) == "bright"
    dark, labels = discs(16, halo=True)
    assert detect_polarity(dark) == "dark"
    scale = analyse_plane(dark)
    assert scale.polarity == "dark"
    assert abs(scale.diameter / 16 - 1) < 0.25
    # Dark objects come out as objects, not the halos between them.
    result = drain(threshold_iter(dark, ThresholdConfig()))
    assert result.polarities == ["dark"]
    assert abs(int(result.labels[0].max()) - int(labels.max())) <= 1


def test_large_discs_are_not_cut_into_fragments():
    image, labels = discs(50, shape=(400, 400))
    rng = np.random.default_rng(1)
    image = image + 0.25 * (labels > 0) * rng.normal(0, 1, image.shape).astype(np.float32)
    result = drain(threshold_iter(image, ThresholdConfig()))
    assert int(result.labels[0].max()) == int(labels.max())


def test_uneven_background_is_subtracted():
    image, labels = discs(16)
    ramp = np.linspace(0, 2.0, image.shape[1], dtype=np.float32)[None, :]
    uneven = image + ramp  # the right-hand background is brighter than the left-hand discs
    result = drain(threshold_iter(uneven, ThresholdConfig()))
    found = result.labels[0] > 0
    dice = 2 * (found & (labels > 0)).sum() / (found.sum() + (labels > 0).sum())
    assert dice > 0.9
    assert abs(int(result.labels[0].max()) - int(labels.max())) <= 1
    plain = drain(threshold_iter(uneven, ThresholdConfig(background=False)))
    plain_found = plain.labels[0] > 0
    assert (plain_found & (labels == 0)).sum() > 10 * (found & (labels == 0)).sum()


def test_given_diameter_and_polarity_are_used():
    image, _ = discs(20)
    result = drain(threshold_iter(image, ThresholdConfig(diameter=33.0, polarity="bright")))
    assert result.diameters == [33.0]
    assert result.polarities == ["bright"]
    # The slider's recut labels the plane as the run did.
    assert np.array_equal(result.recut(0, result.thresholds[0]), result.labels[0])
    with pytest.raises(InputError, match="polarity"):
        ThresholdConfig(polarity="grey")
    with pytest.raises(InputError, match="diameter"):
        ThresholdConfig(diameter=0.0)


def test_cli_diameter_overrides_estimate(tmp_path, capsys):
    image, _ = discs(20)
    path = tmp_path / "discs.tif"
    tifffile.imwrite(path, (image * 1000).astype(np.uint16))
    args = ["pseudo-mask", "--method", "threshold", "--quiet", "--json", str(path)]
    main([*args, "--out", str(tmp_path / "auto")])
    auto = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert abs(auto["outputs"][0]["diameters"][0] / 20 - 1) < 0.25
    main([*args, "--out", str(tmp_path / "given"), "--diameter", "40", "--polarity", "bright"])
    given = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert given["outputs"][0]["diameters"] == [40.0]
    assert given["outputs"][0]["polarities"] == ["bright"]
