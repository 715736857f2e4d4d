"""Whole folders: the plan of a run (inputs, outputs, what is already done), one job per image
with typed records (``ImageOutcome``, ``RunSummary``), the streaming pipeline with its journal,
measurements of images predicted block by block, per-run outputs (CSV, summary) and Dask clusters.
"""
