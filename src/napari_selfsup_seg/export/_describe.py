"""The bioimage.io model description (spec 0.5) of a model, and the files it points at.

:func:`describe_model` writes the test tensors, the cover and the README into the package's
staging folder and builds the description from an RDF dict with
:func:`bioimageio.spec.build_description`. The description names no web address (only DOIs),
so validating it makes no network request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..models._factory import LoadedModel
from ..models._folder import CONFIG_FILE, LOG_FILE, WEIGHTS_FILE
from ..models._package import PACKAGE_KEY, PACKAGE_VERSION
from ._document import cover_image, method_of, provenance_summary, readme_text

TORCHSCRIPT_FILE = "weights.torchscript.pt"
CLASS_NAMES = ("background", "interior", "boundary")
COVER_HEIGHT = 256

#: Publications behind the network and each pseudo-mask method (DOIs only: no web requests).
_UNET = (
    "Ronneberger, Fischer and Brox. U-Net: convolutional networks for biomedical image "
    "segmentation. MICCAI 2015.",
    "10.1007/978-3-319-24574-4_28",
)
_METHOD_CITES = {
    "fluorescence_to_brightfield": (
        "Fishman et al. Practical segmentation of nuclei in brightfield cell images with neural "
        "networks trained on fluorescently labelled samples. J. Microscopy 2021.",
        "10.1111/jmi.13038",
    ),
    "psm": (
        "Chen et al. Segment any cell: prior self-activation maps for nuclei segmentation "
        "without labels. MICCAI 2023 (arXiv 2308.11144).",
        "10.48550/arXiv.2308.11144",
    ),
}


def _channel_names(model: LoadedModel) -> list[str]:
    cfg = model.config
    n = cfg.model.in_channels
    if cfg.input_channel_names:
        return list(cfg.input_channel_names)
    if cfg.input_channels is not None:
        return [f"channel{c}" for c in cfg.input_channels]
    return ["image"] if n == 1 else [f"channel{i}" for i in range(n)]


def _class_names(n: int) -> list[str]:
    return list(CLASS_NAMES) if n == len(CLASS_NAMES) else [f"class{i}" for i in range(n)]


def _cites(model: LoadedModel) -> list[dict[str, str]]:
    method = method_of(model.config.provenance or {}) or ""
    found = [_UNET] + ([_METHOD_CITES[method]] if method in _METHOD_CITES else [])
    return [{"text": text, "doi": doi} for text, doi in found]


def _space(axis: str, step: int) -> dict[str, Any]:
    return {"type": "space", "id": axis, "size": {"min": 4 * step, "step": step}}


def _weights(model: LoadedModel, authors: list[dict], traced: bool) -> dict[str, Any]:
    import torch

    version = torch.__version__.split("+")[0]
    m = model.config.model
    kwargs = {
        "encoder": m.encoder,
        "encoder_depth": m.encoder_depth,
        "decoder_channels": list(m.decoder_channels or ()),
        "in_channels": m.in_channels,
        "classes": m.classes,
    }
    weights: dict[str, Any] = {
        "pytorch_state_dict": {
            "source": WEIGHTS_FILE,
            "authors": authors,
            "architecture": {
                "import_from": "napari_selfsup_seg.api",
                "callable": "build_unet",
                "kwargs": kwargs,
            },
            "pytorch_version": version,
            "comment": f"trained with napari-selfsup-seg {model.config.package_version}",
        }
    }
    if traced:
        weights["torchscript"] = {
            "source": TORCHSCRIPT_FILE,
            "parent": "pytorch_state_dict",
            "pytorch_version": version,
            "comment": "traced from the state dict weights at export",
        }
    return weights


def describe_model(
    folder: Path,
    model: LoadedModel,
    name: str,
    authors: list[str],
    license: str,
    raw: np.ndarray,
    x: np.ndarray,
    probabilities: np.ndarray,
    has_log: bool,
    traced: bool,
):
    """Write the package's files into ``folder`` and build its description.

    Parameters
    ----------
    folder : pathlib.Path
        Staging folder holding ``weights.pt``, ``config.json`` (and the training log and
        TorchScript weights when ``has_log`` and ``traced``); the other files are added here.
    model : LoadedModel
    name : str
    authors : list of str
    license : str
        SPDX identifier.
    raw, x : numpy.ndarray
        Test input ``(1, C, Y, X)``, as given and normalised.
    probabilities : numpy.ndarray
        Expected output ``(1, classes, Y, X)``.
    has_log, traced : bool

    Returns
    -------
    bioimageio.spec.model.v0_5.ModelDescr or bioimageio.spec.InvalidDescr
    """
    from bioimageio.spec import ValidationContext, build_description
    from bioimageio.spec.model.v0_5 import ModelDescr
    from PIL import Image

    cfg = model.config
    norm = cfg.normalization
    step = 2**cfg.model.encoder_depth
    people = [{"name": a} for a in authors]
    channels = _channel_names(model)
    classes = _class_names(cfg.model.classes)
    formats = ["pytorch_state_dict"] + (["torchscript"] if traced else [])
    np.save(folder / "test_input.npy", raw.astype(np.float32))
    np.save(folder / "test_output.npy", probabilities.astype(np.float32))
    cover = Image.fromarray(cover_image(x[0, 0], probabilities[0]))
    if cover.height > COVER_HEIGHT:  # bioimage.io asks for covers under 500 kB
        width = round(cover.width * COVER_HEIGHT / cover.height)
        cover = cover.resize((width, COVER_HEIGHT), Image.Resampling.LANCZOS)
    cover.save(folder / "cover.png")
    (folder / "README.md").write_text(
        readme_text(name, cfg, formats, raw.shape, channels, classes, model.log if has_log else []),
        encoding="utf-8",
    )
    preprocessing: list[dict[str, Any]] = [
        {"id": "ensure_dtype", "kwargs": {"dtype": "float32"}},
        {
            "id": "scale_range",
            "kwargs": {
                "axes": ["y", "x"],
                "min_percentile": norm.lower_percentile,
                "max_percentile": norm.upper_percentile,
            },
        },
    ]
    if norm.clip:
        preprocessing.append(
            {"id": "clip", "kwargs": {"min": -norm.clip_margin, "max": 1 + norm.clip_margin}}
        )
    rdf: dict[str, Any] = {
        "type": "model",
        "format_version": ModelDescr.implemented_format_version,
        "name": name,
        "description": (
            "U-Net instance segmentation (background/interior/boundary probabilities) of 2D "
            "microscopy planes, exported by napari-selfsup-seg. " + provenance_summary(cfg)
        )[:1000],
        "authors": people,
        "cite": _cites(model),
        "license": license,
        "documentation": {"source": "README.md"},
        "covers": [{"source": "cover.png"}],
        "tags": ["segmentation", "instance-segmentation", "unet", "pytorch", "2d", "nuclei"],
        "attachments": [{"source": CONFIG_FILE}] + ([{"source": LOG_FILE}] if has_log else []),
        "inputs": [
            {
                "id": "image",
                "axes": [
                    {"type": "batch"},
                    {"type": "channel", "channel_names": channels},
                    _space("y", step),
                    _space("x", step),
                ],
                "test_tensor": {"source": "test_input.npy"},
                "data": {"type": "float32"},
                "preprocessing": preprocessing,
            }
        ],
        "outputs": [
            {
                "id": "probabilities",
                "axes": [
                    {"type": "batch"},
                    {"type": "channel", "channel_names": classes},
                    {"type": "space", "id": "y", "size": {"tensor_id": "image", "axis_id": "y"}},
                    {"type": "space", "id": "x", "size": {"tensor_id": "image", "axis_id": "x"}},
                ],
                "test_tensor": {"source": "test_output.npy"},
                "data": {"type": "float32", "range": [0.0, 1.0]},
                "postprocessing": [{"id": "softmax", "kwargs": {"axis": "channel"}}],
            }
        ],
        "weights": _weights(model, people, traced),
        "config": {
            PACKAGE_KEY: {
                "package_version": PACKAGE_VERSION,
                "exported_with": __version__,
                "model_config": CONFIG_FILE,
                "weights": WEIGHTS_FILE,
                "training_log": LOG_FILE if has_log else None,
            }
        },
    }
    ctx = ValidationContext(root=folder, perform_io_checks=True, log_warnings=False)
    return build_description(rdf, context=ctx)
