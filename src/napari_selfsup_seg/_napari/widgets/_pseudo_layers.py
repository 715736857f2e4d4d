"""The layers a Pseudo-masks run is shown in (built on the GUI thread from the worker's result).

Each method writes its own Image layer ``"<source> <method> map"`` (hidden) and Labels layer
``"<source> pseudo (<method>)"``; planes the run did not cover stay 0.
"""

from __future__ import annotations

import numpy as np

from ...pseudo._result import PseudoMaskResult, scale_record
from ._choices import STATE_EVENTS
from ._layers import PLANES_KEY, SOURCE_KEY, put_image, put_labels


def put_result_layers(viewer, result: PseudoMaskResult, context: dict):
    """Show the maps and labels of ``result`` (``len(result) > 0``) as the run's two layers.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
    result : PseudoMaskResult
        One entry per plane of ``context["planes"]`` (fewer when the run was stopped).
    context : dict
        ``source`` (layer name), ``planes``, ``n_planes``, ``stack_shape``, ``axes``,
        ``provenance`` and ``method``, as the widget's ``make_job`` builds it.

    Returns
    -------
    napari.layers.Labels
        The layer holding the pseudo-masks.
    """
    n = len(result)
    idx = context["planes"][:n]
    shape = (context["n_planes"], *result.labels[0].shape)
    lab_full, prob_full = np.zeros(shape, np.int32), np.zeros(shape, np.float32)
    lab_full[idx], prob_full[idx] = np.stack(result.labels), np.stack(result.maps)
    name = context["source"]
    src = viewer.layers[name] if name in viewer.layers else None
    meta = {
        "axes": context["axes"],
        SOURCE_KEY: name,
        PLANES_KEY: list(idx),
        "provenance": {**context["provenance"], **scale_record(result), **result.record},
        "path": src.metadata.get("path") if src is not None else None,
    }
    method = context["method"]
    put_image(
        viewer,
        f"{name} {method} map",
        prob_full.reshape(context["stack_shape"]),
        like=src,
        colormap="magma",
        blending="additive",
        opacity=0.5,
        visible=False,
        metadata=dict(meta),
    )
    labels = put_labels(
        viewer,
        f"{name} pseudo ({method})",
        lab_full.reshape(context["stack_shape"]),
        like=src,
        metadata=dict(meta),
    )
    STATE_EVENTS.changed.emit()  # a layer updated in place: e.g. the Train widget's seed layer
    return labels
