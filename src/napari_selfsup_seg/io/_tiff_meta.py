"""What a TIFF file says about its pixels: axis letters mapped onto ``TZCYX``, the pixel size
in micrometres (OME or ImageJ/resolution tags) and OME channel names.

Shared by the in-memory reader (:mod:`napari_selfsup_seg.io._image`) and the lazy, region-by-region
reader (:mod:`napari_selfsup_seg.io._lazy`).
"""

from __future__ import annotations

import re

#: The axis letters images are described with, in their canonical order.
KNOWN_AXES = "TZCYX"


def tiff_axes(axes: str, shape: tuple[int, ...]) -> str:
    """Map tifffile's axis letters onto ``TZCYX``."""
    axes = axes.upper().replace("S", "C").replace("I", "T")
    out = []
    for a, n in zip(axes, shape):
        if a in KNOWN_AXES:
            out.append(a)
        elif a == "Q":
            # Unknown axis of an image written without metadata: a short one is taken for
            # channels, a long one for planes (pass axes= to read_image to say otherwise).
            out.append("C" if n <= 4 and "C" not in axes else "Z")
        else:
            out.append("T")
    return "".join(out)


def tiff_pixel_size(tif) -> tuple[float, float] | None:
    """Pixel size (y, x) in micrometres from OME or ImageJ metadata, if any."""
    try:
        if tif.is_ome and tif.ome_metadata:
            meta = tif.ome_metadata
            px = re.search(r'PhysicalSizeX="([0-9.eE+-]+)"', meta)
            py = re.search(r'PhysicalSizeY="([0-9.eE+-]+)"', meta)
            if px and py:
                return float(py.group(1)), float(px.group(1))
        page = tif.pages[0]
        tags = page.tags
        if "XResolution" in tags and "YResolution" in tags:
            xr = tags["XResolution"].value
            yr = tags["YResolution"].value
            unit = tags["ResolutionUnit"].value if "ResolutionUnit" in tags else 1
            ij = tif.imagej_metadata or {}
            if xr[0] and yr[0] and (ij.get("unit") in ("micron", "um", "µm") or unit == 3):
                scale = 1.0 if ij.get("unit") else 1e4  # RESUNIT 3 is centimetre
                return scale * yr[1] / yr[0], scale * xr[1] / xr[0]
    except Exception:
        return None
    return None


def tiff_channel_names(tif) -> list[str]:
    """Channel names from OME metadata, if any."""
    try:
        if tif.is_ome and tif.ome_metadata:
            return re.findall(r'<Channel [^>]*Name="([^"]*)"', tif.ome_metadata)
    except Exception:
        return []
    return []
