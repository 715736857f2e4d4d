"""Entry point of the ``napari-selfsup-seg`` console script.

Each subcommand lives in its own module of this package, which provides
``add_parser(subparsers) -> argparse.ArgumentParser`` (setting ``run`` with ``set_defaults``) and
``run(args) -> dict``. The dict summarises the run; with ``--json`` it is printed as one JSON
object on the last line of stdout. Exit status: 0 success, 1 finished with some inputs failed
(the summary's ``failed`` list is not empty), 2 bad arguments or unreadable input (one line on
stderr).
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

SUBCOMMANDS = (
    "pseudo_mask",
    "train",
    "segment",
    "segment_folder",
    "evaluate",
    "pretrain",
    "demo",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        summary = args.run(args)
    except InputError as exc:
        print(f"napari-selfsup-seg {args.command}: error: {exc}", file=sys.stderr)
        return 2
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
