"""napari sample data: generated fields with paired brightfield/fluorescence and their truth.

Split-channel samples give each Image layer ``metadata["role"]`` (``"brightfield"`` or
``"fluorescent"``, as the Data widget sets it), ``metadata["channel"]`` (its index in the
equivalent 2-channel file: 0 brightfield, 1 fluorescence) and ``metadata["channel_name"]``.
Ground truth comes as hidden Labels layers whose names start with ``"true"``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data._synthetic import (
    BRIGHTFIELD_CHANNEL,
    FLUORESCENCE_CHANNEL,
    make_sample,
    make_sample_stack,
)
from ..data._synthetic_artifacts import make_artifact_fields

LayerData = tuple[np.ndarray, dict[str, Any], str]

CHANNEL_NAMES = {BRIGHTFIELD_CHANNEL: "brightfield", FLUORESCENCE_CHANNEL: "fluorescence"}


def _meta(axes: str) -> dict[str, Any]:
    return {"path": None, "axes": axes, "pixel_size": None}


def _channel_layers(bf: np.ndarray, fluo: np.ndarray, axes: str) -> list[LayerData]:
    """Brightfield and fluorescence Image layers with their role, channel and channel name."""
    meta = _meta(axes)
    bf_meta = {"role": "brightfield", "channel": BRIGHTFIELD_CHANNEL, "channel_name": "brightfield"}
    fl_meta = {
        "role": "fluorescent",
        "channel": FLUORESCENCE_CHANNEL,
        "channel_name": "fluorescence",
    }
    return [
        (bf, {"name": "brightfield", "colormap": "gray", "metadata": {**meta, **bf_meta}}, "image"),
        (
            fluo,
            {
                "name": "fluorescence",
                "colormap": "green",
                "blending": "additive",
                "metadata": {**meta, **fl_meta},
            },
            "image",
        ),
    ]


def _truth(labels: np.ndarray, name: str, axes: str) -> LayerData:
    """A hidden Labels layer holding ground truth."""
    return labels, {"name": name, "visible": False, "metadata": _meta(axes)}, "labels"


def sample_nuclei() -> list[LayerData]:
    """One 256×256 field: brightfield and fluorescence Image layers and the true Labels."""
    s = make_sample((256, 256), seed=0)
    return [
        *_channel_layers(s.brightfield, s.fluorescence, "YX"),
        _truth(s.labels, "true labels", "YX"),
    ]


def sample_two_channel() -> list[LayerData]:
    """The same kind of field as one ``(2, Y, X)`` image (channel 0 brightfield) and its labels."""
    s = make_sample((256, 256), seed=1)
    meta = {**_meta("CYX"), "channel_names": [CHANNEL_NAMES[0], CHANNEL_NAMES[1]]}
    return [
        (s.stack(), {"name": "nuclei 2-channel", "metadata": meta}, "image"),
        _truth(s.labels, "nuclei 2-channel true labels", "YX"),
    ]


def sample_stack() -> list[LayerData]:
    """Four independent 256×256 fields as a Z stack, split into brightfield/fluorescence."""
    image, labels = make_sample_stack(4, (256, 256), seed=10)
    return [
        *_channel_layers(image[:, 0], image[:, 1], "ZYX"),
        _truth(labels, "true labels", "ZYX"),
    ]


def sample_artifacts() -> list[LayerData]:
    """Eight 256×256 fields as a Z stack; the odd planes (1, 3, 5, 7) hold debris or fibres.

    For Score-CAM from weak labels: mark planes with debris "has it" and the others "has not".
    Layers: brightfield and fluorescence (the debris shows in both), the hidden true nucleus
    labels and the hidden true artifacts (one instance per clump or fibre).
    """
    a = make_artifact_fields(8, (256, 256), seed=20)
    return [
        *_channel_layers(a.brightfield, a.fluorescence, "ZYX"),
        _truth(a.labels, "true labels", "ZYX"),
        _truth(a.artifacts, "true artifacts", "ZYX"),
    ]
