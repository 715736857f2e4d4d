"""Segment cells and nuclei in microscopy images without hand-drawn masks.

A headless core in subpackages that follow the pipeline (``io`` → ``data`` → ``models`` →
``inference`` → ``evaluation`` → ``train`` → ``pseudo`` → ``batch`` → ``workflows``), the command
line in ``cli`` and the napari plugin in ``_napari``; ``docs/architecture.md`` draws the map.
Importing the package is cheap: torch and napari are imported only by the modules that need
them. The public Python API is :mod:`napari_selfsup_seg.api`.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
