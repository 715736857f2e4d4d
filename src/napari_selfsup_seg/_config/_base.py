"""The machinery of the configs: :class:`ConfigBase` (JSON round trip), :func:`setting` (a field
with command-line metadata) and the range checks that name the field."""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import field
from typing import Any, TypeVar

from .._errors import InputError

C = TypeVar("C", bound="ConfigBase")

DEVICES = ("auto", "cpu", "cuda", "mps")


def setting(
    default: Any,
    help: str = "",
    *,
    flag: str | None = None,
    metavar: str | None = None,
    choices: Sequence[Any] | None = None,
) -> Any:
    """A dataclass field with a default and what its command-line flag needs.

    Parameters
    ----------
    default : object
        The field's default (immutable values only).
    help : str
        Help of the flag; empty: the first sentence of the field's entry in the class docstring.
    flag : str, optional
        Name of the flag (default ``--field-name``).
    metavar : str, optional
        Placeholder of the value in the usage text.
    choices : sequence, optional
        The only values the flag accepts.

    Returns
    -------
    dataclasses.Field
        To assign to the field in the class body.
    """
    meta = {"help": help, "flag": flag, "metavar": metavar, "choices": choices}
    return field(default=default, metadata={k: v for k, v in meta.items() if v})


DEVICE_HELP = "where to run (auto: CUDA, then MPS, then CPU)"


def device_setting() -> Any:
    """The ``device`` field of a config: ``"auto"`` by default, one of :data:`DEVICES`."""
    return setting("auto", DEVICE_HELP, choices=DEVICES)


def _check_range(name: str, value: float, lo: float | None = None, hi: float | None = None):
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{name} must be a finite number, got {value}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        bounds = f"[{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}]"
        raise InputError(f"{name} must be in {bounds}, got {value}")


def check_device(device: str) -> None:
    """Raise :class:`InputError` unless ``device`` is one of :data:`DEVICES`."""
    if device not in DEVICES:
        raise InputError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")


def check_recipe(config: Any) -> None:
    """Range checks shared by training recipes (training and pretraining).

    Checks ``steps``, ``tile_size`` (a multiple of 32), ``learning_rate``, ``weight_decay``,
    ``warmup_fraction``, ``log_every`` and ``device`` of ``config``.
    """
    _check_range("steps", config.steps, 1, 10_000_000)
    _check_range("tile_size", config.tile_size, 32, 4096)
    if config.tile_size % 32:
        raise InputError(f"tile_size must be a multiple of 32, got {config.tile_size}")
    _check_range("learning_rate", config.learning_rate, 1e-7, 1.0)
    _check_range("weight_decay", config.weight_decay, 0.0, 1.0)
    _check_range("warmup_fraction", config.warmup_fraction, 0.0, 0.5)
    _check_range("log_every", config.log_every, 1, 1_000_000)
    check_device(config.device)


def field_types(cls: type) -> dict[str, Any]:
    """The resolved type of every field of the dataclass ``cls`` (annotations may be strings)."""
    return typing.get_type_hints(cls)


def _from_json(tp: Any, value: Any, name: str) -> Any:
    """``value`` read from JSON, shaped for a field of type ``tp``.

    Lists become tuples where the type is a tuple, mappings become nested configs; anything
    else is returned as it is (the config's own checks judge it).
    """
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        return _from_json(options[0], value, name) if len(options) == 1 else value
    if isinstance(tp, type) and issubclass(tp, ConfigBase):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise InputError(f"{name} must be a mapping of settings, got {value!r}")
        return tp.from_dict(value)
    if (origin is tuple or tp is tuple) and isinstance(value, list):
        return tuple(value)
    return value


def _to_json(value: Any) -> Any:
    """``value`` with tuples turned into lists, recursively (what ``json.loads`` gives back)."""
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_json(v) for v in value]
    return value


class ConfigBase:
    """Mixin of the config dataclasses: JSON round trip.

    ``from_dict(to_dict(c)) == c`` for every config ``c``, also after a trip through
    ``json.dumps``/``json.loads``.
    """

    def to_dict(self) -> dict[str, Any]:
        """The config as plain JSON values (tuples as lists, nested configs as dicts)."""
        return _to_json(dataclasses.asdict(self))  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[C], data: Mapping[str, Any]) -> C:
        """Build the config from :meth:`to_dict` output (missing keys take their defaults).

        Raises
        ------
        InputError
            ``data`` is not a mapping, names a setting the config does not have, or a value is
            out of range.
        """
        if not isinstance(data, Mapping):
            raise InputError(f"{cls.__name__}: expected a mapping of settings, got {data!r}")
        types_ = field_types(cls)
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - names)
        if unknown:
            raise InputError(f"{cls.__name__}: unknown setting(s) {', '.join(map(str, unknown))}")
        return cls(**{k: _from_json(types_[k], v, k) for k, v in data.items()})
