"""Pictures of the QC report: thumbnails with label outlines (PNG) and histograms (inline SVG).

Thumbnails read one plane of the input (the middle one of a stack) and of its labels, subsampled
to at most :data:`THUMB_SIZE` pixels on the long side; large images are read with a stride, so
only the pixels shown are loaded. The PNG is a palette image (240 grey levels and 16 outline
colours), which keeps a thumbnail at a few kilobytes.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..io._image import read_image
from ..io._lazy import open_lazy

#: Longest side of a thumbnail, in pixels.
THUMB_SIZE = 192
#: Planes up to this many pixels are read whole and averaged down (larger: read with a stride).
READ_WHOLE = 4096 * 4096
#: Files up to this size are read whole, all planes (faster than opening them for regions).
READ_WHOLE_BYTES = 64 * 2**20
#: Outline colours (RGB), picked by label value.
OUTLINE_COLOURS = (
    (255, 64, 64), (64, 220, 64), (80, 160, 255), (255, 210, 0), (255, 80, 255), (0, 230, 230),
    (255, 140, 0), (170, 110, 255), (160, 255, 100), (255, 120, 160), (120, 200, 255),
    (230, 230, 120), (255, 255, 255), (0, 190, 120), (200, 120, 60), (140, 140, 255),
)  # fmt: skip
_GREYS = 240


def _plane(path: str | os.PathLike, channel: int, step: int | None = None):
    """The middle plane of ``channel`` of an image, read with ``step`` (None: chosen here).

    Files up to :data:`READ_WHOLE_BYTES` are read whole (opening them region by region costs
    more than reading them); larger ones and Zarr folders are read with a stride.

    Returns
    -------
    tuple of (numpy.ndarray, int)
        The plane, shape ``(h, w)``, and the step it was read with.
    """
    path = Path(path)
    if path.is_file() and path.stat().st_size <= READ_WHOLE_BYTES:
        planes = read_image(path).planes()
        block, step = planes[len(planes) // 2], 1
    else:
        image = open_lazy(path)
        try:
            y, x = image.shape_yx
            if step is None:
                step = 1 if y * x <= READ_WHOLE else max(1, max(y, x) // THUMB_SIZE)
            middle = tuple(s // 2 for s in image.plane_shape)
            block = image.read(middle, slice(None, None, step), slice(None, None, step))
        finally:
            image.close()
    c = channel if -block.shape[0] <= channel < block.shape[0] else 0
    return np.asarray(block[c]), step


def _resize(image: np.ndarray, labels: np.ndarray | None):
    """Shrink a plane (box filter) and its labels (nearest) to THUMB_SIZE on the long side."""
    from PIL import Image

    h0, w0 = image.shape
    scale = min(1.0, THUMB_SIZE / max(h0, w0))
    h, w = max(1, round(h0 * scale)), max(1, round(w0 * scale))
    img = np.asarray(image, dtype=np.float32)
    if (h, w) != (h0, w0):
        img = np.asarray(Image.fromarray(img, mode="F").resize((w, h), Image.Resampling.BOX))
    if labels is not None and labels.shape != (h, w):
        rows = np.minimum((np.arange(h) + 0.5) * labels.shape[0] / h, labels.shape[0] - 1)
        cols = np.minimum((np.arange(w) + 0.5) * labels.shape[1] / w, labels.shape[1] - 1)
        labels = labels[rows.astype(int)][:, cols.astype(int)]
    return img, labels


def outlines(labels: np.ndarray) -> np.ndarray:
    """Pixels of each object that touch another value (4-neighbours); shape as ``labels``."""
    edge = np.zeros(labels.shape, dtype=bool)
    edge[:-1] |= labels[:-1] != labels[1:]
    edge[1:] |= labels[1:] != labels[:-1]
    edge[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    return edge & (labels > 0)


def thumbnail_png(
    image_path: str | os.PathLike, labels_path: str | os.PathLike | None, channel: int = 0
) -> bytes:
    """A PNG of one plane of an image, normalised (1st to 99.8th percentile), objects outlined.

    Parameters
    ----------
    image_path : path-like
        The input image (TIFF or Zarr).
    labels_path : path-like, optional
        Its label image; None for no outlines.
    channel : int
        Channel shown (the first when the image has fewer).

    Raises
    ------
    InputError, OSError, ValueError
        Unreadable image or labels.
    """
    from PIL import Image

    raw, step = _plane(image_path, channel)
    labels = _plane(labels_path, 0, step)[0] if labels_path is not None else None
    img, labels = _resize(raw, labels)
    lo, hi = np.percentile(img, (1.0, 99.8)) if img.size else (0.0, 1.0)
    scaled = np.clip((img - lo) / (hi - lo if hi > lo else 1.0), 0, 1)
    index = np.round(scaled * (_GREYS - 1)).astype(np.uint8)
    if labels is not None:
        edge = outlines(labels)
        index[edge] = (_GREYS + labels[edge].astype(np.int64) % len(OUTLINE_COLOURS)).astype(
            np.uint8
        )
    palette = [v for g in np.linspace(0, 255, _GREYS).astype(int) for v in (g, g, g)]
    palette += [v for rgb in OUTLINE_COLOURS for v in rgb]
    pic = Image.fromarray(index, mode="P")
    pic.putpalette(palette)
    buf = io.BytesIO()
    pic.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def data_uri(png: bytes) -> str:
    """``data:image/png;base64,...`` for an ``<img src>``."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step) + 1)]


