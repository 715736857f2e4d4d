"""Segment cells and nuclei in microscopy images without hand-drawn masks.

The package is split in a headless core (I/O, pseudo-masks, training, prediction, metrics,
command line) and a thin napari layer in :mod:`napari_selfsup_seg._napari.widgets`. Importing the
package is cheap: torch and napari are imported only by the modules that need them. The public
Python API lives in :mod:`napari_selfsup_seg.api`.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
