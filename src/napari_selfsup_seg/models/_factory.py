"""The one model factory and saving/loading a MODEL_DIR (device choice: :mod:`._device`).

A MODEL_DIR holds ``weights.pt`` (a plain ``state_dict``, loaded with ``weights_only=True``),
``config.json`` (:class:`~napari_selfsup_seg._config.ModelBundleConfig`) and ``training_log.csv``.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from .._config import ModelBundleConfig, ModelConfig
from .._errors import InputError, ModelError
from ..io._atomic import atomic_folder
from ._device import describe_device as describe_device
from ._device import pick_device
from ._folder import (
    CONFIG_FILE,
    LOG_FILE,
    WEIGHTS_FILE,
    check_model_target,
    interrupted_save,
    load_state,
    non_finite,
    swap_in,
)
from ._package import model_folder

if TYPE_CHECKING:
    import torch


FORMAT_VERSION = 1


def build_model(config: ModelConfig) -> torch.nn.Module:
    """Build a segmentation network.

    Parameters
    ----------
    config : ModelConfig
        Architecture, encoder, channels.

    Returns
    -------
    torch.nn.Module
        Maps ``(B, in_channels, H, W)`` float tensors to ``(B, classes, H, W)`` logits; ``H`` and
        ``W`` must be multiples of ``2 ** encoder_depth``.

    Raises
    ------
    InputError
        Unknown encoder, or ImageNet weights asked for but not available offline.
    """
    import segmentation_models_pytorch as smp

    kwargs = dict(
        encoder_name=config.encoder,
        encoder_depth=config.encoder_depth,
        decoder_channels=list(config.decoder_channels or ()),  # filled in by ModelConfig
        in_channels=config.in_channels,
        classes=config.classes,
        encoder_weights=config.encoder_weights,
    )
    try:
        net = smp.Unet(**kwargs)
    except KeyError:
        raise InputError(f"unknown encoder {config.encoder!r}") from None
    except Exception as exc:
        if config.encoder_weights is not None:
            raise InputError(
                f"could not load {config.encoder_weights} weights for {config.encoder!r} "
                f"(they must already be in the local cache; nothing is downloaded): {exc}"
            ) from None
        raise InputError(f"cannot build a U-Net with encoder {config.encoder!r}: {exc}") from None
    from ._stages import drop_unused_stages

    drop_unused_stages(net.encoder, config.encoder_depth)
    return net


def build_unet(**kwargs: Any) -> torch.nn.Module:
    """The network of an exported bioimage.io package, rebuilt from its architecture kwargs.

    The ``pytorch_state_dict`` weights of a package written by ``export-bioimageio`` name this
    callable (as ``napari_selfsup_seg.api.build_unet``); ``kwargs`` are :class:`ModelConfig`
    fields (encoder, encoder_depth, decoder_channels, in_channels, classes).
    """
    return build_model(ModelConfig.from_dict({**kwargs, "encoder_weights": None}))


@dataclass
class LoadedModel:
    """A network ready for inference or fine-tuning, with the config it was saved with.

    Attributes
    ----------
    net : torch.nn.Module
        The network, on ``device``, in eval mode.
    config : ModelBundleConfig
        Architecture, normalisation, channels, recipe and provenance.
    device : torch.device
        Where ``net`` lives.
    path : pathlib.Path or None
        The MODEL_DIR it came from (``None`` for a model trained in memory and not yet saved).
    log : list of dict
        Training log rows (step, loss, lr, ...), empty for a loaded model.
    """

    net: Any
    config: ModelBundleConfig
    device: Any
    path: Path | None = None
    log: list[dict[str, float]] = field(default_factory=list)

    def save(self, model_dir: str | os.PathLike) -> Path:
        """Save into ``model_dir`` (see :func:`save_model`) and remember the path."""
        self.path = save_model(model_dir, self.net, self.config, self.log)
        return self.path


def save_model(
    model_dir: str | os.PathLike,
    net: torch.nn.Module,
    config: ModelBundleConfig,
    log: list[dict[str, float]] | None = None,
) -> Path:
    """Save weights, config and training log into ``model_dir`` as one whole.

    The files are written to a temporary folder beside ``model_dir`` that replaces it by a
    rename once complete; the previous model stays in place until then, so a crash leaves
    either the old or the new model, never a mix (see
    :func:`napari_selfsup_seg.models._folder.swap_in`).

    Parameters
    ----------
    model_dir : path-like
        Target folder: new, empty, or a model folder to replace.
    net : torch.nn.Module
        The network; its ``state_dict`` is saved on the CPU.
    config : ModelBundleConfig
        Saved as ``config.json``; ``package_version`` and ``format_version`` are filled in.
    log : list of dict, optional
        One row per logged step (e.g. step, loss, lr), saved as ``training_log.csv``.

    Returns
    -------
    pathlib.Path
        ``model_dir``.

    Raises
    ------
    InputError
        ``model_dir`` is a file, holds files other than a model's, or cannot be written.
    """
    import torch

    model_dir = Path(model_dir)
    check_model_target(model_dir)
    try:
        model_dir.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{model_dir}: cannot create model folder ({exc.strerror})") from None
    config.package_version = __version__
    config.format_version = FORMAT_VERSION
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    try:
        with atomic_folder(model_dir, prefix=f".{model_dir.name}.new-", replace=swap_in) as tmp:
            torch.save(state, tmp / WEIGHTS_FILE)
            (tmp / CONFIG_FILE).write_text(json.dumps(config.to_dict(), indent=2, default=str))
            if log:
                keys = sorted({k for row in log for k in row}, key=lambda k: (k != "step", k))
                with open(tmp / LOG_FILE, "w", newline="") as fh:
                    writer = csv.DictWriter(fh, fieldnames=keys)
                    writer.writeheader()
                    writer.writerows(log)
    except OSError as exc:
        raise InputError(f"{model_dir}: cannot save the model ({exc.strerror})") from None
    return model_dir


def read_model_config(model_dir: str | os.PathLike) -> ModelBundleConfig:
    """Read and check a MODEL_DIR's ``config.json`` without loading weights.

    Raises
    ------
    ModelError
        Not a model folder, unreadable config, or a format this version cannot use; a package
        not exported by napari-selfsup-seg.
    """
    model_dir = model_folder(model_dir)
    cfg_path = model_dir / CONFIG_FILE
    if not model_dir.is_dir():
        raise ModelError(f"{model_dir}: no such model folder{interrupted_save(model_dir)}")
    if not cfg_path.exists() or not (model_dir / WEIGHTS_FILE).exists():
        raise ModelError(
            f"{model_dir}: not a model folder (needs {CONFIG_FILE} and {WEIGHTS_FILE})"
        )
    try:
        raw = json.loads(cfg_path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"{cfg_path}: unreadable model config ({exc})") from None
    if not isinstance(raw, dict):
        raise ModelError(f"{cfg_path}: model config must be a JSON object")
    bad = non_finite(raw)
    if bad:
        raise ModelError(f"{cfg_path}: {bad} must be a finite number, not NaN or infinity")
    version = raw.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelError(
            f"{model_dir}: model format version {version!r} is not supported by "
            f"napari-selfsup-seg {__version__} (expects {FORMAT_VERSION}); retrain the model"
        )
    try:
        return ModelBundleConfig.from_dict(raw)
    except (InputError, TypeError, ValueError, AttributeError) as exc:
        raise ModelError(f"{cfg_path}: invalid model config ({exc})") from None


def load_model(model_dir: str | os.PathLike, device: str = "auto") -> LoadedModel:
    """Load a MODEL_DIR for inference or fine-tuning.

    Parameters
    ----------
    model_dir : path-like
        A folder written by :func:`save_model`, or a bioimage.io package (``.zip``) written by
        ``export-bioimageio`` (unpacked once, see
        :func:`~napari_selfsup_seg.models._package.model_folder`).
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"mps"``.

    Returns
    -------
    LoadedModel
        Network in eval mode on the chosen device, with its config.

    Raises
    ------
    ModelError
        Missing files, another format version, or weights that do not fit the architecture.
    """
    model_dir = model_folder(model_dir)
    config = read_model_config(model_dir)
    dev = pick_device(device)
    net = build_model(ModelConfig.from_dict({**config.model.to_dict(), "encoder_weights": None}))
    state = load_state(model_dir / WEIGHTS_FILE)
    # Models saved before unused encoder stages were dropped still carry their weights.
    from ._stages import unused_stages

    encoder: Any = net.encoder
    unused = tuple(f"encoder.{n}." for n in unused_stages(encoder, config.model.encoder_depth))
    expected = net.state_dict()
    state = {k: v for k, v in state.items() if k in expected or not k.startswith(unused)}
    try:
        net.load_state_dict(state)
    except RuntimeError:
        raise ModelError(
            f"{model_dir}: weights do not match the architecture in {CONFIG_FILE}"
        ) from None
    net.to(dev).eval()
    return LoadedModel(
        net=net, config=config, device=dev, path=model_dir, log=read_training_log(model_dir)
    )


def read_training_log(model_dir: str | os.PathLike) -> list[dict[str, float]]:
    """Rows of a MODEL_DIR's ``training_log.csv`` (empty when there is none).

    The log is informative only: an unreadable log, or rows and values that are not numbers,
    are left out rather than stop the model from loading.
    """
    path = Path(model_dir) / LOG_FILE
    rows: list[dict[str, float]] = []
    try:
        with open(path, newline="", encoding="utf-8", errors="replace") as fh:
            for row in csv.DictReader(fh):
                values = {}
                for k, v in row.items():
                    try:
                        values[str(k)] = float(v)
                    except (TypeError, ValueError):
                        continue
                if values:
                    rows.append(values)
    except (OSError, csv.Error):
        return rows
    return rows
