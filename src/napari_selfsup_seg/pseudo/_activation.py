"""The PSM activation network: a small CNN trained self-supervised, and its shallow-block maps.

Objective: two-view similarity in the SimSiam style (Chen & He, CVPR 2021). Two random views of
the same crop (flips, 90° rotations, the 180° rotation of the PSM reference among them, random
gain/offset/gamma and noise) must give the same embedding, with a predictor head and a
stop-gradient on the target branch so the network cannot collapse to a constant. This was
chosen over the reference's plain 180°-rotation consistency because that loss alone is
satisfied by a constant output, and over losses that assume bright objects: the views differ
only in geometry and intensity scale, which holds for dark-field fluorescence (bright nuclei on
black) and for brightfield (low-contrast dark/rimmed cells on a bright, unevenly lit
background) alike. To make the views agree the network must encode *what structures are where
and how they look*, which is what its shallow blocks' gradients then highlight.

Torch is imported at module level: only the PSM path imports this module.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._progress import Progress
from ..train._engine import Objective, Recipe, run, seed_everything


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class ActivationNet(nn.Module):
    """A small CNN with an embedding output.

    Stages: ``stem`` (stride 1), ``block1`` (stride 2), ``block2`` (stride 4) are the shallow
    blocks whose gradients make the PSM map; ``block3`` (stride 8) and a global average pool
    feed a projector (embedding) and a predictor (SimSiam).

    Parameters
    ----------
    width : int
        Channels of the stem; later stages double it.
    embed : int
        Size of the embedding.
    """

    shallow = ("stem", "block1", "block2")

    def __init__(self, width: int = 16, embed: int = 64) -> None:
        super().__init__()
        w = width
        self.stem = _conv(1, w)
        self.block1 = nn.Sequential(_conv(w, 2 * w, 2), _conv(2 * w, 2 * w))
        self.block2 = nn.Sequential(_conv(2 * w, 4 * w, 2), _conv(4 * w, 4 * w))
        self.block3 = nn.Sequential(_conv(4 * w, 8 * w, 2), _conv(8 * w, 8 * w))
        self.projector = nn.Sequential(
            nn.Linear(8 * w, embed), nn.BatchNorm1d(embed), nn.ReLU(inplace=True),
            nn.Linear(embed, embed), nn.BatchNorm1d(embed, affine=False),
        )  # fmt: skip
        self.predictor = nn.Sequential(
            nn.Linear(embed, embed // 2), nn.BatchNorm1d(embed // 2), nn.ReLU(inplace=True),
            nn.Linear(embed // 2, embed),
        )  # fmt: skip

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Activations of every stage, ``(B, C_s, H / stride, W / stride)`` each."""
        out = {}
        for name in ("stem", "block1", "block2", "block3"):
            x = getattr(self, name)(x)
            out[name] = x
        return out

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Embedding ``(B, embed)`` of images ``(B, 1, H, W)``."""
        return self.projector(self.features(x)["block3"].mean((2, 3)))


def simsiam_loss(net: ActivationNet, v1: torch.Tensor, v2: torch.Tensor) -> torch.Tensor:
    """Symmetric negative cosine similarity with stop-gradient on the targets (in [-1, 1])."""
    z1, z2 = net.embed(v1), net.embed(v2)
    p1, p2 = net.predictor(z1), net.predictor(z2)
    return -0.5 * (
        F.cosine_similarity(p1, z2.detach()).mean() + F.cosine_similarity(p2, z1.detach()).mean()
    )


def _random_view(crops: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random flip/rotation (incl. 180°) and intensity change of a batch ``(B, 1, S, S)``."""
    b = crops.shape[0]
    out = []
    for i in range(b):
        x = crops[i]
        k = int(torch.randint(0, 4, (1,), generator=gen))
        x = torch.rot90(x, k, (1, 2))
        if bool(torch.randint(0, 2, (1,), generator=gen)):
            x = torch.flip(x, (2,))
        out.append(x)
    v = torch.stack(out)
    u = torch.rand((b, 3, 1, 1), generator=gen)
    gain, offset, gamma = 0.7 + 0.6 * u[:, :1], 0.2 * (u[:, 1:2] - 0.5), 0.7 + 0.6 * u[:, 2:]
    v = torch.clamp(v, 0, None) ** gamma * gain + offset
    return v + 0.03 * torch.randn(v.shape, generator=gen)


