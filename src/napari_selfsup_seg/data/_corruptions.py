"""Image corruptions that a network learns to undo during self-supervised pretraining.

These follow Models Genesis (Zhou et al., MedIA 2021): local pixel shuffling, a non-linear
intensity curve (a random cubic Bézier curve), in-painting and out-painting, plus additive
Gaussian noise. Each function takes one normalised tile of shape ``(C, Y, X)`` (float32, values
mostly in [0, 1]) and a :class:`numpy.random.Generator`, and returns a new array of the same
shape and dtype; the input is never modified. :func:`sample_batch` draws random crops of the
images and builds a pretraining batch from them.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def local_pixel_shuffle(
    tile: np.ndarray,
    rng: np.random.Generator,
    n_blocks: int = 200,
    max_block: int = 8,
) -> np.ndarray:
    """Shuffle the pixels inside many small random blocks.

    Keeps the global appearance but destroys local texture, so restoring it needs knowledge of
    local structure (edges, nuclear texture).

    Parameters
    ----------
    tile : numpy.ndarray
        Shape ``(C, Y, X)``.
    rng : numpy.random.Generator
        Source of randomness.
    n_blocks : int
        Number of blocks; scaled by the tile area relative to 64×64.
    max_block : int
        Largest block side in pixels.

    Returns
    -------
    numpy.ndarray
        Shape and dtype of ``tile``.
    """
    out = tile.copy()
    c, h, w = tile.shape
    n = max(1, round(n_blocks * h * w / 4096))
    for _ in range(n):
        bh = int(rng.integers(2, min(max_block, h) + 1))
        bw = int(rng.integers(2, min(max_block, w) + 1))
        y = int(rng.integers(0, h - bh + 1))
        x = int(rng.integers(0, w - bw + 1))
        block = out[:, y : y + bh, x : x + bw].reshape(c, -1)
        perm = rng.permutation(block.shape[1])
        out[:, y : y + bh, x : x + bw] = block[:, perm].reshape(c, bh, bw)
    return out


def bezier_curve(rng: np.random.Generator, n: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """A random monotone-ends cubic Bézier curve from (0, 0) to (1, 1), or its mirror image.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the two random control points.
    n : int
        Number of samples along the curve.

    Returns
    -------
    xs, ys : numpy.ndarray
        Shape ``(n,)`` each; ``xs`` increasing, ready for :func:`numpy.interp`.
    """
    p1, p2 = rng.random(2), rng.random(2)
    t = np.linspace(0.0, 1.0, n)
    # Bernstein polynomials of degree 3 with end points (0, 0) and (1, 1).
    b1, b2, b3 = 3 * t * (1 - t) ** 2, 3 * t**2 * (1 - t), t**3
    xs = b1 * p1[0] + b2 * p2[0] + b3
    ys = b1 * p1[1] + b2 * p2[1] + b3
    order = np.argsort(xs)
    xs, ys = xs[order], ys[order]
    if rng.random() < 0.5:
        ys = 1.0 - ys  # an inverted curve (intensity flip) half of the time
    return xs, ys


def nonlinear_intensity(tile: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Map intensities through a random Bézier curve (per tile, the same for all channels).

    Values outside [0, 1] keep their excess beyond the curve's end points, so bright outliers
    stay bright.

    Parameters
    ----------
    tile : numpy.ndarray
        Shape ``(C, Y, X)``, normalised to roughly [0, 1].
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    numpy.ndarray
        Shape and dtype of ``tile``.
    """
    xs, ys = bezier_curve(rng)
    inside = np.clip(tile, 0.0, 1.0)
    mapped = np.interp(inside, xs, ys) + (tile - inside)
    return mapped.astype(tile.dtype, copy=False)


def _random_box(rng: np.random.Generator, h: int, w: int, lo: float, hi: float):
    bh = max(1, int(h * rng.uniform(lo, hi)))
    bw = max(1, int(w * rng.uniform(lo, hi)))
    y = int(rng.integers(0, h - bh + 1))
    x = int(rng.integers(0, w - bw + 1))
    return y, x, bh, bw


def inpaint(tile: np.ndarray, rng: np.random.Generator, n_boxes: int = 5) -> np.ndarray:
    """Replace up to ``n_boxes`` random inner boxes by uniform noise.

    Parameters
    ----------
    tile, rng
        As for :func:`local_pixel_shuffle`.
    n_boxes : int
        Most boxes drawn (at least one always is).

    Returns
    -------
    numpy.ndarray
        Shape and dtype of ``tile``.
    """
    out = tile.copy()
    c, h, w = tile.shape
    for _ in range(int(rng.integers(1, n_boxes + 1))):
        y, x, bh, bw = _random_box(rng, h, w, 1 / 8, 1 / 4)
        out[:, y : y + bh, x : x + bw] = rng.random((c, bh, bw), dtype=np.float32)
    return out


