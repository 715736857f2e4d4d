"""napari sample data: generated nuclei with paired brightfield/fluorescence and true labels."""

from __future__ import annotations

from typing import Any

import numpy as np

from .synthetic import make_sample, make_sample_stack

LayerData = tuple[np.ndarray, dict[str, Any], str]


def _channel_layers(bf: np.ndarray, fluo: np.ndarray, labels: np.ndarray, axes: str):
    meta = {"path": None, "axes": axes, "pixel_size": None}
    return [
        (
            bf,
            {
                "name": "brightfield",
                "colormap": "gray",
                "metadata": {**meta, "role": "brightfield"},
            },
            "image",
        ),
        (
            fluo,
            {
                "name": "fluorescence",
                "colormap": "green",
                "blending": "additive",
                "metadata": {**meta, "role": "fluorescent"},
            },
            "image",
        ),
        (labels, {"name": "true labels", "visible": False, "metadata": dict(meta)}, "labels"),
    ]


def sample_nuclei() -> list[LayerData]:
    """One 256×256 field: brightfield and fluorescence Image layers and the true Labels."""
    s = make_sample((256, 256), seed=0)
    return _channel_layers(s.brightfield, s.fluorescence, s.labels, "YX")


def sample_two_channel() -> list[LayerData]:
    """The same kind of field as one ``(2, Y, X)`` image (channel 0 brightfield) and its labels."""
    s = make_sample((256, 256), seed=1)
    meta = {"path": None, "axes": "CYX", "pixel_size": None}
    return [
        (s.stack(), {"name": "nuclei 2-channel", "metadata": meta}, "image"),
        (s.labels, {"name": "nuclei 2-channel true labels", "visible": False}, "labels"),
    ]


def sample_stack() -> list[LayerData]:
    """Four independent 256×256 fields as a Z stack, split into brightfield/fluorescence."""
    image, labels = make_sample_stack(4, (256, 256), seed=10)
    return _channel_layers(image[:, 0], image[:, 1], labels, "ZYX")
