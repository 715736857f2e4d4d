"""The public Python API: everything the command line and the widgets do, as plain functions.

Names are resolved lazily, so ``import napari_selfsup_seg.api`` does not import torch until a
function that needs it is used. Long jobs come in two forms: a generator that yields
:class:`~napari_selfsup_seg._progress.Progress` records and returns the result (``*_iter``, the
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
    "ImageStack": "io._image",
    "read_image": "io._image",
    "write_labels": "io._tiff_write",
    "write_float": "io._tiff_write",
    "write_image": "io._tiff_write",
    "NormalizationConfig": "data._normalize",
    "percentile_normalize": "data._normalize",
    # configs, models
    "ModelConfig": "_config",
    "TrainConfig": "_config",
    "PredictConfig": "_config",
    "ModelBundleConfig": "_config",
    "build_model": "models._factory",
    "pick_device": "models._factory",
    "describe_device": "models._factory",
    "save_model": "models._factory",
    "load_model": "models._factory",
    "LoadedModel": "models._factory",
    # sample data
    "make_sample": "data._synthetic",
    "make_sample_stack": "data._synthetic",
    # pseudo-masks
    "ThresholdConfig": "pseudo._threshold",
    "threshold_pseudo_mask": "pseudo._threshold",
    "threshold_sweep": "pseudo._sweep",
    "PSMConfig": "pseudo._psm",
    "psm_pseudo_mask": "pseudo._psm",
    "psm_pseudo_mask_iter": "pseudo._psm",
    "ScoreCAMConfig": "pseudo._scorecam",
    "scorecam_pseudo_masks": "pseudo._scorecam",
    "scorecam_pseudo_masks_iter": "pseudo._scorecam",
    "scorecam": "pseudo._scorecam",
    "gradcam": "pseudo._scorecam",
    "fluorescence_to_brightfield": "workflows._recipes",
    # training, prediction, post-processing
    "make_targets": "data._targets",
    "train": "train._supervised",
    "train_iter": "train._supervised",
    "predict_probabilities": "inference._predict",
    "predict_labels": "inference._predict",
    "predict_iter": "inference._predict",
    "predict_stack": "inference._predict",
    "predict_stack_iter": "inference._predict",
    "probabilities_to_instances": "inference._postprocess",
    "split_touching": "inference._postprocess",
    # metrics
    "evaluate": "evaluation._metrics",
    # batches, pretraining
    "segment_folder": "batch._folder",
    "segment_folder_iter": "batch._folder",
    "pretrain": "train._pretrain",
    "pretrain_iter": "train._pretrain",
    "PretrainConfig": "train._pretrain",
    "few_label_mask": "train._pretrain",
    "image_embeddings": "inference._embeddings",
    "write_embeddings_csv": "inference._embeddings",
    # progress
    "Progress": "_progress",
    "TrainProgress": "_progress",
    "drain": "_progress",
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
