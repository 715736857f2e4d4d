"""Dock widgets for napari: thin Qt views over the headless core (one widget per module).

Nothing here is imported by the core; the napari manifest points at the widget classes. Importing
this package changes nothing outside it: every dock keeps Triton out of the process when it
opens, and every job before it starts (see :func:`._workers.keep_triton_out`).
"""
