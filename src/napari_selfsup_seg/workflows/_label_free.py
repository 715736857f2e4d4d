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
    seed_planes: Sequence[np.ndarray] | None = None,
) -> Generator[Progress, None, LabelFreeResult]:
    """Threshold pseudo-masks of ``planes``, then :func:`self_train_iter` (generator).

    Parameters
    ----------
    planes : sequence of numpy.ndarray
        Planes ``(Y, X)`` of the objects' stain (bright or dark objects, any scale).
    threshold_config : ThresholdConfig, optional
        Pseudo-mask recipe (default: everything estimated from each plane). With
        ``target="cells"`` the pseudo-masks are whole cells of ``planes``
        (:func:`~napari_selfsup_seg.pseudo._cells.cells_iter`).
    seed_planes : sequence of numpy.ndarray, optional
        A nuclear stain of the same planes, for ``target="cells"``: its nuclei seed the cells,
        the network reads it as its second input, and the model records it as its seed channel
        (prediction grows every cell from a nucleus, as the pseudo-masks did).
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
    from ..pseudo._cells import threshold_or_cells_iter
    from ..pseudo._threshold import ThresholdConfig

    tcfg = threshold_config or ThresholdConfig()
    teacher = yield from threshold_or_cells_iter(
        planes, tcfg, stop=stop, names=names, seeds=seed_planes
    )
    keep = [i for i, lab in enumerate(teacher.labels) if lab.any()]
    if not keep:
        raise InputError("the pseudo-masks hold no object in any plane")
    labels = [teacher.labels[i] for i in keep]
    inputs = list(teacher.planes)
    extra = dict(train_kwargs or {})
    if seed_planes is not None:
        inputs = [np.stack([c, n]).astype(np.float32) for c, n in zip(inputs, seed_planes)]
        extra.update(seed_channel=1, seed_diameter=teacher.record.get("seed_diameter"))
    if extra.get("normalization") is None and extra.get("init") is None:
        # Sparse objects (a few cells in a wide field) need percentiles inside them.
        extra["normalization"] = normalization_for_masks(labels)
    provenance = {
        "pseudo_mask": "threshold" if tcfg.target == "nuclei" else "threshold cells",
        "threshold": dataclasses.asdict(tcfg),
        "diameters": [round(float(d), 2) for d in teacher.diameters],
        "polarities": list(teacher.polarities),
    }
    result = yield from self_train_iter(
        [inputs[i] for i in keep],
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
