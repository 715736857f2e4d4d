"""The QC report of a folder run: ``report.html``, one self-contained file beside the CSVs.

It shows the run at a glance: counts, histograms of object area, objects per image and median
area per image with outliers marked (:func:`~napari_selfsup_seg.batch._report_data.robust_bounds`),
the outliers and failures by name with their reasons, thumbnails of the images with their label
outlines, a sortable table of every image and the run's settings. Everything is inline (style,
script, PNG thumbnails as data URIs, SVG histograms), so the file can be mailed or archived.

It is built from the run folder alone, so :func:`qc_report` can rebuild it for any finished run;
``segment-folder`` writes it at the end of every run (a rerun of a finished folder skips every
image and rebuilds the report).
"""

from __future__ import annotations

import html
import os
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from ..io._atomic import atomic_write
from ._report_data import N_MAD, ImageRow, RunData, read_run
from ._report_figures import THUMB_SIZE, histogram_svg, thumbnail_or_reason
from ._report_html import PAGE, SCRIPT, STYLE

#: Thumbnails embedded at most (outliers and failures first, then an even sample of the rest).
MAX_THUMBNAILS = 200
REPORT_FILE = "report.html"

_e = html.escape


def qc_report(run_dir: str | os.PathLike, max_thumbnails: int = MAX_THUMBNAILS) -> Path:
    """Write ``report.html`` in a ``segment-folder`` output folder and return its path.

    Parameters
    ----------
    run_dir : path-like
        The OUT_DIR of a finished (or stopped) run: ``summary.csv``, ``measurements.csv``,
        ``run.json`` and the label images.
    max_thumbnails : int
        Thumbnails embedded at most; every image has one when the run has no more images.

    Returns
    -------
    pathlib.Path
        ``run_dir / "report.html"`` (replaced atomically).

    Raises
    ------
    InputError
        ``run_dir`` is not a segment-folder output folder.
    """
    data = read_run(Path(run_dir).resolve())
    page = render(data, max_thumbnails)
    return atomic_write(
        data.run_dir / REPORT_FILE, lambda tmp: Path(tmp).write_text(page, encoding="utf-8")
    )