class _SimSiamObjective(Objective):
    """Two random views of random crops must give the same embedding."""

    stage = "psm-train"
    what = "the PSM activation network"
    message = "self-supervised activation network"

    def __init__(
        self, planes: Sequence[np.ndarray], crop_size: int, batch_size: int, width: int, seed: int
    ) -> None:
        seed_everything(seed)
        self.gen = torch.Generator().manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        self.net = ActivationNet(width=width)
        self.planes, self.crop_size, self.batch_size = planes, crop_size, batch_size

    def modules(self) -> list[nn.Module]:
        return [self.net]

    def loss(self, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        c, rng = self.crop_size, self.rng
        crops = np.empty((self.batch_size, 1, c, c), np.float32)
        for i in range(self.batch_size):
            p = self.planes[int(rng.integers(len(self.planes)))]
            y = int(rng.integers(0, p.shape[0] - c + 1))
            x = int(rng.integers(0, p.shape[1] - c + 1))
            crops[i, 0] = p[y : y + c, x : x + c]
        batch = torch.from_numpy(crops)
        v1, v2 = _random_view(batch, self.gen), _random_view(batch, self.gen)
        return simsiam_loss(self.net, v1, v2), {}


def train_activation_net_iter(
    planes: Sequence[np.ndarray],
    steps: int,
    crop_size: int,
    batch_size: int,
    learning_rate: float,
    width: int,
    seed: int,
    stop: Callable[[], bool] | None = None,
) -> Generator[Progress, None, ActivationNet]:
    """Train :class:`ActivationNet` on random crops of normalised planes, on the CPU.

    SGD with momentum and weight decay 1e-4, cosine schedule without warm-up (the training
    engine, :mod:`napari_selfsup_seg.train._engine`).

    Parameters
    ----------
    planes : sequence of numpy.ndarray
        Normalised planes ``(Y, X)`` (float32, roughly 0..1), each at least ``crop_size`` wide.
    steps, crop_size, batch_size, learning_rate, width, seed
        Recipe (see :class:`~napari_selfsup_seg.pseudo._psm.PSMConfig`).
    stop : callable, optional
        Checked every step; training ends early (with the network so far) when it returns True.

    Yields
    ------
    TrainProgress
        One record per step.

    Returns
    -------
    ActivationNet
        The trained network in eval mode.
    """
    objective = _SimSiamObjective(planes, crop_size, batch_size, width, seed)
    recipe = Recipe(steps, batch_size, learning_rate, optimizer="sgd")
    yield from run(objective, recipe, torch.device("cpu"), stop)
    return objective.net


def shallow_activation_map(net: ActivationNet, plane: np.ndarray) -> np.ndarray:
    """PSM map of one plane: gradient-weighted shallow-block activations.

    For each shallow block (stride 1, 2, 4), each channel is weighted by the spatial mean of
    the gradient of the output (the squared norm of the embedding, a scalar that depends on
    every feature the network has learned to use) with respect to that channel; the weighted
    channels are summed, min-max normalised and upsampled to the plane size. The blocks' maps
    are averaged and normalised again.

    Parameters
    ----------
    net : ActivationNet
        Trained network (eval mode).
    plane : numpy.ndarray
        Normalised plane ``(Y, X)``.

    Returns
    -------
    numpy.ndarray of float32
        Shape ``(Y, X)`` in [0, 1].
    """
    h, w = plane.shape
    # Pad to a multiple of 8 so every stage has an integer size; crop afterwards.
    ph, pw = (-h) % 8, (-w) % 8
    x = torch.from_numpy(np.pad(plane, ((0, ph), (0, pw)), mode="reflect")[None, None].copy())
    feats = net.features(x)
    acts = [feats[name] for name in net.shallow]
    score = net.projector(feats["block3"].mean((2, 3))).pow(2).sum()
    grads = torch.autograd.grad(score, acts)
    total = torch.zeros((h + ph, w + pw))
    for act, grad in zip(acts, grads):
        weights = grad.mean((2, 3), keepdim=True)
        cam = (weights * act).sum(1, keepdim=True).detach()
        cam = _minmax(cam)
        total += F.interpolate(cam, size=(h + ph, w + pw), mode="bilinear", align_corners=False)[
            0, 0
        ]
    return _minmax(total[:h, :w]).numpy().astype(np.float32)


def _minmax(t: torch.Tensor) -> torch.Tensor:
    lo, hi = t.min(), t.max()
    if float(hi - lo) <= 1e-12:
        return torch.zeros_like(t)
    return (t - lo) / (hi - lo)
