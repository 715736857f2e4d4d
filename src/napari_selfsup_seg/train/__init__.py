"""Training: one engine (optimiser, warm-up and cosine schedule, mixed precision, stop flag,
throughput record) with the objectives that run on it: supervised segmentation from
pseudo-masks and self-supervised pretraining.
"""
