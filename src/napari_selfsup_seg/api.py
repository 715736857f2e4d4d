"""The public Python API: everything the command line and the widgets do, as plain functions.

Names are resolved lazily, so ``import napari_selfsup_seg.api`` does not import torch until a
function that needs it is used. The imports under ``TYPE_CHECKING`` below are the one list of
public names: type checkers read them as they are, and at run time the module reads the same
block from its own source to know where each name lives.

Long jobs come in two forms: a generator that yields
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

import ast
import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the public names; ``as`` marks each as re-exported
    from ._config import IGNORE_LABEL as IGNORE_LABEL
    from ._config import ModelBundleConfig as ModelBundleConfig
    from ._config import ModelConfig as ModelConfig
    from ._config import NormalizationConfig as NormalizationConfig
    from ._config import PredictConfig as PredictConfig
    from ._config import TrainConfig as TrainConfig
    from ._progress import Progress as Progress
    from ._progress import RoundProgress as RoundProgress
    from ._progress import Stage as Stage
    from ._progress import TrainProgress as TrainProgress
    from ._progress import drain as drain
    from .batch._folder import segment_folder as segment_folder
    from .batch._folder import segment_folder_iter as segment_folder_iter
    from .batch._records import ImageOutcome as ImageOutcome
    from .batch._records import LargeImageOptions as LargeImageOptions
    from .batch._records import RunSummary as RunSummary
    from .batch._report import qc_report as qc_report
    from .data._diameter import diameter_of_labels as diameter_of_labels
    from .data._diameter import sizes_for_diameter as sizes_for_diameter
    from .data._normalize import percentile_normalize as percentile_normalize
    from .data._normalize import (
        transmitted_light_normalization as transmitted_light_normalization,
    )
    from .data._synthetic import make_sample as make_sample
    from .data._synthetic import make_sample_stack as make_sample_stack
    from .data._targets import make_targets as make_targets
    from .evaluation._metrics import evaluate as evaluate
    from .export._bioimageio import ExportedPackage as ExportedPackage
    from .export._bioimageio import export_bioimageio as export_bioimageio
    from .inference._embeddings import image_embeddings as image_embeddings
    from .inference._embeddings import write_embeddings_csv as write_embeddings_csv
    from .inference._postprocess import probabilities_to_instances as probabilities_to_instances
    from .inference._postprocess import split_touching as split_touching
    from .inference._predict import predict_iter as predict_iter
    from .inference._predict import predict_labels as predict_labels
    from .inference._predict import predict_probabilities as predict_probabilities
    from .inference._predict import predict_stack as predict_stack
    from .inference._predict import predict_stack_iter as predict_stack_iter
    from .io._image import ImageStack as ImageStack
    from .io._image import read_image as read_image
    from .io._tiff_write import write_float as write_float
    from .io._tiff_write import write_image as write_image
    from .io._tiff_write import write_labels as write_labels
    from .models._device import describe_device as describe_device
    from .models._device import pick_device as pick_device
    from .models._factory import LoadedModel as LoadedModel
    from .models._factory import build_model as build_model
    from .models._factory import build_unet as build_unet
    from .models._factory import load_model as load_model
    from .models._factory import save_model as save_model
    from .pseudo._cam import gradcam as gradcam
    from .pseudo._cam import scorecam as scorecam
    from .pseudo._cells import cell_pseudo_masks as cell_pseudo_masks
    from .pseudo._cells import cells_iter as cells_iter
    from .pseudo._marks import WeakMark as WeakMark
    from .pseudo._marks import scorecam_marks_iter as scorecam_marks_iter
    from .pseudo._methods import METHODS as METHODS
    from .pseudo._methods import PseudoMaskMethod as PseudoMaskMethod
    from .pseudo._methods import get_method as get_method
    from .pseudo._methods import register_method as register_method
    from .pseudo._psm import psm_iter as psm_iter
    from .pseudo._psm import psm_pseudo_mask as psm_pseudo_mask
    from .pseudo._psm import psm_pseudo_mask_iter as psm_pseudo_mask_iter
    from .pseudo._psm_config import PSMConfig as PSMConfig
    from .pseudo._result import PseudoMaskResult as PseudoMaskResult
    from .pseudo._scale import PlaneScale as PlaneScale
    from .pseudo._scale import analyse_plane as analyse_plane
    from .pseudo._scorecam import scorecam_map_iter as scorecam_map_iter
    from .pseudo._scorecam import scorecam_pseudo_masks as scorecam_pseudo_masks
    from .pseudo._scorecam import scorecam_pseudo_masks_iter as scorecam_pseudo_masks_iter
    from .pseudo._sweep import threshold_sweep as threshold_sweep
    from .pseudo._threshold import ThresholdConfig as ThresholdConfig
    from .pseudo._threshold import threshold_iter as threshold_iter
    from .pseudo._threshold import threshold_pseudo_mask as threshold_pseudo_mask
    from .pseudo._weak import ScoreCAMConfig as ScoreCAMConfig
    from .pseudo._weak import train_weak_classifier_iter as train_weak_classifier_iter
    from .train._pretrain import few_label_mask as few_label_mask
    from .train._pretrain import pretrain as pretrain
    from .train._pretrain import pretrain_iter as pretrain_iter
    from .train._pretrain_config import PretrainConfig as PretrainConfig
    from .train._supervised import train as train
    from .train._supervised import train_iter as train_iter
    from .workflows._correction import CorrectionSession as CorrectionSession
    from .workflows._correction import PixelEdit as PixelEdit
    from .workflows._fine_tune import FineTuneConfig as FineTuneConfig
    from .workflows._fine_tune import fine_tune as fine_tune
    from .workflows._fine_tune import fine_tune_iter as fine_tune_iter
    from .workflows._label_free import label_free as label_free
    from .workflows._label_free import label_free_iter as label_free_iter
    from .workflows._queue import QueueConfig as QueueConfig
    from .workflows._queue import QueueTile as QueueTile
    from .workflows._queue import correction_queue as correction_queue
    from .workflows._recipe_job import BrightfieldRecipeResult as BrightfieldRecipeResult
    from .workflows._recipe_job import brightfield_from_stain_iter as brightfield_from_stain_iter
    from .workflows._recipes import fluorescence_to_brightfield as fluorescence_to_brightfield
    from .workflows._recipes import (
        fluorescence_to_brightfield_iter as fluorescence_to_brightfield_iter,
    )
    from .workflows._review import BurstResult as BurstResult
    from .workflows._review import ReviewLoop as ReviewLoop
    from .workflows._self_training import LabelFreeResult as LabelFreeResult
    from .workflows._self_training import SelfTrainingConfig as SelfTrainingConfig
    from .workflows._self_training import self_train_iter as self_train_iter
    from .workflows._train_and_predict import TrainPredictResult as TrainPredictResult
    from .workflows._train_and_predict import split_frames as split_frames
    from .workflows._train_and_predict import train_and_predict_iter as train_and_predict_iter


def _public_names() -> dict[str, str]:
    """Name -> module (relative to the package), read from the ``TYPE_CHECKING`` block above."""
    tree = ast.parse(Path(__file__).read_text(encoding="utf-8"))
    block = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING"
    )
    return {
        alias.name: str(stmt.module)
        for stmt in block.body
        if isinstance(stmt, ast.ImportFrom)
        for alias in stmt.names
    }


_EXPORTS: dict[str, str] = _public_names()

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
