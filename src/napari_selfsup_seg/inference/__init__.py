"""From a trained network to labels: input preparation (the model's channels, normalisation),
tiled prediction with overlap blending, block-wise prediction of images larger than memory,
probability maps to instances (seeded watershed), and image embeddings from the encoder.
"""
