"""Pseudo-masks made without drawing: thresholds, PSM maps, Score-CAM from weak labels.

One pipeline per method (``_threshold``, ``_psm``, ``_scorecam``/``_marks``), each a progress
generator returning a :class:`~._result.PseudoMaskResult` (labels, maps, the cut of each plane
and its sweep curve); the methods are listed in :mod:`._methods`, which the command line and
the widget read. ``_sweep`` chooses a cut without labels; ``_cam`` holds the bare Score-CAM and
Grad-CAM; ``_activation`` and ``_classifier`` are the small networks PSM and Score-CAM train.
"""
