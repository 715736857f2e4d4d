"""Export a MODEL_DIR as a bioimage.io model package (model spec 0.5, built with bioimageio.spec).

The package holds the weights as a PyTorch state dict (architecture:
``napari_selfsup_seg.api.build_unet``) and, when the network traces, as TorchScript; the
model's percentile normalisation as pre-processing and a softmax as post-processing; a test
input with the output this model computes for it; a cover image; a README with the provenance
of the training labels; and the MODEL_DIR's ``config.json`` and ``training_log.csv`` as
attachments, which let napari-selfsup-seg run the package again (see
:mod:`napari_selfsup_seg.models._package`).
"""

from __future__ import annotations

import getpass
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._errors import InputError, ModelError
from ..io._atomic import atomic_write
from ..models._factory import LoadedModel, load_model
from ..models._folder import CONFIG_FILE, LOG_FILE, WEIGHTS_FILE
from ..models._package import PACKAGE_KEY, exported_by_this_tool
from ._describe import TORCHSCRIPT_FILE, describe_model
from ._test_data import expected_output, normalised, sample_input

DEFAULT_LICENSE = "CC-BY-4.0"
NAME_CHARACTERS = "letters, digits, spaces and _ + - ( )"
MISSING_EXTRA = "exporting needs bioimageio.spec: pip install 'napari-selfsup-seg[bioimageio]'"


@dataclass
class ExportedPackage:
    """What :func:`export_bioimageio` wrote.

    Attributes
    ----------
    path : pathlib.Path
        The package (``.zip``).
    name : str
        The model's name in the package.
    weight_formats : list of str
        ``"pytorch_state_dict"``, and ``"torchscript"`` when the network traced.
    test_shape : tuple of int
        Shape ``(1, C, Y, X)`` of the test input.
    notes : list of str
        Anything left out, with the reason (e.g. why TorchScript weights are missing).
    """

    path: Path
    name: str
    weight_formats: list[str]
    test_shape: tuple[int, ...]
    notes: list[str] = field(default_factory=list)


def _check_libraries() -> None:
    """Refuse a bioimageio.spec that cannot write packages with the installed pydantic.

    bioimageio.spec before 0.5.14 passes pydantic's ``SerializationInfo`` where pydantic 2.14
    and later accept only an index key, and every package it writes or reads then fails.
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        spec, pydantic = version("bioimageio.spec"), version("pydantic")
    except PackageNotFoundError:
        raise InputError(MISSING_EXTRA) from None

    def numbers(text: str) -> tuple[int, ...]:
        return tuple(int(p) for p in text.split(".")[:3] if p.isdigit())

    if numbers(spec) < (0, 5, 14) and numbers(pydantic) >= (2, 14):
        raise InputError(
            f"bioimageio.spec {spec} cannot write packages with pydantic {pydantic}; "
            "pip install 'bioimageio.spec>=0.5.14.3' (or 'pydantic<2.14')"
        )


def _check_target(out: Path) -> None:
    """Refuse a target that is not ``.zip`` or that would replace anything but an export."""
    if out.suffix.lower() != ".zip":
        raise InputError(f"{out}: a bioimage.io package is a .zip file; name it e.g. model.zip")
    if out.is_dir():
        raise InputError(f"{out}: is a folder; give the path of a .zip file to write")
    if out.exists() and not exported_by_this_tool(out):
        raise InputError(
            f"{out}: exists and is not a package exported by napari-selfsup-seg; not overwritten"
        )
    if not out.parent.is_dir():
        raise InputError(f"{out.parent}: output folder does not exist")


def _check_license(license: str) -> str:
    """``license`` if it is an SPDX licence identifier bioimage.io knows."""
    from bioimageio.spec.model.v0_5 import DeprecatedLicenseId, LicenseId

    for kind in (LicenseId, DeprecatedLicenseId):
        try:
            return str(kind(license))
        except ValueError:
            continue
    raise InputError(
        f"license {license!r}: not an SPDX licence identifier (e.g. CC-BY-4.0, CC0-1.0, MIT, "
        "BSD-3-Clause; list at spdx.org/licenses)"
    )


def _first_error(descr) -> str:
    """The first validation error of an invalid description, on one line."""
    errors = descr.validation_summary.errors
    if not errors:
        return descr.get_reason().splitlines()[0]
    loc = ".".join(str(p) for p in errors[0].loc if "[" not in str(p))
    return f"{loc}: {errors[0].msg.splitlines()[0][:200]}"


def _check_name(name: str) -> str:
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+- ()")
    name = " ".join(name.split())
    if not 5 <= len(name) <= 128 or not set(name) <= allowed:
        raise InputError(f"model name {name!r}: needs 5 to 128 characters, only {NAME_CHARACTERS}")
    return name


def _default_name(model_dir: Path) -> str:
    stem = "".join(c if c.isalnum() or c in "_-" else " " for c in model_dir.resolve().name)
    return _check_name(f"napari-selfsup-seg U-Net {stem.strip() or 'model'}"[:64])


def default_authors() -> list[str]:
    """The current user's login name (the ``--authors`` default)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = ""
    return [user or "unknown"]


