"""Whole folders: the plan of a run (inputs, outputs, what is already done), one job per
image, the streaming pipeline with its journal, block-wise processing of images larger than
memory, measurements, per-run outputs (CSV, summary) and Dask clusters.
"""
