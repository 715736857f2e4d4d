"""The networks: one factory over segmentation_models_pytorch, device choice, losses, the
model folder format (``config.json`` + ``weights.pt``) and which image channel a model reads.
"""
