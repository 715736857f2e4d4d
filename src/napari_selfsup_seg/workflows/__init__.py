"""Recipes that chain the pipeline: fluorescence pseudo-masks to a brightfield model, the
demo on generated data, training followed by prediction, and the correction session.
"""