def outpaint(tile: np.ndarray, rng: np.random.Generator, n_boxes: int = 4) -> np.ndarray:
    """Keep only a few random boxes of the tile and fill everything else with uniform noise.

    The counterpart of :func:`inpaint`, with its parameters and result, except that
    ``n_boxes`` counts the boxes kept (at least one always is).
    """
    c, h, w = tile.shape
    out = rng.random((c, h, w), dtype=np.float32).astype(tile.dtype, copy=False)
    for _ in range(int(rng.integers(1, n_boxes + 1))):
        y, x, bh, bw = _random_box(rng, h, w, 3 / 8, 5 / 8)
        out[:, y : y + bh, x : x + bw] = tile[:, y : y + bh, x : x + bw]
    return out


def gaussian_noise(tile: np.ndarray, rng: np.random.Generator, std: float = 0.1) -> np.ndarray:
    """Add zero-mean Gaussian noise with a random strength up to ``std``.

    Parameters
    ----------
    tile, rng
        As for :func:`local_pixel_shuffle`.
    std : float
        Largest noise standard deviation (the tile is normalised to about [0, 1]).

    Returns
    -------
    numpy.ndarray
        Shape and dtype of ``tile``.
    """
    sigma = rng.uniform(0.3, 1.0) * std
    return (tile + sigma * rng.standard_normal(tile.shape)).astype(tile.dtype, copy=False)


def corrupt(
    tile: np.ndarray,
    rng: np.random.Generator,
    p_shuffle: float = 0.5,
    p_nonlinear: float = 0.9,
    p_paint: float = 0.9,
    outpaint_fraction: float = 0.2,
    p_noise: float = 0.5,
    noise_std: float = 0.1,
) -> np.ndarray:
    """Apply the Models Genesis corruptions in their usual order, each with its probability.

    Order: non-linear intensity, local shuffling, in- or out-painting, noise. When no corruption
    was drawn, local shuffling is applied so that the network never learns the identity only.

    Parameters
    ----------
    tile : numpy.ndarray
        Shape ``(C, Y, X)``, float32.
    rng : numpy.random.Generator
        Source of randomness.
    p_shuffle, p_nonlinear, p_paint, p_noise : float
        Probabilities of each corruption.
    outpaint_fraction : float
        Of the painting corruptions, the fraction that are out-painting.
    noise_std : float
        Largest noise standard deviation.

    Returns
    -------
    numpy.ndarray
        The corrupted tile, shape and dtype of ``tile``.
    """
    out = tile
    changed = False
    if rng.random() < p_nonlinear:
        out, changed = nonlinear_intensity(out, rng), True
    if rng.random() < p_shuffle:
        out, changed = local_pixel_shuffle(out, rng), True
    if rng.random() < p_paint:
        painter = outpaint if rng.random() < outpaint_fraction else inpaint
        out, changed = painter(out, rng), True
    if rng.random() < p_noise and noise_std > 0:
        out, changed = gaussian_noise(out, rng, noise_std), True
    if not changed:
        out = local_pixel_shuffle(out, rng)
    return out


def _augment(tile: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random 90° rotation and flip of a square ``(C, T, T)`` tile."""
    tile = np.rot90(tile, int(rng.integers(4)), axes=(1, 2))
    if rng.random() < 0.5:
        tile = tile[:, :, ::-1]
    return np.ascontiguousarray(tile)


def sample_batch(
    planes: list[np.ndarray], cfg: Any, rng: np.random.Generator, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Draw one pretraining batch: clean tiles, corrupted copies and a second corrupted view.

    Parameters
    ----------
    planes : list of numpy.ndarray
        Normalised ``(C, Y, X)`` float32 planes, each at least ``cfg.tile_size`` on a side.
    cfg : PretrainConfig
        Tile size, batch size, corruption probabilities, ``augment`` and
        ``contrastive_weight`` (the second view is drawn only when it is above 0).
    rng : numpy.random.Generator
        Source of randomness.
    weights : numpy.ndarray
        Shape ``(len(planes),)``: probability of drawing a tile from each plane.

    Returns
    -------
    clean, corrupted : numpy.ndarray of float32
        Shape ``(B, C, T, T)``: restoration targets and network inputs.
    second_view : numpy.ndarray of float32 or None
        Shape ``(B, C, T, T)``: the same crops, independently flipped/rotated and corrupted (for
        the contrastive term); ``None`` when ``cfg.contrastive_weight`` is 0.
    """
    t = cfg.tile_size
    names = ("p_shuffle", "p_nonlinear", "p_paint", "outpaint_fraction", "p_noise", "noise_std")
    kw = {name: getattr(cfg, name) for name in names}
    clean, view_a, view_b = [], [], []
    for _ in range(cfg.batch_size):
        plane = planes[int(rng.choice(len(planes), p=weights))]
        y = int(rng.integers(0, plane.shape[1] - t + 1))
        x = int(rng.integers(0, plane.shape[2] - t + 1))
        crop = plane[:, y : y + t, x : x + t]
        tile = _augment(crop, rng) if cfg.augment else crop.copy()
        clean.append(tile)
        view_a.append(corrupt(tile, rng, **kw))
        if cfg.contrastive_weight > 0:
            other = _augment(crop, rng) if cfg.augment else crop.copy()
            view_b.append(corrupt(other, rng, **kw))
    stack = lambda xs: np.stack(xs).astype(np.float32, copy=False)  # noqa: E731
    return stack(clean), stack(view_a), (stack(view_b) if view_b else None)
