"""Helpers shared by the subcommands: output folders, number flags, progress display, devices.

Flags that set a config field are made from the field (see :func:`add_config_arguments` and
:func:`config_from_args`), so their names, defaults and checks come from ``_config.py``.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import math
import os
import re
import sys
import time
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from .._config import DEVICE_HELP, DEVICES, field_types
from .._errors import InputError
from .._progress import Progress


def ensure_out_dir(path: str | os.PathLike) -> Path:
    """Create an output folder (and parents) or raise a one-line :class:`InputError`."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{path}: exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{path}: cannot create output folder ({exc.strerror})") from None
    if not os.access(path, os.W_OK):
        raise InputError(f"{path}: output folder is not writable")
    return path


def name_file(exc: InputError, path: str | os.PathLike) -> InputError:
    """``exc`` with ``path`` in front of its message unless the message names the file."""
    text = str(exc)
    if str(path) in text or Path(path).name in text:
        return exc
    for placeholder in ("image: ", "<array>: "):  # the name of an array with no file
        text = text.removeprefix(placeholder)
    return type(exc)(f"{path}: {text}")


def model_out_dir(path: str | os.PathLike) -> Path:
    """A folder to save a model in: new, empty, or an earlier model (checked before training)."""
    from ..models._folder import check_model_target

    check_model_target(Path(path))
    return ensure_out_dir(path)


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


#: Override for :func:`add_config_arguments` of a config whose ``device`` field has no metadata.
DEVICE = {"choices": DEVICES, "help": DEVICE_HELP}


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    """``--device auto|cpu|cuda|mps`` (a command whose configs are not all flags)."""
    parser.add_argument("--device", default="auto", choices=DEVICES, help=DEVICE_HELP)


class ProgressBar:
    """Progress of a job on stderr, fed with :class:`~napari_selfsup_seg._progress.Progress`.

    On a terminal it is a tqdm bar. When stderr is not a terminal (a log file, a cluster job's
    output) it prints one plain line at most every :attr:`interval` seconds, and one at the end,
    instead of carriage-return redraws. Use as a context manager and pass the instance as the
    ``callback`` of :func:`~napari_selfsup_seg._progress.drain`. ``quiet`` prints nothing.
    """

    #: Seconds between two lines when stderr is not a terminal.
    interval: float = 10.0

    def __init__(self, desc: str, quiet: bool = False) -> None:
        self.desc = desc
        self.quiet = quiet
        self._bar: Any = None
        self._tty = sys.stderr.isatty()
        self._last_line = 0.0
        self._pending: Progress | None = None

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.close()
        if self._pending is not None:
            self._print_line(self._pending)

    def _label(self, record: Progress) -> str:
        return record.stage if record.stage == self.desc else f"{self.desc}: {record.stage}"

    @staticmethod
    def _postfix(record: Progress) -> dict[str, str]:
        postfix = {}
        loss = getattr(record, "loss", None)
        if loss is not None and loss == loss:
            postfix["loss"] = f"{loss:.4f}"
        if record.message:
            postfix["at"] = record.message[:40]
        return postfix

    def _print_line(self, record: Progress) -> None:
        done = f"{record.done}/{record.total}" if record.total else str(record.done)
        if record.total:
            done += f" ({100 * record.done / record.total:.0f}%)"
        extra = " ".join(f"{k} {v}" for k, v in self._postfix(record).items())
        print(f"{self._label(record)}: {done} {extra}".rstrip(), file=sys.stderr, flush=True)
        self._last_line = time.monotonic()
        self._pending = None

    def __call__(self, record: Progress) -> None:
        if self.quiet:
            return
        if not self._tty:
            finished = bool(record.total) and record.done >= record.total
            if finished or time.monotonic() - self._last_line >= self.interval:
                self._print_line(record)
            else:
                self._pending = record
            return
        from tqdm import tqdm

        if self._bar is None or (record.total and self._bar.total != record.total):
            if self._bar is not None:
                self._bar.close()
            self._bar = tqdm(
                total=record.total or None,
                desc=self._label(record),
                file=sys.stderr,
                dynamic_ncols=True,
                mininterval=0.5,
            )
        self._bar.n = record.done
        postfix = self._postfix(record)
        if postfix:
            self._bar.set_postfix(postfix, refresh=False)
        self._bar.refresh()


Callback = Callable[[Progress], None]

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
        ``metavar``, ``choices``), e.g. ``learning_rate={"flag": "--lr"}``.
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
            kwargs["type"] = _value_type(types_[name])
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
