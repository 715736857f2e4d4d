"""The network and what is saved beside its weights: normalisation, architecture, bundle."""

from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Integral
from typing import Any

from .._errors import InputError
from ._base import ConfigBase, _check_range, setting

ARCHITECTURES = ("unet",)
DECODER_CHANNELS = (256, 128, 64, 32, 16)

#: The eight flips and 90° rotations of a square tile (the dihedral group of order 8).
TRANSFORMS = (
    "identity",
    "rot90",
    "rot180",
    "rot270",
    "flip_x",
    "flip_y",
    "transpose",
    "antitranspose",
)


@dataclass
class NormalizationConfig(ConfigBase):
    """Per-plane, per-channel percentile normalisation
    (see :func:`napari_selfsup_seg.data._normalize.percentile_normalize`).

    Attributes
    ----------
    lower_percentile : float
        Intensity percentile mapped to 0 (0 <= lower < upper).
    upper_percentile : float
        Intensity percentile mapped to 1 (upper <= 100).
    clip : bool
        Clip the result to ``[-clip_margin, 1 + clip_margin]``.
    clip_margin : float
        How far outside [0, 1] values may go when clipping.
    background_sigma : float
        Transmitted light: each plane is first divided by its Gaussian blur of this width in
        pixels (a flat field), which evens out uneven illumination; 0 leaves it out.
    contrast_sigma : float
        Transmitted light: then the local mean at this Gaussian width (pixels) is subtracted
        and the result divided by the local standard deviation (local contrast), so faint
        objects in dim regions reach the same scale as bright ones; 0 leaves it out.
    """

    lower_percentile: float = 1.0
    upper_percentile: float = 99.8
    clip: bool = True
    clip_margin: float = 0.5
    background_sigma: float = 0.0
    contrast_sigma: float = 0.0

    def __post_init__(self) -> None:
        _check_range("lower_percentile", self.lower_percentile, 0.0, 100.0)
        _check_range("upper_percentile", self.upper_percentile, 0.0, 100.0)
        if not self.lower_percentile < self.upper_percentile:
            raise InputError(
                "normalisation percentiles must satisfy 0 <= lower < upper <= 100, got "
                f"{self.lower_percentile} and {self.upper_percentile}"
            )
        _check_range("clip_margin", self.clip_margin, 0.0)
        _check_range("background_sigma", self.background_sigma, 0.0, 1e4)
        _check_range("contrast_sigma", self.contrast_sigma, 0.0, 1e4)

    @property
    def flattens(self) -> bool:
        """Whether planes are flattened (background division or local contrast) first."""
        return self.background_sigma > 0 or self.contrast_sigma > 0


@dataclass
class ModelConfig(ConfigBase):
    """Architecture of a network built by :func:`~napari_selfsup_seg.models._factory.build_model`.

    ``ModelConfig()`` is the one default network of every face (Python API, command line, Train
    widget): a ResNet-18 U-Net with three encoder stages, 0.9 M parameters (3.5 MB of weights).
    Three stages because the product must train in minutes on a laptop CPU as well as on a GPU
    node: every figure in ``docs/benchmarks.md`` (quality on real nuclei, training-loop and
    inference overhead, viewer responsiveness while training) is measured with it, and it ends
    above its pseudo-mask teacher there (AP@0.5 0.75 vs 0.61). Four stages (3.6 M parameters)
    and five (14 M, 57 MB) take about 1.4x and 1.6x as long per CPU training step, and their
    extra depth sees 16 to 32 px context cells that 128 px tiles of nuclei rarely need; ask for
    them with ``encoder_depth`` (``--encoder-depth``) on a GPU or for large objects.

    Attributes
    ----------
    architecture : str
        ``"unet"``.
    encoder : str
        Any encoder name segmentation-models-pytorch knows, e.g. ``"resnet18"``,
        ``"resnet34"``, ``"efficientnet-b0"``, ``"tu-resnet10t"``.
    encoder_depth : int
        Number of encoder stages (3 to 5); fewer stages make a smaller, faster model.
    decoder_channels : tuple of int or None
        Channels of the decoder blocks, one per encoder stage; by default the last
        ``encoder_depth`` entries of :data:`DECODER_CHANNELS`.
    in_channels : int
        Number of input channels the network takes.
    classes : int
        Output channels: 3 for background/interior/boundary.
    encoder_weights : str or None
        ``None`` for random init (the default); ``"imagenet"`` only when the user asks and the
        weights are available locally.
    """

    architecture: str = "unet"
    encoder: str = setting(
        "resnet18",
        "encoder of the U-Net (segmentation-models-pytorch name, e.g. resnet18, resnet34)",
        metavar="NAME",
    )
    encoder_depth: int = setting(
        3, "encoder stages; fewer make a smaller, faster network", choices=(3, 4, 5)
    )
    decoder_channels: tuple[int, ...] | None = None
    in_channels: int = 1
    classes: int = 3
    encoder_weights: str | None = None

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise InputError(
                f"architecture must be one of {', '.join(ARCHITECTURES)}, got {self.architecture!r}"
            )
        _check_range("encoder_depth", self.encoder_depth, 3, 5)
        if self.decoder_channels is None:
            self.decoder_channels = DECODER_CHANNELS[-self.encoder_depth :]
        self.decoder_channels = tuple(int(c) for c in self.decoder_channels)
        if len(self.decoder_channels) != self.encoder_depth:
            raise InputError(
                f"decoder_channels needs {self.encoder_depth} entries (one per encoder stage), "
                f"got {len(self.decoder_channels)}"
            )
        _check_range("in_channels", self.in_channels, 1, 64)
        _check_range("classes", self.classes, 1, 256)
        if self.encoder_weights not in (None, "imagenet"):
            raise InputError(
                f"encoder_weights must be None or 'imagenet', got {self.encoder_weights!r}"
            )

    @classmethod
    def tiny(cls, in_channels: int = 1, classes: int = 3) -> ModelConfig:
        """A small, fast U-Net for tests and quick trials on the CPU (ResNet-18, 3 stages)."""
        return cls(
            encoder="resnet18",
            encoder_depth=3,
            in_channels=in_channels,
            classes=classes,
        )