def histogram_svg(
    values: Sequence[float] | np.ndarray,
    xlabel: str,
    bounds: tuple[float, float] | None = None,
    width: int = 380,
    height: int = 210,
) -> str:
    """An inline SVG histogram; values outside ``bounds`` red, the bounds as dashed lines.

    Parameters
    ----------
    values : array-like
        Shape ``(n,)``.
    xlabel : str
        Axis label.
    bounds : tuple of float, optional
        ``(low, high)`` of the normal range.
    width, height : int
        Size in CSS pixels.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return f'<p class="empty">No values for {html.escape(xlabel)}.</p>'
    lo, hi = float(v.min()), float(v.max())
    if bounds is not None:
        lo, hi = min(lo, bounds[0]), max(hi, bounds[1])
        lo = max(lo, 0.0) if v.min() >= 0 else lo
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    n_bins = int(min(40, max(5, math.ceil(math.sqrt(v.size)))))
    counts, edges = np.histogram(v, bins=n_bins, range=(lo, hi))
    outside = np.zeros_like(counts)
    if bounds is not None:
        far = v[(v < bounds[0]) | (v > bounds[1])]
        outside, _ = np.histogram(far, bins=edges)
    left, right, top, bottom = 48, 12, 10, 40
    pw, ph = width - left - right, height - top - bottom
    sx = pw / (hi - lo)
    sy = ph / max(1, int(counts.max()))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(xlabel)}">'
    ]
    for c, n_out, a, b in zip(counts, outside, edges[:-1], edges[1:]):
        x, w = left + (a - lo) * sx, max(1.0, (b - a) * sx - 1)
        tip = f"{a:.4g} to {b:.4g}: {c}" + (f" ({n_out} outside the range)" if n_out else "")
        y = top + ph  # stacked: values in the range, then those outside it (red) on top
        for n, cls in ((c - n_out, "bar"), (n_out, "bar out")):
            if n:
                y -= n * sy
                parts.append(
                    f'<rect class="{cls}" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" '
                    f'height="{n * sy:.1f}"><title>{tip}</title></rect>'
                )
    axis_y = top + ph
    parts.append(f'<line class="axis" x1="{left}" y1="{axis_y}" x2="{left + pw}" y2="{axis_y}"/>')
    parts.append(f'<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{axis_y}"/>')
    for t in _nice_ticks(lo, hi):
        x = left + (t - lo) * sx
        parts.append(
            f'<text class="tick" x="{x:.1f}" y="{axis_y + 14}" text-anchor="middle">{t:g}</text>'
        )
    for t in _nice_ticks(0, float(counts.max()), 4):
        if t != int(t):
            continue
        ty = axis_y - t * sy
        parts.append(
            f'<text class="tick" x="{left - 4}" y="{ty + 4:.1f}" text-anchor="end">{int(t)}</text>'
        )
    if bounds is not None:
        for b in bounds:
            if lo <= b <= hi:
                x = left + (b - lo) * sx
                parts.append(
                    f'<line class="bound" x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{axis_y}">'
                    f"<title>normal range limit {b:.4g}</title></line>"
                )
    parts.append(
        f'<text class="label" x="{left + pw / 2:.1f}" y="{height - 6}" '
        f'text-anchor="middle">{html.escape(xlabel)}</text></svg>'
    )
    return "".join(parts)


def thumbnail_or_reason(
    image: Path | None, labels: Path | None, channel: int
) -> tuple[str | None, str]:
    """``(data URI, "")`` of a thumbnail, or ``(None, why there is none)``."""
    from .._errors import InputError

    if image is None:
        return None, "input image not found"
    try:
        return data_uri(thumbnail_png(image, labels, channel)), ""
    except (InputError, OSError, ValueError, KeyError, IndexError) as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return None, text
