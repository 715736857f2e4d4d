"""The weak-label CSV of ``pseudo-mask --method scorecam``: columns ``path,label``."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any

from .._errors import InputError


def read_weak_labels(csv_path: str | Path) -> list[tuple[Path, int]]:
    """Rows ``(path, label)`` of a weak-label CSV; relative paths resolve against its folder."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise InputError(f"{csv_path}: no such file")
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as fh:
            return _weak_label_rows(csv_path, csv.DictReader(fh))
    except UnicodeDecodeError:
        raise InputError(f"{csv_path}: not a UTF-8 text CSV") from None
    except csv.Error as exc:
        raise InputError(f"{csv_path}: not a readable CSV ({exc})") from None


def _weak_label_rows(csv_path: Path, reader: csv.DictReader) -> list[tuple[Path, int]]:
    fields = [f.strip().lower() for f in reader.fieldnames or []]
    if "path" not in fields or "label" not in fields:
        got = ", ".join(repr(f) for f in fields) or "nothing"
        raise InputError(f"{csv_path}: needs columns path,label (header has {got})")
    rows = []
    for row in reader:
        n = reader.line_num  # the file's line number, blank lines counted
        row = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
        path = Path(row.get("path", ""))
        if not path.is_absolute():
            path = csv_path.parent / path
        if not row.get("path") or not path.exists():
            raise InputError(f"{csv_path}: line {n}: {row.get('path', '')!r} does not exist")
        if row.get("label") not in ("0", "1"):
            raise InputError(
                f"{csv_path}: line {n}: label must be 0 or 1, got {row.get('label', '')!r}"
            )
        rows.append((path, int(row["label"])))
    if not rows:
        raise InputError(f"{csv_path}: no rows")
    return rows


def classifier_report(trained: Any, csv_path: str | Path) -> tuple[dict, str]:
    """The classifier's figures for the JSON summary and the one-line report.

    Prints a warning on stderr when the masks are made (``--allow-chance``) although the
    held-out check did not show the classifier better than chance.

    Parameters
    ----------
    trained : WeakClassifierFit
    csv_path : str or Path
        The weak-label CSV, named in the warning.

    Returns
    -------
    (dict, str)
        ``{"classifier_accuracy", "input_size", "held_out"}`` and a note for the report line.
    """
    check = trained.check
    if check is None or not check.better_than_chance:
        shown = f" ({check.summary()})" if check else ""
        print(f"warning: {csv_path}: masks written with --allow-chance although the classifier "
              f"is not shown better than chance{shown}", file=sys.stderr)  # fmt: skip
    extra = {"classifier_accuracy": trained.accuracy, "input_size": trained.size,
             "held_out": check.as_dict() if check else None}  # fmt: skip
    held = f", {check.summary()}" if check else ""
    return extra, f" (classifier training accuracy {trained.accuracy:.2f}{held})"