@dataclass
class ModelBundleConfig(ConfigBase):
    """Everything saved in a MODEL_DIR's ``config.json`` beside the weights.

    Attributes
    ----------
    format_version : int
        Version of this layout; a model of another version is refused with a clear message.
    model : ModelConfig
        The architecture.
    normalization : NormalizationConfig
        How input images are scaled.
    input_channels : list of int or None
        Indices of the channels of the source images fed to the network, one per input channel
        (``None``: single-channel images).
    input_channel_names : list of str or None
        Names of those channels in the source files when known (e.g. ``["DAPI"]``); prediction
        then picks channels by name from files that name their channels.
    training : dict
        The :class:`TrainConfig` (or pretraining recipe) used.
    provenance : dict
        Where the training targets came from (e.g. pseudo-mask method and parameters, files).
    task : str
        ``"instances"`` (3-class U-Net) or ``"pretrained"`` (self-supervised, needs fine-tuning).
    package_version : str
        Version of napari-selfsup-seg that wrote the model.
    diameter : float or None
        Median equivalent diameter in pixels of the objects in the training masks; prediction
        sizes its post-processing from it (``None``: not recorded, fixed sizes).
    seed_channel : int or None
        Position among the network's input channels of a nuclear stain whose nuclei seeded the
        training cells: prediction grows each cell from a nucleus found in that channel (see
        :mod:`napari_selfsup_seg.inference._seeded`). ``None``: the predicted interiors are
        split by their shape.
    seed_diameter : float or None
        Median diameter in pixels of those nuclei (``None``: half the cell diameter).
    symmetries : list of str or None
        The flips and rotations (names of :data:`TRANSFORMS`) that keep the training objects'
        look, which augmentation turned the training tiles by; test-time flips keep to them
        (``None``: all eight).
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    normalization: NormalizationConfig = field(default_factory=NormalizationConfig)
    input_channels: list[int] | None = None
    input_channel_names: list[str] | None = None
    training: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    task: str = "instances"
    package_version: str = ""
    format_version: int = 1
    diameter: float | None = None
    seed_channel: int | None = None
    seed_diameter: float | None = None
    symmetries: list[str] | None = None

    def __post_init__(self) -> None:
        if self.symmetries is not None:
            names = list(self.symmetries)
            if "identity" not in names or any(n not in TRANSFORMS for n in names):
                raise InputError(
                    f"symmetries must list 'identity' and other names among "
                    f"{', '.join(TRANSFORMS[1:])}, got {self.symmetries}"
                )
            self.symmetries = names
        if self.diameter is not None:
            _check_range("diameter", self.diameter, 1.0, 1e5)
            self.diameter = float(self.diameter)
        n_in = self.model.in_channels
        if self.seed_channel is not None:
            if n_in < 2:
                raise InputError("a seed channel needs a network with at least two inputs")
            _check_range("seed_channel", self.seed_channel, 0, n_in - 1)
            self.seed_channel = int(self.seed_channel)
        if self.seed_diameter is not None:
            _check_range("seed_diameter", self.seed_diameter, 1.0, 1e5)
            self.seed_diameter = float(self.seed_diameter)
        if self.input_channels is not None:
            chans = list(self.input_channels)
            if len(chans) != n_in or not all(isinstance(c, Integral) for c in chans):
                raise InputError(
                    f"input_channels must list {n_in} channel index(es), got {self.input_channels}"
                )
            self.input_channels = [int(c) for c in chans]
        if self.input_channel_names is not None:
            names = list(self.input_channel_names)
            if len(names) != n_in or not all(isinstance(n, str) and n for n in names):
                raise InputError(
                    f"input_channel_names must list {n_in} non-empty name(s), "
                    f"got {self.input_channel_names}"
                )
            self.input_channel_names = names
