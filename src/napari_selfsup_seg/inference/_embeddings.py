"""Per-image feature vectors from a (pretrained) U-Net encoder, for profiling and clustering.

As in GAN-DL (arXiv 2107.07761), a network trained without labels on the user's own images
serves as a feature extractor: each image is run through the encoder and every stage's feature
maps are averaged over space, giving one vector per image that can be clustered, plotted or
fed to a classifier. The vectors are written as CSV, one row per image.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .._errors import InputError
from ..io._atomic import atomic_write
from ..models._factory import LoadedModel


def image_embeddings(
    model: LoadedModel | str | os.PathLike,
    images: Sequence[np.ndarray] | np.ndarray,
    stages: str = "all",
) -> np.ndarray:
    """Spatially pooled encoder features of each image.

    Parameters
    ----------
    model : LoadedModel or path-like
        A pretrained or trained model (or its MODEL_DIR); only the encoder is used.
    images : sequence of numpy.ndarray, or one numpy.ndarray
        Planes of shape ``(Y, X)`` or ``(C, Y, X)``; normalised and channel-selected as the
        model was trained.
    stages : str
        ``"all"``: concatenate the means of every encoder stage after the input;
        ``"last"``: only the deepest stage.

    Returns
    -------
    numpy.ndarray of float32
        Shape ``(N, F)``, one row per image; ``F`` is the sum (or last) of the encoder's stage
        widths.

    Raises
    ------
    InputError
        Bad image shape, constant image, or an unknown ``stages``.
    """
    import torch

    from ._input import as_model, prepare_input

    if stages not in ("all", "last"):
        raise InputError(f"stages must be 'all' or 'last', got {stages!r}")
    model = as_model(model)
    if isinstance(images, np.ndarray) and images.ndim == 2:
        images = [images]
    if len(images) == 0:
        raise InputError("no images given")
    multiple = 2**model.config.model.encoder_depth
    encoder = model.net.encoder
    model.net.eval()
    rows = []
    with torch.inference_mode():
        for i, img in enumerate(images):
            x = prepare_input(model, img, f"image {i}")
            h, w = x.shape[1:]
            py, px = (-h) % multiple, (-w) % multiple
            if py or px:
                x = np.pad(x, ((0, 0), (0, py), (0, px)), mode="reflect")
            t = torch.from_numpy(np.ascontiguousarray(x))[None].to(model.device)
            feats = encoder(t)[1:]
            if stages == "last":
                feats = feats[-1:]
            rows.append(torch.cat([f.float().mean(dim=(2, 3)) for f in feats], 1)[0].cpu())
    return torch.stack(rows).numpy().astype(np.float32)


def write_embeddings_csv(
    path: str | os.PathLike, names: Sequence[str], embeddings: np.ndarray
) -> Path:
    """Write one row per image: ``name, f0, f1, ...``.

    Parameters
    ----------
    path : path-like
        The CSV file (written to a temporary name and renamed).
    names : sequence of str
        One name per row of ``embeddings``.
    embeddings : numpy.ndarray
        Shape ``(N, F)``.

    Returns
    -------
    pathlib.Path
    """
    embeddings = np.asarray(embeddings)
    if embeddings.ndim != 2 or len(names) != embeddings.shape[0]:
        raise InputError(
            f"{len(names)} names for embeddings of shape {embeddings.shape}; need one per row"
        )

    def write(tmp: str) -> None:
        with open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["name", *(f"f{j}" for j in range(embeddings.shape[1]))])
            for name, row in zip(names, embeddings):
                writer.writerow([name, *(f"{v:.6g}" for v in row)])

    return atomic_write(path, write)
