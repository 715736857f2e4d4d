"""Parameter dataclasses with validated ranges, saved as JSON beside each model.

Each config checks its values when it is made and raises :class:`InputError` with a one-line
reason; ``to_dict``/``from_dict`` round-trip through JSON, and ``from_dict`` refuses unknown keys
so that a typo in a config file does not pass silently.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from numbers import Integral
from typing import Any, TypeVar

from ._errors import InputError
from .data._normalize import NormalizationConfig

C = TypeVar("C", bound="ConfigBase")

DEVICES = ("auto", "cpu", "cuda", "mps")
ARCHITECTURES = ("unet",)
DECODER_CHANNELS = (256, 128, 64, 32, 16)


def _check_range(name: str, value: float, lo: float | None = None, hi: float | None = None):
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{name} must be a finite number, got {value}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        bounds = f"[{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}]"
        raise InputError(f"{name} must be in {bounds}, got {value}")


def check_recipe(config) -> None:
    """Range checks shared by training recipes (training and pretraining).

    Checks ``steps``, ``tile_size`` (a multiple of 32), ``learning_rate``, ``weight_decay``,
    ``warmup_fraction``, ``log_every`` and ``device`` of ``config``.
    """
    _check_range("steps", config.steps, 1, 10_000_000)
    _check_range("tile_size", config.tile_size, 32, 4096)
    if config.tile_size % 32:
        raise InputError(f"tile_size must be a multiple of 32, got {config.tile_size}")
    _check_range("learning_rate", config.learning_rate, 1e-7, 1.0)
    _check_range("weight_decay", config.weight_decay, 0.0, 1.0)
    _check_range("warmup_fraction", config.warmup_fraction, 0.0, 0.5)
    _check_range("log_every", config.log_every, 1, 1_000_000)
    if config.device not in DEVICES:
        raise InputError(f"device must be one of {', '.join(DEVICES)}, got {config.device!r}")


class ConfigBase:
    """Mixin: JSON round trip for a dataclass config."""

    def to_dict(self) -> dict[str, Any]:
        """The config as plain JSON-serialisable values."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any]) -> C:
        """Build the config from :meth:`to_dict` output, refusing unknown keys."""
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - names)
        if unknown:
            raise InputError(f"{cls.__name__}: unknown setting(s) {', '.join(unknown)}")
        kwargs = dict(data)
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if (
                f.name in kwargs
                and isinstance(kwargs[f.name], list)
                and f.type
                in (
                    "tuple[int, ...]",
                    "tuple[float, float]",
                )
            ):
                kwargs[f.name] = tuple(kwargs[f.name])
        return cls(**kwargs)


