"""Label-free training from raw planes: threshold pseudo-masks, then self-training.

:func:`label_free_iter` makes threshold pseudo-masks of the planes (scale, polarity and
background from each plane) and hands them with their maps to
:func:`~napari_selfsup_seg.workflows._self_training.self_train_iter`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._config import ModelConfig, TrainConfig
from .._errors import InputError
from .._progress import Progress
from ._self_training import LabelFreeResult, SelfTrainingConfig, self_train_iter

if TYPE_CHECKING:
    from ..pseudo._threshold import ThresholdConfig


def label_free_iter(
    planes: Sequence[np.ndarray],
    threshold_config: ThresholdConfig | None = None,
    train_config: TrainConfig | None = None,
    model_config: ModelConfig | None = None,
    config: SelfTrainingConfig | None = None,
    stop: Callable[[], bool] | None = None,
    names: Sequence[str] | None = None,
    train_kwargs: dict[str, Any] | None = None,
) -> Generator[Progress, None, LabelFreeResult]:
    """Threshold pseudo-masks of ``planes``, then :func:`self_train_iter` (generator).

    Parameters
    ----------
    planes : sequence of numpy.ndarray
        Planes ``(Y, X)`` of the objects' stain (bright or dark objects, any scale).
    threshold_config : ThresholdConfig, optional
        Pseudo-mask recipe (default: everything estimated from each plane).
    train_config, model_config, config, stop, train_kwargs
        As for :func:`self_train_iter`. Without a ``normalization`` (or ``init`` model) in
        ``train_kwargs``, the percentiles follow the pseudo-masks'
        :func:`~napari_selfsup_seg.data._normalize.normalization_for_masks` (unchanged unless
        the objects cover under 4 % of a plane).
    names : sequence of str, optional
        One name per plane for messages.

    Returns
    -------
    LabelFreeResult
        With ``teacher`` set to the threshold pseudo-masks.
    """
    from ..data._normalize import normalization_for_masks
    from ..pseudo._threshold import ThresholdConfig, threshold_iter

    tcfg = threshold_config or ThresholdConfig()
    teacher = yield from threshold_iter(planes, tcfg, stop=stop, names=names)
    keep = [i for i, lab in enumerate(teacher.labels) if lab.any()]
    if not keep:
        raise InputError("the pseudo-masks hold no object in any plane")
    labels = [teacher.labels[i] for i in keep]
    extra = dict(train_kwargs or {})
    if extra.get("normalization") is None and extra.get("init") is None:
        # Sparse objects (a few cells in a wide field) need percentiles inside them.
        extra["normalization"] = normalization_for_masks(labels)
    provenance = {
        "pseudo_mask": "threshold",
        "threshold": dataclasses.asdict(tcfg),
        "diameters": [round(float(d), 2) for d in teacher.diameters],
        "polarities": list(teacher.polarities),
    }
    result = yield from self_train_iter(
        [teacher.planes[i] for i in keep],
        labels,
        [teacher.maps[i] for i in keep],
        train_config,
        model_config,
        config,
        provenance,
        stop,
        extra,
    )
    result.teacher = teacher
    return result


def label_free(
    planes: Sequence[np.ndarray],
    *,
    model_dir: str | os.PathLike | None = None,
    callback: Callable[[Progress], Any] | None = None,
    **kwargs: Any,
) -> LabelFreeResult:
    """Run :func:`label_free_iter` to the end and save the model in ``model_dir`` if given.

    ``callback`` is called with every progress record; ``**kwargs`` are the other arguments of
    :func:`label_free_iter` (configs, ``stop``, ``names``, ``train_kwargs``).

    Returns
    -------
    LabelFreeResult

    Examples
    --------
    >>> from napari_selfsup_seg import api
    >>> planes = [api.make_sample(seed=s).fluorescence for s in range(2)]
    >>> result = api.label_free(planes)                                # doctest: +SKIP
    >>> labels = api.predict_labels(result.model, planes[0])           # doctest: +SKIP
    """
    from .._progress import drain

    result = drain(label_free_iter(planes, **kwargs), callback)
    if model_dir is not None:
        result.model.save(model_dir)
    return result
