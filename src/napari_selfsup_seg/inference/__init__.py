"""From a trained network to labels: tiled prediction with overlap blending, probability
maps to instances (seeded watershed), and image embeddings from the encoder.
"""
