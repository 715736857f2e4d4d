"""Scores against reference labels: average precision at IoU thresholds, F1, panoptic
quality and Dice, with sparse (partly annotated) references and ignore regions.
"""