def _torchscript(
    model: LoadedModel, x: np.ndarray, probabilities: np.ndarray, path: Path
) -> str | None:
    """Trace the network into ``path``; the reason when it does not trace.

    The network is traced on a small corner of ``x`` (the trace does not depend on the size),
    then the traced network must give ``probabilities`` for the whole of ``x``.
    """
    import warnings

    import torch

    side = 4 * 2**model.config.model.encoder_depth
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit's deprecation notice: not for the user
            corner = torch.from_numpy(np.ascontiguousarray(x[..., :side, :side]))
            traced = torch.jit.trace(model.net, corner, check_trace=False)
            out = torch.softmax(traced(torch.from_numpy(x)), dim=1)
        if not torch.allclose(out, torch.from_numpy(probabilities), rtol=1e-4, atol=1e-4):
            return "the traced network computes a different output"
        traced.save(str(path))
    except Exception as exc:
        return f"the network does not trace ({type(exc).__name__}: {str(exc)[:120]})"
    return None


def export_bioimageio(
    model_dir: str | os.PathLike,
    out_zip: str | os.PathLike,
    *,
    name: str | None = None,
    authors: list[str] | None = None,
    license: str = DEFAULT_LICENSE,
    test_image: str | os.PathLike | None = None,
    torchscript: bool = True,
) -> ExportedPackage:
    """Write a MODEL_DIR as a bioimage.io model package (``bioimageio test`` validates it).

    Parameters
    ----------
    model_dir : path-like
        A trained instance model (``config.json`` + ``weights.pt``).
    out_zip : path-like
        The package to write (``.zip``); an earlier package exported by this tool is replaced,
        any other existing file is refused.
    name : str, optional
        The model's name (letters, digits, spaces, ``_+-()``); default from the folder name.
    authors : list of str, optional
        Authors of the model; default: the current user's login name.
    license : str
        SPDX licence identifier of the package (default ``"CC-BY-4.0"``).
    test_image : path-like, optional
        An image whose first plane (centre crop, at most 512 px a side) becomes the test input;
        default: a generated sample image.
    torchscript : bool
        Also write TorchScript weights when the network traces.

    Returns
    -------
    ExportedPackage

    Raises
    ------
    InputError
        Bad target, name, licence or authors, an unreadable test image.
    ModelError
        Not a model folder, a model that does not segment (a pretrained one), or one whose
        input normalisation flattens transmitted light.
    """
    _check_libraries()
    from bioimageio.spec import InvalidDescr, save_bioimageio_package

    model_dir, out = Path(model_dir), Path(out_zip)
    _check_target(out)
    name = _check_name(name) if name else _default_name(model_dir)
    license = _check_license(license)
    authors = [a.strip() for a in (authors or default_authors()) if a.strip()]
    if not authors or any("/" in a for a in authors):
        raise InputError(f"authors {authors!r}: give one or more names without '/'")
    model = load_model(model_dir, device="cpu")
    if model.config.task != "instances":
        raise ModelError(
            f"{model_dir}: a {model.config.task} model does not segment; fine-tune it first "
            "(train --init) and export that"
        )
    if model.config.normalization.flattens:
        raise ModelError(
            f"{model_dir}: its input is flattened for transmitted light (background division, "
            "local contrast), which the bioimage.io pre-processing cannot express; train it "
            "without --transmitted-light (normalization=NormalizationConfig()) to export it"
        )
    raw = sample_input(model, test_image)
    x = normalised(raw, model.config.normalization)
    probabilities = expected_output(model, x)
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bioimageio-export-") as tmp_name:
        tmp = Path(tmp_name)
        import torch

        torch.save(
            {k: v.detach().cpu() for k, v in model.net.state_dict().items()}, tmp / WEIGHTS_FILE
        )
        shutil.copyfile(model_dir / CONFIG_FILE, tmp / CONFIG_FILE)
        has_log = (model_dir / LOG_FILE).is_file()
        if has_log:
            shutil.copyfile(model_dir / LOG_FILE, tmp / LOG_FILE)
        else:
            notes.append(f"no {LOG_FILE} in {model_dir}; none attached")
        traced = False
        if torchscript:
            reason = _torchscript(model, x, probabilities, tmp / TORCHSCRIPT_FILE)
            traced = reason is None
            if reason:
                notes.append(f"no TorchScript weights: {reason}")
        descr = describe_model(
            tmp, model, name, authors, license, raw, x, probabilities, has_log, traced
        )
        if isinstance(descr, InvalidDescr):
            raise InputError(f"{out}: the package would not be valid: {_first_error(descr)}")

        def write(part: str) -> None:
            made = save_bioimageio_package(descr, output_path=tmp / "package.zip")
            shutil.copyfile(made, part)

        atomic_write(out, write)
    formats = ["pytorch_state_dict"] + (["torchscript"] if traced else [])
    return ExportedPackage(out, name, formats, tuple(raw.shape), notes)


__all__ = ["DEFAULT_LICENSE", "PACKAGE_KEY", "ExportedPackage", "export_bioimageio"]
