"""Training: one engine (``_engine``: step loop, stop flag, throughput record; ``_optim``:
optimiser, warm-up and cosine schedule, mixed-precision policy) and the objectives that run on it:
supervised segmentation from pseudo-masks (``_supervised``, ``_setup``) and self-supervised
pretraining (``_pretrain``, ``_pretrain_config``). The PSM and Score-CAM networks in ``pseudo``
run on the same engine.
"""
