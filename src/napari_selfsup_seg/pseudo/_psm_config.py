"""Parameters of the PSM pseudo-mask (see :mod:`napari_selfsup_seg.pseudo._psm`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .._config import ConfigBase, _check_range
from .._errors import InputError

MODALITIES = ("auto", "fluorescence", "brightfield")
MIN_SIZE = 32
"""Smallest plane side the activation network accepts, in pixels."""
COARSE = 4.0
"""The coarse texture window is this many times the texture window."""


@dataclass
class PSMConfig(ConfigBase):
    """Parameters of the PSM pseudo-mask.

    Attributes
    ----------
    steps : int
        Self-supervised training steps of the activation network.
    crop_size : int
        Side of the square training crops (multiple of 8; shrunk to fit small planes).
    batch_size : int
        Crops per step.
    learning_rate : float
        SGD learning rate (cosine decay).
    width : int
        Channels of the network's first stage.
    k : int
        Number of k-means clusters.
    modality : str
        ``"fluorescence"``, ``"brightfield"`` or ``"auto"`` (per plane, see
        :func:`detect_modality`).
    sigma : float
        Gaussian smoothing of the intensity feature, in pixels.
    texture_sigma : float or None
        Window (Gaussian sigma, pixels) of the local standard deviation used as texture
        feature. ``None`` (default) chooses it per brightfield plane among
        :data:`~napari_selfsup_seg.pseudo._psm_texture.TEXTURE_SIGMAS`: the window whose
        mask explains most of the plane's texture across scales (see
        :func:`~napari_selfsup_seg.pseudo._psm_cluster.choose_texture_window`).
    map_weight, intensity_weight, texture_weight : float
        Weights of the standardised features in the clustering (0 drops a feature).
    coarse_texture_weight : float
        Brightfield only: weight of the log local standard deviation in a window
        :data:`COARSE` times ``texture_sigma`` (texture at the scale of whole cells). Off by
        default: it helps on confluent oblique brightfield and hurts under strong uneven
        illumination (see the PSM section of docs/benchmarks.md).
    gradient_weight : float
        Brightfield only: weight of the log local gradient energy (window ``texture_sigma``).
    threshold : float or None
        Cut on the soft membership map (0.5 = the k-means boundary); ``None`` chooses it per
        plane with :func:`~napari_selfsup_seg.pseudo._sweep.threshold_sweep`.
    min_size : int
        Objects smaller than this many pixels are removed.
    max_hole : int
        Holes up to this many pixels are filled.
    min_distance : int
        Minimum distance between the centres of touching objects split by the watershed.
    max_fit_pixels : int
        k-means is fitted on at most this many randomly drawn pixels per plane, then every
        pixel is assigned.
    seed : int
        Seed of crops, augmentation, weight init and k-means.
    """

    steps: int = 300
    crop_size: int = 64
    batch_size: int = 16
    learning_rate: float = 0.05
    width: int = 16
    k: int = 3
    modality: str = "auto"
    sigma: float = 1.0
    texture_sigma: float | None = None
    map_weight: float = 1.0
    intensity_weight: float = 1.0
    texture_weight: float = 1.0
    coarse_texture_weight: float = 0.0
    gradient_weight: float = 0.0
    threshold: float | None = 0.5
    min_size: int = 16
    max_hole: int = 64
    min_distance: int = 4
    max_fit_pixels: int = 50_000
    seed: int = 0

    def __post_init__(self) -> None:
        _check_range("steps", self.steps, 1, 1_000_000)
        _check_range("crop_size", self.crop_size, MIN_SIZE, 1024)
        if self.crop_size % 8:
            raise InputError(f"crop_size must be a multiple of 8, got {self.crop_size}")
        _check_range("batch_size", self.batch_size, 2, 1024)
        _check_range("learning_rate", self.learning_rate, 1e-6, 10.0)
        _check_range("width", self.width, 4, 256)
        _check_range("k", self.k, 2, 16)
        if self.modality not in MODALITIES:
            raise InputError(
                f"modality must be one of {', '.join(MODALITIES)}, got {self.modality!r}"
            )
        _check_range("sigma", self.sigma, 0.0, 50.0)
        if self.texture_sigma is not None:
            _check_range("texture_sigma", self.texture_sigma, 0.5, 50.0)
        for name in (
            "map_weight",
            "intensity_weight",
            "texture_weight",
            "coarse_texture_weight",
            "gradient_weight",
        ):
            _check_range(name, getattr(self, name), 0.0, 100.0)
        if self.threshold is not None:
            _check_range("threshold", self.threshold, 0.0, 1.0)
        _check_range("min_size", self.min_size, 0, 10**9)
        _check_range("max_hole", self.max_hole, 0, 10**9)
        _check_range("min_distance", self.min_distance, 1, 1000)
        _check_range("max_fit_pixels", self.max_fit_pixels, 100, 10**9)

    def training_key(self) -> dict:
        """The fields that decide the trained network (used in the cache key)."""
        d = asdict(self)
        keep = ("steps", "crop_size", "batch_size", "learning_rate", "width", "seed")
        return {k: d[k] for k in keep}
