"""The networks: one factory over segmentation_models_pytorch (encoder stages the decoder does not
use are dropped), device and CPU-thread choice, losses, the model folder format
(``config.json`` + ``weights.pt``) and which image channel a model reads.
"""
