"""The napari face: reader, writer, sample data and dock widgets (in ``widgets``).

Everything napari or Qt lives here; nothing in the core imports this package. The npe2 manifest
(``napari.yaml``) points at these modules.
"""
