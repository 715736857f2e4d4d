"""Files of a MODEL_DIR: whole-folder replacement, and checks on what is read back.

A model is saved into a temporary folder beside its MODEL_DIR and renamed into place once
complete (:func:`swap_in`); weights are loaded with ``weights_only=True`` and must be a mapping of
names to tensors (:func:`load_state`); a config must hold finite numbers only (:func:`non_finite`).
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Any

from .._errors import InputError, ModelError

WEIGHTS_FILE = "weights.pt"
CONFIG_FILE = "config.json"
LOG_FILE = "training_log.csv"


def check_model_target(model_dir: Path) -> None:
    """Refuse to save a model where it would replace anything but an earlier model."""
    if model_dir.exists() and not model_dir.is_dir():
        raise InputError(f"{model_dir}: exists and is not a folder")
    if not model_dir.is_dir():
        return
    own = {WEIGHTS_FILE, CONFIG_FILE, LOG_FILE}
    other = sorted(p.name for p in model_dir.iterdir() if p.name not in own and p.name[0] != ".")
    if other:
        shown = ", ".join(other[:3]) + (", ..." if len(other) > 3 else "")
        raise InputError(
            f"{model_dir}: holds files other than a model's ({shown}); save the model into a "
            "new or empty folder"
        )


def swap_in(new: Path, model_dir: Path) -> None:
    """Put the complete folder ``new`` in the place of ``model_dir`` by renames.

    A missing or empty ``model_dir`` is replaced in one rename. An earlier model is first renamed
    aside (``.<name>.old-*``), then ``new`` takes its name and the old one is removed; a crash
    between those two renames leaves both whole models on disk, and loading ``model_dir`` names
    the new one.
    """
    import shutil

    try:
        os.rename(new, model_dir)  # no folder there, or an empty one (POSIX)
        return
    except OSError:
        if not model_dir.is_dir():
            raise
    old = Path(f"{new.parent / ('.' + model_dir.name)}.old-{new.name.rsplit('-', 1)[-1]}")
    os.rename(model_dir, old)
    try:
        os.rename(new, model_dir)
    except BaseException:
        os.rename(old, model_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)


def interrupted_save(model_dir: Path) -> str:
    """A hint naming the complete model left beside a missing ``model_dir``, if any."""
    for prefix in ("new", "old"):
        for p in sorted(model_dir.parent.glob(f".{model_dir.name}.{prefix}-*")):
            if (p / CONFIG_FILE).exists() and (p / WEIGHTS_FILE).exists():
                return f" (a save was interrupted: a complete model is in {p}; rename it)"
    return ""


def non_finite(value: Any, where: str = "") -> str | None:
    """The key path of the first NaN or infinite number in parsed JSON, if any."""
    if isinstance(value, float) and not math.isfinite(value):
        return where or "value"
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value))
    else:
        items = []
    for k, v in items:
        found = non_finite(v, f"{where}.{k}" if where else str(k))
        if found:
            return found
    return None


def load_state(path: Path) -> dict:
    """The ``state_dict`` in ``weights.pt``, loaded with ``weights_only=True``.

    A file holding Python objects other than tensors is refused without torch's advice to load
    it unrestricted: the file may come from anywhere.
    """
    import pickle

    import torch

    try:
        with warnings.catch_warnings():  # e.g. about the pickle protocol: not for the user
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise ModelError(
            f"{path}: refused: holds Python objects other than tensors, which are not loaded "
            "(a weights file holds only tensors)"
        ) from None
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        reason = reason.split(". ")[0].rstrip(".")  # the first sentence, not torch's advice
        raise ModelError(f"{path}: unreadable weights ({reason})") from None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ModelError(f"{path}: not a weights file (expected a mapping of names to tensors)")
    return state
