"""The public Python API: everything the command line and the widgets do, as plain functions.

Names are resolved lazily, so ``import napari_selfsup_seg.api`` does not import torch until a
function that needs it is used. Long jobs come in two forms: a generator that yields
:class:`~napari_selfsup_seg.progress.Progress` records and returns the result (``*_iter``, the
form the widgets use), and a plain function that runs it to the end.

Examples
--------
>>> from napari_selfsup_seg import api
>>> sample = api.make_sample(seed=0)
>>> labels, prob = api.threshold_pseudo_mask(sample.fluorescence)
>>> model = api.train([sample.brightfield], [labels], steps=50)       # doctest: +SKIP
>>> pred = api.predict_labels(model, sample.brightfield)              # doctest: +SKIP
>>> api.evaluate([pred], [sample.labels])["ap"]["0.5"]                # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    # I/O and normalisation
    "ImageStack": "io",
    "read_image": "io",
    "write_labels": "io",
    "write_float": "io",
    "write_image": "io",
    "NormalizationConfig": "normalize",
    "percentile_normalize": "normalize",
    # configs, models
    "ModelConfig": "config",
    "TrainConfig": "config",
    "PredictConfig": "config",
    "ModelBundleConfig": "config",
    "build_model": "models",
    "pick_device": "models",
    "describe_device": "models",
    "save_model": "models",
    "load_model": "models",
    "LoadedModel": "models",
    # sample data
    "make_sample": "synthetic",
    "make_sample_stack": "synthetic",
    # pseudo-masks
    "ThresholdConfig": "pseudo.threshold",
    "threshold_pseudo_mask": "pseudo.threshold",
    "threshold_sweep": "pseudo.sweep",
    "PSMConfig": "pseudo.psm",
    "psm_pseudo_mask": "pseudo.psm",
    "psm_pseudo_mask_iter": "pseudo.psm",
    "ScoreCAMConfig": "pseudo.scorecam",
    "scorecam_pseudo_masks": "pseudo.scorecam",
    "scorecam_pseudo_masks_iter": "pseudo.scorecam",
    "scorecam": "pseudo.scorecam",
    "gradcam": "pseudo.scorecam",
    "fluorescence_to_brightfield": "recipes",
    # training, prediction, post-processing
    "make_targets": "targets",
    "train": "training",
    "train_iter": "training",
    "predict_probabilities": "predict",
    "predict_labels": "predict",
    "predict_iter": "predict",
    "predict_stack": "predict",
    "predict_stack_iter": "predict",
    "probabilities_to_instances": "postprocess",
    "split_touching": "postprocess",
    # metrics
    "evaluate": "metrics",
    # batches, pretraining
    "segment_folder": "batch",
    "segment_folder_iter": "batch",
    "pretrain": "pretrain",
    "pretrain_iter": "pretrain",
    "PretrainConfig": "pretrain",
    "few_label_mask": "pretrain",
    "image_embeddings": "embeddings",
    "write_embeddings_csv": "embeddings",
    # progress
    "Progress": "progress",
    "TrainProgress": "progress",
    "drain": "progress",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f"napari_selfsup_seg.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