@dataclass
class ModelConfig(ConfigBase):
    """Architecture of a network built by :func:`~napari_selfsup_seg.models._factory.build_model`.

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
    encoder: str = "resnet18"
    encoder_depth: int = 5
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
        """A small, fast U-Net for tests and quick trials on the CPU."""
        return cls(
            encoder="resnet18",
            encoder_depth=3,
            in_channels=in_channels,
            classes=classes,
        )


@dataclass
class TrainConfig(ConfigBase):
    """Recipe of a training run (see :func:`napari_selfsup_seg.train._supervised.train`).

    Attributes
    ----------
    steps : int
        Optimisation steps.
    batch_size : int
        Tiles per step.
    tile_size : int
        Side of the square training tiles in pixels (a multiple of 32).
    learning_rate : float
        Peak learning rate of AdamW (one-cycle schedule with warm-up and cosine decay).
    weight_decay : float
        AdamW weight decay.
    warmup_fraction : float
        Fraction of the steps spent warming the learning rate up.
    boundary_width : int
        Width in pixels of the boundary class drawn around each instance.
    dice_weight : float
        Weight of the Dice term beside cross-entropy.
    ignore_value : int
        Mask value meaning "not reviewed": those pixels add nothing to the loss.
    input_channel : int or None
        Channel of the image used as network input (``None``: the image has one channel).
    augment : bool
        Random flips, 90° rotations and intensity changes.
    seed : int
        Seed for tiles, augmentation and weight init.
    device : str
        ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"`` or ``"mps"``.
    amp : bool
        Automatic mixed precision on CUDA.
    log_every : int
        Yield a progress record every this many steps (1 = every step).
    """

    steps: int = 300
    batch_size: int = 8
    tile_size: int = 128
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    warmup_fraction: float = 0.05
    boundary_width: int = 2
    dice_weight: float = 1.0
    ignore_value: int = 65535
    input_channel: int | None = None
    augment: bool = True
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    log_every: int = 1

    def __post_init__(self) -> None:
        check_recipe(self)
        _check_range("batch_size", self.batch_size, 1, 4096)
        _check_range("boundary_width", self.boundary_width, 1, 16)
        _check_range("dice_weight", self.dice_weight, 0.0, 100.0)
        _check_range("ignore_value", self.ignore_value, 0, 2**32 - 1)


@dataclass
class PredictConfig(ConfigBase):
    """Settings of tiled prediction and instance post-processing.

    Attributes
    ----------
    tile_size : int
        Side of the square tiles the image is cut into (multiple of 32).
    overlap : int
        Overlap between neighbouring tiles in pixels; blended with a smooth window.
    batch_size : int
        Tiles per forward pass.
    device : str
        As in :class:`TrainConfig`.
    foreground_threshold : float
        Probability of (interior + boundary) above which a pixel is foreground.
    seed_threshold : float
        Probability of interior above which a pixel can seed an instance.
    min_size : int
        Instances smaller than this many pixels are removed.
    amp : bool
        Automatic mixed precision on CUDA.
    input_channels : tuple of int or None
        Channels of the input images to feed the network, overriding those the model records
        (``None``: the model's own, see :func:`napari_selfsup_seg.models._channels.model_channels`).
    """

    tile_size: int = 512
    overlap: int = 32
    batch_size: int = 4
    device: str = "auto"
    foreground_threshold: float = 0.5
    seed_threshold: float = 0.5
    min_size: int = 16
    amp: bool = True
    input_channels: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.input_channels is not None:
            chans = self.input_channels
            chans = (chans,) if isinstance(chans, int) else tuple(chans)
            if not chans or not all(isinstance(c, Integral) and -64 <= c < 64 for c in chans):
                raise InputError(f"input_channels must be channel indices, got {chans}")
            self.input_channels = tuple(int(c) for c in chans)
        _check_range("tile_size", self.tile_size, 32, 8192)
        if self.tile_size % 32:
            raise InputError(f"tile_size must be a multiple of 32, got {self.tile_size}")
        _check_range("overlap", self.overlap, 0, self.tile_size // 2)
        _check_range("batch_size", self.batch_size, 1, 4096)
        _check_range("foreground_threshold", self.foreground_threshold, 0.0, 1.0)
        _check_range("seed_threshold", self.seed_threshold, 0.0, 1.0)
        _check_range("min_size", self.min_size, 0, 10**9)
        if self.device not in DEVICES:
            raise InputError(f"device must be one of {', '.join(DEVICES)}, got {self.device!r}")


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

    def __post_init__(self) -> None:
        n_in = self.model.in_channels
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

    def to_dict(self) -> dict[str, Any]:
        """The bundle as JSON-serialisable values."""
        d = dataclasses.asdict(self)
        d["model"]["decoder_channels"] = list(self.model.decoder_channels)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelBundleConfig:
        """Build the bundle from :meth:`to_dict` output."""
        data = dict(data)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"model config: unknown setting(s) {', '.join(unknown)}")
        if "model" in data:
            data["model"] = ModelConfig.from_dict(data["model"])
        if "normalization" in data:
            norm = data["normalization"]
            data["normalization"] = NormalizationConfig(**norm)
        return cls(**data)
