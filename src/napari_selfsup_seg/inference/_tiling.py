"""Tile layout and blending windows for tiled prediction.

An axis of length ``n`` is covered by the fewest tiles of at most ``tile`` pixels that overlap by
at least ``overlap`` pixels; the tiles are spread evenly and their length is rounded up to a
multiple the network accepts. Tiles are blended with a window that ramps smoothly (``sin²``) over
the overlap on sides that have a neighbour and stays flat elsewhere, so weights never vanish and
dividing by their sum gives back exact values where only one tile covers a pixel.
"""

from __future__ import annotations

import math

import numpy as np


def _round_up(n: int, multiple: int) -> int:
    return int(math.ceil(n / multiple) * multiple)


def axis_tiles(length: int, tile: int, overlap: int, multiple: int = 32) -> tuple[int, list[int]]:
    """Tile length and start positions along one axis.

    Parameters
    ----------
    length : int
        Size of the axis in pixels.
    tile : int
        Largest tile length (a multiple of ``multiple``).
    overlap : int
        Smallest overlap between neighbouring tiles.
    multiple : int
        Tile lengths are multiples of this (the network's total stride).

    Returns
    -------
    tile_length : int
        Length of every tile; larger than ``length`` only when the axis is shorter than one
        tile, in which case the image is padded to it.
    starts : list of int
        First pixel of each tile.
    """
    if length <= tile:
        return _round_up(length, multiple), [0]
    step = tile - overlap
    n = math.ceil((length - overlap) / step)
    tl = min(tile, _round_up(math.ceil((length + (n - 1) * overlap) / n), multiple))
    starts = np.round(np.linspace(0, length - tl, n)).astype(int)
    return tl, [int(s) for s in starts]


def ramp(length: int, overlap: int, start: bool, end: bool) -> np.ndarray:
    """1D blending weights of one tile: ``sin²`` ramps over ``overlap`` at the chosen ends."""
    w = np.ones(length, np.float32)
    if overlap <= 0:
        return w
    r = np.sin(0.5 * np.pi * (np.arange(overlap, dtype=np.float32) + 0.5) / overlap) ** 2
    if start:
        w[:overlap] = r
    if end:
        w[length - overlap :] = np.minimum(w[length - overlap :], r[::-1])
    return w


def tile_grid(
    shape: tuple[int, int], tile: int, overlap: int, multiple: int = 32
) -> tuple[tuple[int, int], list[tuple[int, int, np.ndarray]]]:
    """All tiles of a ``(Y, X)`` plane with their blending windows.

    Returns
    -------
    padded_shape : tuple of int
        ``(Y', X')`` with ``Y' >= Y``: the plane is padded to this before tiling.
    tiles : list of (y0, x0, window)
        Top-left corners and ``(ty, tx)`` float32 windows.
    """
    ty, ys = axis_tiles(shape[0], tile, overlap, multiple)
    tx, xs = axis_tiles(shape[1], tile, overlap, multiple)
    padded = (max(shape[0], ty), max(shape[1], tx))
    wy = [ramp(ty, overlap, i > 0, i < len(ys) - 1) for i in range(len(ys))]
    wx = [ramp(tx, overlap, j > 0, j < len(xs) - 1) for j in range(len(xs))]
    tiles = [(y0, x0, np.outer(wy[i], wx[j])) for i, y0 in enumerate(ys) for j, x0 in enumerate(xs)]
    return padded, tiles
