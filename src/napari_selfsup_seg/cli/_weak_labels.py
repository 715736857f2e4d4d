"""The weak-label CSV of ``pseudo-mask --method scorecam``: columns ``path,label``."""

from __future__ import annotations

import csv
from pathlib import Path

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
