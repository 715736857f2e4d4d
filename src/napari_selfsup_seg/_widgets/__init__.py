"""Dock widgets for napari: thin Qt views over the headless core (one widget per module).

Nothing here is imported by the core; the napari manifest points at the widget classes.
"""
