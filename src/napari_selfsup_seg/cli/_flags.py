"""Flags made from config fields, and the value types of number and channel flags.

:func:`add_config_arguments` turns fields of a config dataclass into flags whose names, defaults,
help and choices come from the field (see :func:`napari_selfsup_seg._config.setting`);
:func:`config_from_args` builds the config back from the parsed arguments.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import math
import re
import typing
from collections.abc import Sequence
from typing import Any, TypeVar

from .._config import DEVICE_HELP, DEVICES, field_types
from .._errors import InputError
from ..io._formats import parse_scene


def finite_float(text: str) -> float:
    """``type=`` of a float flag: refuses NaN and infinities (``float()`` accepts them)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """``type=`` of a flag that must be a finite number > 0."""
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def channel_list(text: str) -> tuple[int, ...]:
    """``type=`` of a channel flag: one channel index, or several separated by commas."""
    try:
        chans = tuple(int(t) for t in text.split(","))
    except ValueError:
        msg = f"expected channel index(es) like 1 or 0,2, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if any(c < 0 for c in chans):
        raise argparse.ArgumentTypeError(f"channel indices must be >= 0, got {text!r}")
    return chans


_LENGTH = re.compile(r"^\s*([-+0-9.eE]+)\s*(px|um|µm|μm|micron|microns)?\s*$", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class Micrometres:
    """A length given in micrometres on the command line (``--diameter 12um``)."""

    value: float

    def __str__(self) -> str:
        return f"{self.value:g}um"


def length_arg(text: str) -> float | Micrometres:
    """``type=`` of ``--diameter``: pixels (``12``, ``12px``) or micrometres (``12um``, ``12 µm``).

    Returns a float (pixels) or a :class:`Micrometres`, converted per file with its pixel size.
    """
    match = _LENGTH.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(
            f"expected pixels like 15 or micrometres like 12um, got {text!r}"
        )
    value = positive_float(match.group(1))
    unit = (match.group(2) or "px").lower()
    return value if unit == "px" else Micrometres(value)


def split_length(args: argparse.Namespace, name: str = "diameter") -> Micrometres | None:
    """Take a micrometre ``args.<name>`` out of the flags (set to ``None``) and return it."""
    value = getattr(args, name, None)
    if isinstance(value, Micrometres):
        setattr(args, name, None)
        return value
    return None


def diameter_override(what: str, default: str) -> dict[str, Any]:
    """:func:`add_config_arguments` override making ``--diameter`` take pixels or ``12um``."""
    return {
        "type": length_arg,
        "metavar": "D",
        "help": f"{what}: typical object diameter in pixels, or in micrometres like 12um when "
        f"the file has a pixel size (converted per file); default: {default}",
    }


def predict_diameter(args: argparse.Namespace) -> dict[str, float]:
    """``{"diameter_um": µm}`` for a PredictConfig when ``--diameter`` was given in µm."""
    um = split_length(args)
    return {"diameter_um": um.value} if um is not None else {}


#: Override for :func:`add_config_arguments` of a config whose ``device`` field has no metadata.
DEVICE = {"choices": DEVICES, "help": DEVICE_HELP}


def add_scene_argument(parser: argparse.ArgumentParser, what: str = "image") -> None:
    """``--scene S``: which image of a file holding several, by index or name."""
    parser.add_argument(
        "--scene",
        type=parse_scene,
        default=None,
        metavar="S",
        help=f"in each {what} file holding several images (OME-TIFF series, ND2/CZI/LIF scenes "
        "or positions), the one to read, by index from 0 or by name (default: the first)",
    )


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    """``--device auto|cpu|cuda|mps`` (a command whose configs are not all flags)."""
    parser.add_argument("--device", default="auto", choices=DEVICES, help=DEVICE_HELP)


C = TypeVar("C")

#: Namespace attribute mapping each config field set from a flag to the flag's name.
_FLAGS = "config_flags"


def _field_docs(cls: type) -> dict[str, str]:
    """First sentence of each entry of the ``Attributes`` section of ``cls``'s docstring."""
    lines = inspect.cleandoc(cls.__doc__ or "").splitlines()
    docs: dict[str, list[str]] = {}
    names: list[str] = []
    inside = False
    for k, line in enumerate(lines):
        if line.strip() == "Attributes" and k + 1 < len(lines) and lines[k + 1].startswith("---"):
            inside = True
        elif inside and line and not line.startswith((" ", "-")):
            if " : " not in line:
                break  # the next section
            names = [n.strip() for n in line.split(" : ")[0].split(",")]
        elif inside and line.strip() and names:
            for name in names:
                docs.setdefault(name, []).append(line.strip())
    out = {}
    for name, text in docs.items():
        sentence = re.split(r"(?<=\.)\s+(?=[A-Z])", " ".join(text), maxsplit=1)[0].rstrip(".")
        out[name] = sentence[:1].lower() + sentence[1:] if sentence[1:2].islower() else sentence
    return out


def _default(f: dataclasses.Field) -> Any:
    """The default value of a dataclass field (``None`` when it has none)."""
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def _value_type(tp: Any) -> Any:
    """The type of a flag's value for a field of type ``tp`` (``X | None`` gives ``X``)."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if type(None) in typing.get_args(tp) and len(args) == 1:
        tp = args[0]
    if tp is float:
        return finite_float
    if typing.get_origin(tp) is tuple and typing.get_args(tp) == (int, ...):
        return channel_list
    if tp in (int, str):
        return tp
    raise TypeError(f"no command-line flag for a field of type {tp}")


def add_config_arguments(
    parser: argparse.ArgumentParser,
    cls: type,
    only: Sequence[str],
    **overrides: dict[str, Any],
) -> None:
    """Add one flag per field of the config dataclass ``cls`` named in ``only``.

    Each flag's name, help, metavar and choices come from the field's :func:`setting`
    metadata (name by default ``--field-name``; help by default the first sentence of the
    field's entry in the class docstring), its default is the field's default, and its value
    lands in ``args.<field name>``; float flags refuse NaN and infinities, ``tuple[int, ...]``
    flags read comma-separated channel indices and bool flags get a ``--no-`` twin.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    cls : type
        A dataclass, e.g. :class:`~napari_selfsup_seg._config.TrainConfig`.
    only : sequence of str
        Field names to offer, in the order the flags are listed.
    **overrides : dict
        Per field name, keys of the metadata to replace for this command (``flag``, ``help``,
        ``metavar``, ``choices``, ``type``), e.g. ``learning_rate={"flag": "--lr"}``.
    """
    fields = {f.name: f for f in dataclasses.fields(cls)}
    types_ = field_types(cls)
    docs = _field_docs(cls)
    flags = dict(parser.get_default(_FLAGS) or {})
    for name in only:
        f = fields[name]
        meta = {**f.metadata, **overrides.get(name, {})}
        flag = meta.get("flag") or "--" + name.replace("_", "-")
        default = _default(f)
        text = (meta.get("help") or docs.get(name, "")).replace("%", "%%")
        kwargs: dict[str, Any] = {"dest": name, "default": default}
        if types_[name] is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = meta.get("type") or _value_type(types_[name])
            if default is not None:
                text += " (default %(default)s)"
            for key in ("metavar", "choices"):
                if meta.get(key):
                    kwargs[key] = meta[key]
        parser.add_argument(flag, help=text, **kwargs)
        flags[name] = flag
    parser.set_defaults(**{_FLAGS: flags})


def config_from_args(cls: type[C], args: argparse.Namespace, **values: Any) -> C:
    """The config ``cls`` built from the flags :func:`add_config_arguments` added.

    Fields of ``cls`` without a flag keep their defaults unless given in ``values``, which also
    win over the flags. A range error names the flag instead of the field, e.g.
    ``--tile-size must be a multiple of 32``.
    """
    flags: dict[str, str] = getattr(args, _FLAGS, None) or {}
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs = {n: getattr(args, n) for n in names if n in flags and hasattr(args, n)}
    try:
        return cls(**{**kwargs, **values})
    except InputError as exc:
        text = str(exc)
        field = text.split(" ", 1)[0]
        if field in flags and field in kwargs:
            text = flags[field] + text[len(field) :]
        raise InputError(text) from None
