"""What a TIFF file says about its pixels: axis letters mapped onto ``TZCYX``, the pixel size
in micrometres (OME or ImageJ/resolution tags) and OME channel names.

Shared by the in-memory reader (:mod:`napari_selfsup_seg.io._image`) and the lazy, region-by-region
reader (:mod:`napari_selfsup_seg.io._lazy`).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

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


def _ome_pixels(tif, series: int):
    """The ``<Pixels>`` element of OME image number ``series``, or ``None``."""
    try:
        root = ET.fromstring(tif.ome_metadata)
    except (ET.ParseError, TypeError, ValueError):
        return None
    images = [e for e in root if e.tag.rsplit("}", 1)[-1] == "Image"]
    if not 0 <= series < len(images):
        return None
    return next((e for e in images[series] if e.tag.rsplit("}", 1)[-1] == "Pixels"), None)


def tiff_z_spacing(tif, series: int = 0) -> float | None:
    """Distance between Z planes in micrometres from OME metadata, if any."""
    try:
        pixels = _ome_pixels(tif, series) if tif.is_ome and tif.ome_metadata else None
        z = pixels.get("PhysicalSizeZ") if pixels is not None else None
        return float(z) if z else None
    except Exception:
        return None


def tiff_pixel_size(tif, series: int = 0) -> tuple[float, float] | None:
    """Pixel size (y, x) in micrometres from OME or ImageJ metadata, if any."""
    try:
        if tif.is_ome and tif.ome_metadata:
            pixels = _ome_pixels(tif, series)
            if pixels is not None:
                px, py = pixels.get("PhysicalSizeX"), pixels.get("PhysicalSizeY")
                if px and py:
                    return float(py), float(px)
            meta = tif.ome_metadata
            px = re.search(r'PhysicalSizeX="([0-9.eE+-]+)"', meta)
            py = re.search(r'PhysicalSizeY="([0-9.eE+-]+)"', meta)
            if px and py and pixels is None:
                return float(py.group(1)), float(px.group(1))
        page = tif.series[series].pages[0] if 0 < series < len(tif.series) else tif.pages[0]
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


def tiff_channel_names(tif, series: int = 0) -> list[str]:
    """Channel names of OME image number ``series`` from OME metadata, if any."""
    try:
        if tif.is_ome and tif.ome_metadata:
            pixels = _ome_pixels(tif, series)
            if pixels is not None:
                channels = [e for e in pixels if e.tag.rsplit("}", 1)[-1] == "Channel"]
                names = [c.get("Name", "") for c in channels]
                return names if any(names) else []
            return re.findall(r'<Channel [^>]*Name="([^"]*)"', tif.ome_metadata)
    except Exception:
        return []
    return []
