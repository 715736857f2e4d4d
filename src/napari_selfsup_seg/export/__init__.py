"""Models leaving this tool: bioimage.io model packages (spec 0.5) with the provenance of their
training labels. Reading a package back is in :mod:`napari_selfsup_seg.models._package`.
"""