def pick_thumbnails(rows: list[ImageRow], cap: int) -> list[int]:
    """Indices of the rows given a thumbnail: all, or outliers and failures then an even sample."""
    shown = [i for i, r in enumerate(rows) if r.status != "not_run"]
    if len(shown) <= cap:
        return shown
    first = [i for i in shown if rows[i].flags or rows[i].status == "failed"][:cap]
    taken = set(first)
    rest = [i for i in shown if i not in taken]
    room = cap - len(first)
    sample = [rest[j * len(rest) // room] for j in range(room)] if room > 0 else []
    return sorted(first + sample)


def display_channel(manifest: dict) -> int:
    """The channel shown in thumbnails: the one the model read (chosen or recorded), else 0."""
    from ..models._channels import model_channels
    from ..models._factory import read_model_config

    override = (manifest.get("predict_config") or {}).get("input_channels")
    if override:
        return int(override[0])
    try:
        cfg = read_model_config(manifest.get("model", ""))
        chans = model_channels(SimpleNamespace(config=cfg), 1 << 16)  # type: ignore[arg-type]
    except Exception:  # the model may be gone: show the first channel
        return 0
    return int(chans[0]) if chans else 0


def _num(v: float | int | None, fmt: str = "g") -> tuple[str, str]:
    """``(data-v, shown text)`` of a table cell."""
    return ("", "") if v is None else (f"{v}", format(v, fmt))


def _table_row(i: int, r: ImageRow, thumbs: set[int]) -> str:
    classes = [r.status] + (["flag"] if r.flags else [])
    name = _e(r.key)
    link = f'<a href="#t{i}">{name}</a>' if i in thumbs else name
    note = "; ".join(r.flags) if r.flags else _reason(r) if r.status != "done" else ""
    cells = [f"<td>{link}</td>", f'<td class="s">{_e(r.status)}</td>']
    for v, fmt in ((r.count, "d"), (r.area_median, ".1f"), (r.area_mean, ".1f"),
                   (r.area_cv, ".1f"), (r.seconds, ".2f")):  # fmt: skip
        dv, text = _num(v, fmt)
        cells.append(f'<td class="n" data-v="{dv}">{text}</td>')
    cells.append(f'<td class="f">{_e(note)}</td>')
    return f'<tr class="{" ".join(classes)}">{"".join(cells)}</tr>'


def _thumb(i: int, r: ImageRow, channel: int) -> str:
    uri, why = thumbnail_or_reason(r.input, r.labels, channel)
    if r.status == "failed":
        why = "image unreadable"  # the failure's reason is shown below
    kind = "failed" if r.status == "failed" else "flag" if r.flags else ""
    pic = (
        f'<img src="{uri}" alt="{_e(r.key)}" loading="lazy">'
        if uri
        else f'<div class="nothumb">no thumbnail: {_e(why)}</div>'
    )
    count = f"{r.count} objects" if r.count is not None else _e(r.status)
    extra = "; ".join(r.flags) if r.flags else _reason(r) if r.status == "failed" else ""
    why_html = f'<br><span class="why">{_e(extra)}</span>' if extra else ""
    return (
        f'<figure class="thumb {kind}" id="t{i}">{pic}<figcaption><b>{_e(r.key)}</b><br>'
        f"{count}{why_html}</figcaption></figure>"
    )


def _names(rows: list[ImageRow], what: str, text) -> str:
    if not rows:
        return f'<p class="note">No {what}.</p>'
    items = "".join(f"<li><b>{_e(r.key)}</b>: {_e(text(r))}</li>" for r in rows)
    return f'<ul class="list">{items}</ul>'


def _cards(data: RunData) -> str:
    n = {s: sum(r.status == s for r in data.rows) for s in ("done", "skipped", "failed", "not_run")}
    items = [("images", len(data.rows), ""), ("done", n["done"], ""),
             ("skipped (done before)", n["skipped"], ""),
             ("failed", n["failed"], "bad" if n["failed"] else ""),
             ("not run", n["not_run"], "warn" if n["not_run"] else ""),
             ("objects", int(data.areas.size), ""),
             ("outliers", len(data.outliers), "warn" if data.outliers else "")]  # fmt: skip
    return "".join(f'<div class="card {c}"><b>{v}</b>{_e(k)}</div>' for k, v, c in items)


def _range(bounds: tuple[float, float] | None) -> str:
    return "too few images to tell" if bounds is None else f"{bounds[0]:.4g} to {bounds[1]:.4g}"


def _settings(manifest: dict) -> str:
    """Two tables side by side: the run (model, dates, counts) and the prediction settings."""
    run = []
    for key in ("model", "model_hash", "input_dir", "package_version", "python", "start", "end",
                "seconds", "workers", "scheduler", "counts", "n_objects"):  # fmt: skip
        if key in manifest:
            value = manifest[key]
            if isinstance(value, dict):
                value = ", ".join(f"{v} {k}" for k, v in value.items())
            run.append((key, value))
    settings = [
        (f"{group}.{k}", v)
        for group in ("predict_config", "large_image")
        for k, v in (manifest.get(group) or {}).items()
    ]
    if not run:
        run = [("run.json", "missing or unreadable")]
    return "".join(
        '<table class="settings">'
        + "".join(f"<tr><td>{_e(str(k))}</td><td>{_e(str(v))}</td></tr>" for k, v in rows)
        + "</table>"
        for rows in (run, settings)
        if rows
    )


def _reason(r: ImageRow) -> str:
    """The reason without the input path it starts with (the row already names the image)."""
    head, sep, tail = r.reason.partition(": ")
    return tail if sep and head.endswith(Path(r.key).name) else r.reason


def render(data: RunData, max_thumbnails: int = MAX_THUMBNAILS) -> str:
    """The report's HTML for ``data``."""
    rows, manifest = data.rows, data.manifest
    thumbs = pick_thumbnails(rows, max_thumbnails)
    channel = display_channel(manifest)
    counted = [r for r in rows if r.count is not None]
    medians = np.array([r.area_median for r in counted if r.area_median is not None])
    hists: list[tuple[np.ndarray, str, tuple[float, float] | None]] = [
        (data.areas, "object area (px), all objects", None),
        (np.array([r.count for r in counted]), "objects per image", data.count_bounds),
        (medians, "median object area per image (px)", data.median_bounds),
    ]
    hist_html = "".join(f"<figure>{histogram_svg(v, label, b)}</figure>" for v, label, b in hists)
    shown = sum(rows[i].status != "not_run" for i in thumbs)
    total = sum(r.status != "not_run" for r in rows)
    if shown == total:
        thumb_note = f"All {total} images processed, {THUMB_SIZE} px at most on the long side"
    else:
        thumb_note = (
            f"{shown} of {total} images (at most {max_thumbnails}, so the file stays small): the "
            "outliers and failures first, then an even sample of the others"
        )
    thumb_note += (
        f"; channel {channel}, the middle plane of a stack; label outlines in colour. "
        "Rebuild with more: qc_report(run_dir, max_thumbnails=N)."
    )
    rule = (
        f"Normal range: median ± {N_MAD:g} × MAD (median absolute deviation, scaled by 1.4826 "
        "to match a standard deviation; at least 5% of the median) of the objects per image "
        f"({_range(data.count_bounds)}) and of the median object area per image "
        f"({_range(data.median_bounds)} px). Red bars and dashed lines: outside the range."
    )
    title = manifest.get("input_dir") or str(data.run_dir)
    model = manifest.get("model", "unknown model")
    meta = (
        f"segment-folder run of {_e(manifest.get('start', '?'))} ({manifest.get('seconds', '?')} s)"
        f" &middot; model {_e(str(model))} ({_e(str(manifest.get('model_hash', ''))[:12])})"
        f" &middot; output {_e(str(data.run_dir))}"
    )
    thumb_set = set(thumbs)
    return PAGE.substitute(
        title=_e(str(title)),
        style=STYLE,
        meta=meta,
        cards=_cards(data),
        rule=_e(rule),
        hists=hist_html,
        n_outliers=len(data.outliers),
        outliers=_names(data.outliers, "outliers", lambda r: "; ".join(r.flags)),
        n_failed=len(data.failed),
        failures=_names(data.failed, "failures", _reason),
        thumb_note=_e(thumb_note),
        thumbs="".join(_thumb(i, rows[i], channel) for i in thumbs),
        n_rows=len(rows),
        rows="\n".join(_table_row(i, r, thumb_set) for i, r in enumerate(rows)),
        settings=_settings(manifest),
        footer=_e(
            f"Written {time.strftime('%Y-%m-%d %H:%M:%S')} from {data.run_dir} (summary.csv, "
            "measurements.csv, run.json and the label images). Every segment-folder run of this "
            "folder rebuilds it; so does qc_report(run_dir) in Python."
        ),
        script=SCRIPT,
    )
