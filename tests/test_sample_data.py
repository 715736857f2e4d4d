"""Every sample opens through napari's File → Open Sample path with the layers it promises."""

from __future__ import annotations

import numpy as np
import pytest
from napari.layers import Image, Labels

SPLIT = {
    "brightfield": ("brightfield", 0, "brightfield"),
    "fluorescence": ("fluorescent", 1, "fluorescence"),
}


def _check_split_channels(viewer, n_planes: int | None) -> None:
    for name, (role, channel, channel_name) in SPLIT.items():
        layer = viewer.layers[name]
        assert isinstance(layer, Image) and layer.visible
        assert layer.metadata["role"] == role
        assert layer.metadata["channel"] == channel
        assert layer.metadata["channel_name"] == channel_name
        assert layer.data.dtype == np.uint16
        assert layer.data.shape == ((n_planes,) if n_planes else ()) + (256, 256)
        assert len(layer.metadata["axes"]) == layer.data.ndim


def _check_truth(viewer, name: str, like: str) -> np.ndarray:
    layer = viewer.layers[name]
    assert isinstance(layer, Labels)
    assert not layer.visible  # ground truth is there to compare with, hidden at first
    assert layer.data.shape == viewer.layers[like].data.shape
    return np.asarray(layer.data)


@pytest.mark.parametrize("key,n_planes", [("nuclei", None), ("stack", 4)])
def test_nuclei_samples(viewer, key, n_planes):
    viewer.open_sample("napari-selfsup-seg", key)
    assert [ly.name for ly in viewer.layers] == ["brightfield", "fluorescence", "true labels"]
    _check_split_channels(viewer, n_planes)
    truth = _check_truth(viewer, "true labels", "fluorescence")
    planes = truth.reshape(-1, 256, 256)
    assert all(p.max() >= 10 for p in planes)  # every field has nuclei
    # Nuclei are bright in fluorescence: the truth must point at the bright pixels.
    fluo = viewer.layers["fluorescence"].data
    assert fluo[truth > 0].mean() > 2 * fluo[truth == 0].mean()


def test_two_channel_sample(viewer):
    viewer.open_sample("napari-selfsup-seg", "two_channel")
    image = viewer.layers["nuclei 2-channel"]
    assert image.data.shape == (2, 256, 256)
    assert image.metadata["axes"] == "CYX"
    assert image.metadata["channel_names"] == ["brightfield", "fluorescence"]
    truth = viewer.layers["nuclei 2-channel true labels"]
    assert not truth.visible and truth.data.shape == (256, 256)


def test_artifact_sample_has_both_kinds_of_frames(viewer):
    viewer.open_sample("napari-selfsup-seg", "artifacts")
    names = [ly.name for ly in viewer.layers]
    assert names == ["brightfield", "fluorescence", "true labels", "true artifacts"]
    _check_split_channels(viewer, 8)
    _check_truth(viewer, "true labels", "fluorescence")
    art = _check_truth(viewer, "true artifacts", "fluorescence")
    has = art.reshape(8, -1).max(1) > 0
    assert 3 <= has.sum() <= 5  # about half the frames hold an artifact, the others none
    fluo = viewer.layers["fluorescence"].data.astype(np.float64)
    bf = viewer.layers["brightfield"].data.astype(np.float64)
    nuclei = viewer.layers["true labels"].data > 0
    for k in np.flatnonzero(has):
        on = art[k] > 0
        # Something a user can see in either channel: brighter than the nuclei in
        # fluorescence, darker than the rest of the field in brightfield.
        assert fluo[k][on].mean() > 1.3 * fluo[k][nuclei[k] & ~on].mean()
        assert bf[k][on].mean() < 0.9 * bf[k][~on].mean()
        # Larger than a nucleus: each artifact covers more pixels than the largest nucleus.
        sizes = np.bincount(art[k].ravel())[1:]
        largest = np.bincount(viewer.layers["true labels"].data[k].ravel())[1:].max()
        assert sizes[sizes > 0].min() > largest
    # Frames without an artifact still have nuclei, so nuclei alone do not tell them apart.
    assert all(nuclei[k].any() for k in range(8))
