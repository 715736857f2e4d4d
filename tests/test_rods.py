"""Elongated objects (rods, e.g. bacteria in phase contrast): scale, teacher and prediction.

Generated planes: dark rods with bright halos, some lying side by side with a thin gap, and
dark specks of debris, as in phase-contrast images of bacteria.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from napari_selfsup_seg._progress import drain
from napari_selfsup_seg.evaluation._metrics import evaluate
from napari_selfsup_seg.inference._postprocess import probabilities_to_instances
from napari_selfsup_seg.inference._rods import object_shape, rod_seeds
from napari_selfsup_seg.pseudo._scale import analyse_plane
from napari_selfsup_seg.pseudo._threshold import ThresholdConfig, threshold_iter

WIDTH, LENGTH = 12, 52


def capsule(shape, y0, x0, angle, width=WIDTH, length=LENGTH):
    """Mask of a rod: points within ``width / 2`` of a segment ``length - width`` long."""
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(float)
    half = (length - width) / 2
    dy, dx = np.sin(angle), np.cos(angle)
    t = np.clip((yy - y0) * dy + (xx - x0) * dx, -half, half)
    return (yy - y0 - t * dy) ** 2 + (xx - x0 - t * dx) ** 2 <= (width / 2) ** 2


def rods(seed=0, shape=(256, 256), specks=25):
    """Dark rods with bright halos (pairs side by side 2 px apart) and dark specks."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(shape, np.int32)
    k = 0
    for cy, cx in [(50, 60), (60, 180), (150, 70), (170, 190), (225, 120)]:
        angle = rng.uniform(0, np.pi)
        # A pair of touching rods side by side: centres one width and 2 px apart.
        n = 2 if k < 6 else 1
        for j in range(n):
            off = (j - (n - 1) / 2) * (WIDTH + 2)
            y, x = cy + off * np.cos(angle), cx - off * np.sin(angle)
            k += 1
            labels[capsule(shape, y, x, angle) & (labels == 0)] = k
    objects = labels > 0
    halo = ndi.binary_dilation(objects, iterations=4) & ~objects
    image = np.where(objects, 0.15, 0.5) + 0.35 * halo
    for _ in range(specks):
        y, x = rng.integers(5, shape[0] - 5), rng.integers(5, shape[1] - 5)
        if not ndi.binary_dilation(halo | objects, iterations=3)[y, x]:
            image[y - 2 : y + 3, x - 2 : x + 3] = 0.1
    image = ndi.gaussian_filter(image, 1.0) + rng.normal(0, 0.02, shape)
    return image.astype(np.float32), labels


def equivalent_diameter(labels):
    areas = np.bincount(labels.ravel())[1:]
    return float(np.median(2 * np.sqrt(areas[areas > 0] / np.pi)))


def test_object_shape_tells_rods_from_discs():
    _, labels = rods()
    shape = object_shape(labels > 0)
    assert shape is not None and shape.elongated
    assert abs(shape.width / WIDTH - 1) < 0.25, shape
    yy, xx = np.mgrid[:128, :128]
    discs = ((yy % 32 - 16) ** 2 + (xx % 32 - 16) ** 2) <= 100
    shape = object_shape(discs)
    assert shape is not None and not shape.elongated
    assert object_shape(np.zeros((8, 8), bool)) is None


def test_rod_scale_ignores_specks_and_measures_width_and_area():
    image, labels = rods()
    scale = analyse_plane(image)
    assert scale.polarity == "dark"
    assert scale.width is not None and abs(scale.width / WIDTH - 1) < 1 / 3, scale.width
    true = equivalent_diameter(labels)
    assert abs(scale.diameter / true - 1) < 0.25, (scale.diameter, true)


def test_teacher_cuts_one_object_per_rod():
    image, labels = rods(seed=1)
    result = drain(threshold_iter(image, ThresholdConfig()))
    scores = evaluate(result.labels[0], labels)
    assert scores["ap"]["0.5"] >= 0.8, scores


def test_given_diameter_without_width_keeps_compact_objects():
    image, _ = rods()
    assert analyse_plane(image, diameter=30.0).width is None
    assert analyse_plane(image, diameter=30.0, width=12.0).width == 12.0


def test_prediction_keeps_each_rod_whole():
    _, labels = rods(specks=0)
    objects = labels > 0
    edge = objects & ~ndi.binary_erosion(objects | (labels == 0), iterations=1)
    edge |= objects & (ndi.grey_dilation(labels, 3) != ndi.grey_erosion(labels, 3))
    interior = objects & ~edge
    probs = np.stack([~objects, interior, edge]).astype(np.float32)
    out = probabilities_to_instances(probs)
    assert int(out.max()) == int(labels.max())
    assert evaluate(out, labels)["ap"]["0.5"] >= 0.9


def test_rod_seeds_split_a_rod_at_its_neck_only():
    shape = (96, 160)
    one = capsule(shape, 48, 50, 0.0) | capsule(shape, 48, 99, 0.0)
    seeds = rod_seeds(one, WIDTH)
    assert int(seeds.max()) == 2
    assert int(rod_seeds(capsule(shape, 48, 80, 0.0, length=100), WIDTH).max()) == 1


def test_sparse_objects_move_the_normalisation_percentiles_inside_them():
    from napari_selfsup_seg._config import NormalizationConfig
    from napari_selfsup_seg.data._normalize import normalization_for_masks, percentile_normalize

    # A few dark rods in a wide field, then the same rods crowded: with the default
    # percentiles the rods come out at different values in the two planes.
    sparse = np.zeros((300, 300), np.int32)
    sparse[100:112, 100:150] = 1
    crowded = np.zeros((300, 300), np.int32)
    for k in range(12):
        crowded[20 + 20 * k : 32 + 20 * k, 40:240] = k + 1
    rng = np.random.default_rng(0)
    planes = [
        np.where(m > 0, 3000.0, 10000.0) + rng.normal(0, 200, m.shape) for m in (sparse, crowded)
    ]
    default = NormalizationConfig()
    assert normalization_for_masks([crowded]) == default
    adapted = normalization_for_masks([sparse, crowded])
    assert adapted.lower_percentile < 100 * (sparse > 0).mean() < default.lower_percentile

    def rod_level(norm):
        return [
            float(np.median(percentile_normalize(p, norm)[m > 0]))
            for p, m in zip(planes, (sparse, crowded))
        ]

    before, after = rod_level(default), rod_level(adapted)
    assert abs(before[0] - before[1]) > 0.3
    assert abs(after[0] - after[1]) < 0.1
    assert normalization_for_masks([np.zeros((8, 8), int)]) == default


def test_cli_width_and_diameter_give_the_teacher_rods(tmp_path, capsys):
    """``pseudo-mask --diameter D --width W`` on a file: the rods the API gives with both
    (a given diameter alone keeps compact objects); a width out of range is one clear line."""
    import tifffile

    from napari_selfsup_seg.cli.main import main

    image, _labels = rods(seed=1)
    path = tmp_path / "rods.tif"
    tifffile.imwrite(path, image)
    args = ["pseudo-mask", "--method", "threshold", str(path), "--diameter", "28"]
    assert main([*args, "--width", "12", "--out", str(tmp_path / "out"), "--quiet"]) == 0
    cli = tifffile.imread(tmp_path / "out" / "rods_pseudo.tif")
    api = drain(threshold_iter(image, ThresholdConfig(diameter=28.0, width=12.0))).labels[0]
    np.testing.assert_array_equal(cli, api)
    capsys.readouterr()
    assert main([*args, "--width", "0.5", "--out", str(tmp_path / "bad"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "width" in err[0]
