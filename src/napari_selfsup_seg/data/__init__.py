"""Arrays into training material: percentile normalisation, training targets (foreground,
boundaries, distances), tile sampling and augmentation, the corruptions that pretraining learns
to undo, and the generated sample images used by the demo and the tests.

Imports only :mod:`napari_selfsup_seg.io` and the base modules.
"""
