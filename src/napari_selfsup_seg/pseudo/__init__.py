"""Pseudo-masks made without drawing: thresholds, PSM maps, Score-CAM from weak labels."""
