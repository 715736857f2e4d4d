"""Entry point of the ``napari-selfsup-seg`` console script.

Each subcommand lives in its own module of this package, which provides
``add_parser(subparsers) -> argparse.ArgumentParser`` (setting ``run`` with ``set_defaults``) and
``run(args) -> dict``. The dict summarises the run; with ``--json`` it is printed as one JSON
object on the last line of stdout. Exit status: 0 success, 1 finished with some inputs failed
(the summary's ``failed`` list is not empty), 2 bad arguments or unreadable input (one line on
stderr and, with ``--json``, ``{"command": ..., "error": ..., "exit": 2}`` on stdout).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
from collections.abc import Sequence

from .. import __version__
from .._errors import InputError
from ._common import positive_float

SUBCOMMANDS = (
    "pseudo_mask",
    "train",
    "segment",
    "segment_folder",
    "evaluate",
    "pretrain",
    "demo",
    "export_bioimageio",
)


class ArgumentError(Exception):
    """A bad command line; carries argparse's one-line message."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are exceptions (one line on stderr, not usage text)."""

    def error(self, message: str):
        raise ArgumentError(f"{message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = _Parser(
        prog="napari-selfsup-seg",
        description="Segment cells and nuclei without hand-drawn masks.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        if importlib.util.find_spec(f"{__package__}.{name}") is None:
            continue  # a subcommand module that is not installed (partial source tree)
        module = importlib.import_module(f".{name}", __package__)
        p = module.add_parser(sub)
        p.add_argument(
            "--json",
            action="store_true",
            help="print one JSON object summarising the run as the last line of stdout",
        )
        p.add_argument(
            "--max-image-gb",
            type=positive_float,
            default=None,
            metavar="GB",
            help="refuse images whose pixels and working copies need more than this many GB "
            "(default: the memory available when the image is read)",
        )
    return parser


def _command_of(argv: Sequence[str]) -> str:
    names = {n.replace("_", "-") for n in SUBCOMMANDS}
    return next((a for a in argv if a in names), "")


def _fail(command: str, message: str, as_json: bool) -> int:
    prog = f"napari-selfsup-seg {command}".rstrip()
    print(f"{prog}: error: {message}", file=sys.stderr)
    if as_json:
        print(json.dumps({"command": command, "error": message, "exit": 2}))
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    A bad command line (unknown option, a value of the wrong kind) raises ``SystemExit(2)``, as
    argparse does, after printing its one-line reason.
    """
    from ..io._image import image_memory_limit

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except ArgumentError as exc:  # exits like argparse does, after one line (and the JSON)
        raise SystemExit(_fail(_command_of(argv), str(exc), "--json" in argv)) from None
    try:
        with image_memory_limit(args.max_image_gb):
            summary = args.run(args)
    except InputError as exc:
        return _fail(args.command, str(exc), args.json)
    except KeyboardInterrupt:
        print(f"napari-selfsup-seg {args.command}: interrupted", file=sys.stderr)
        return 130
    failed = summary.get("failed") or []
    for item in failed:
        path = item.get("path", "?") if isinstance(item, dict) else item
        reason = item.get("reason", "") if isinstance(item, dict) else ""
        print(f"failed: {path}: {reason}", file=sys.stderr)
    if args.json:
        print(json.dumps(summary, default=str))
    return 1 if failed else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
