"""Random training tiles: foreground-preferring crops, flips, 90° rotations, intensity changes.

Everything here works on numpy arrays already normalised to about ``[0, 1]``; it is cheap next to
a forward and backward pass, so the training loop assembles each batch in the main process.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._symmetry import TRANSFORMS, apply_transform
from ._targets import IGNORE


class TileSampler:
    """Draws training tiles from a list of normalised images and their class targets.

    Parameters
    ----------
    images : list of numpy.ndarray of float32
        Each ``(C, Y, X)`` with ``Y, X >= tile_size`` (pad beforehand).
    targets : list of numpy.ndarray of uint8
        Each ``(Y, X)``: 0 background, 1 interior, 2 boundary, 255 ignore.
    tile_size : int
        Side of the square tiles.
    rng : numpy.random.Generator
        Source of randomness (seeded by the caller).
    foreground_fraction : float
        Probability that a tile is centred on a foreground pixel rather than anywhere.
    augment : bool
        Apply flips, rotations and intensity changes.
    transforms : sequence of str
        The flips and rotations drawn from (names of :data:`~._symmetry.TRANSFORMS`, each equally
        likely; default all eight, see :func:`~._symmetry.object_symmetries`).
    preferred : sequence of (int, (y0, x0, y1, x1))
        Boxes (image index, then the box in that image's pixels) that tiles are drawn over more
        often, e.g. the regions a user reviewed. A tile drawn for a box holds the whole box when
        the box fits in a tile, else lies inside the box; its origin is uniform among those.
    preferred_fraction : float
        Probability that a tile is drawn over one of the ``preferred`` boxes (chosen uniformly)
        rather than as usual.
    """

    def __init__(
        self,
        images: list[np.ndarray],
        targets: list[np.ndarray],
        tile_size: int,
        rng: np.random.Generator,
        foreground_fraction: float = 0.7,
        augment: bool = True,
        preferred: Sequence[tuple[int, Sequence[int]]] = (),
        preferred_fraction: float = 0.0,
        transforms: Sequence[str] = TRANSFORMS,
    ) -> None:
        self.images = images
        self.targets = targets
        self.tile = int(tile_size)
        self.rng = rng
        self.foreground_fraction = foreground_fraction
        self.augment = augment
        self.transforms = tuple(transforms)
        self._every_turn = set(self.transforms) == set(TRANSFORMS)
        self.foreground = [np.flatnonzero((t == 1) | (t == 2)) for t in targets]
        # Images are drawn in proportion to their labelled area.
        weights = np.array([(t != IGNORE).sum() for t in targets], np.float64)
        self.image_p = weights / weights.sum()
        self.preferred = [(int(i), tuple(int(v) for v in box)) for i, box in preferred]
        self.preferred_fraction = float(preferred_fraction) if self.preferred else 0.0

    def _span(self, lo: int, hi: int, size: int) -> int:
        """Start of a tile along one axis over ``[lo, hi)`` (see ``preferred``)."""
        t = self.tile
        a, b = (hi - t, lo) if hi - lo <= t else (lo, hi - t)
        a, b = (int(np.clip(v, 0, size - t)) for v in (a, b))
        return int(self.rng.integers(min(a, b), max(a, b) + 1))

    def _preferred_corner(self) -> tuple[int, int, int]:
        i, (y0, x0, y1, x1) = self.preferred[int(self.rng.integers(len(self.preferred)))]
        h, w = self.targets[i].shape
        return i, self._span(y0, y1, h), self._span(x0, x1, w)

    def _corner(self, i: int) -> tuple[int, int]:
        h, w = self.targets[i].shape
        t = self.tile
        fg = self.foreground[i]
        if fg.size and self.rng.random() < self.foreground_fraction:
            cy, cx = divmod(int(fg[self.rng.integers(fg.size)]), w)
            y0 = int(np.clip(cy - t // 2 + self.rng.integers(-t // 4, t // 4 + 1), 0, h - t))
            x0 = int(np.clip(cx - t // 2 + self.rng.integers(-t // 4, t // 4 + 1), 0, w - t))
            return y0, x0
        return int(self.rng.integers(0, h - t + 1)), int(self.rng.integers(0, w - t + 1))

    def batch(self, batch_size: int, out_x: np.ndarray, out_y: np.ndarray) -> None:
        """Fill ``out_x`` ``(B, C, T, T)`` float32 and ``out_y`` ``(B, T, T)`` int64 in place."""
        t = self.tile
        for b in range(batch_size):
            if self.preferred_fraction and self.rng.random() < self.preferred_fraction:
                i, y0, x0 = self._preferred_corner()
            else:
                i = int(self.rng.choice(len(self.images), p=self.image_p))
                y0, x0 = self._corner(i)
            x = self.images[i][:, y0 : y0 + t, x0 : x0 + t]
            y = self.targets[i][y0 : y0 + t, x0 : x0 + t]
            if self.augment:
                x, y = self._geometric(x, y)
                out_x[b] = self._intensity(x)
            else:
                out_x[b] = x
            out_y[b] = y

    def _geometric(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not self._every_turn:
            name = self.transforms[int(self.rng.integers(len(self.transforms)))]
            return apply_transform(x, name), apply_transform(y, name)
        k = int(self.rng.integers(4))
        if k:
            x = np.rot90(x, k, axes=(-2, -1))
            y = np.rot90(y, k, axes=(-2, -1))
        if self.rng.random() < 0.5:
            x, y = x[..., ::-1], y[..., ::-1]
        return x, y

    def _intensity(self, x: np.ndarray) -> np.ndarray:
        rng = self.rng
        x = np.array(x, dtype=np.float32)
        if rng.random() < 0.5:
            gamma = float(np.exp(rng.uniform(-0.4, 0.4)))
            lo = x.min()
            x = lo + np.power(np.clip(x - lo, 0, None), gamma)
        scale = float(rng.uniform(0.8, 1.2))
        shift = float(rng.uniform(-0.1, 0.1))
        x = x * scale + shift
        if rng.random() < 0.5:
            sigma = float(rng.uniform(0.0, 0.05))
            x = x + rng.standard_normal(x.shape, dtype=np.float32) * sigma
        return x
