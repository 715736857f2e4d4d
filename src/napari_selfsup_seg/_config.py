"""Parameter dataclasses with validated ranges, saved as JSON beside each model.

Each config checks its values when it is made and raises :class:`InputError` with a one-line
reason naming the field; ``to_dict``/``from_dict`` round-trip through JSON, and ``from_dict``
refuses unknown keys so that a typo in a config file does not pass silently.

A field made with :func:`setting` also carries what the command line needs to offer it as a flag
(help, flag name, metavar, choices); ``cli/_common.add_config_arguments`` builds the flags and
their defaults from the fields, so the defaults live in one place.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Integral
from typing import Any, TypeVar

from ._errors import InputError

C = TypeVar("C", bound="ConfigBase")

DEVICES = ("auto", "cpu", "cuda", "mps")
ARCHITECTURES = ("unet",)
DECODER_CHANNELS = (256, 128, 64, 32, 16)


def setting(
    default: Any,
    help: str = "",
    *,
    flag: str | None = None,
    metavar: str | None = None,
    choices: Sequence[Any] | None = None,
) -> Any:
    """A dataclass field with a default and what its command-line flag needs.

    Parameters
    ----------
    default : object
        The field's default (immutable values only).
    help : str
        Help of the flag; empty: the first sentence of the field's entry in the class docstring.
    flag : str, optional
        Name of the flag (default ``--field-name``).
    metavar : str, optional
        Placeholder of the value in the usage text.
    choices : sequence, optional
        The only values the flag accepts.

    Returns
    -------
    dataclasses.Field
        To assign to the field in the class body.
    """
    meta = {"help": help, "flag": flag, "metavar": metavar, "choices": choices}
    return field(default=default, metadata={k: v for k, v in meta.items() if v})


DEVICE_HELP = "where to run (auto: CUDA, then MPS, then CPU)"


def device_setting() -> Any:
    """The ``device`` field of a config: ``"auto"`` by default, one of :data:`DEVICES`."""
    return setting("auto", DEVICE_HELP, choices=DEVICES)


def _check_range(name: str, value: float, lo: float | None = None, hi: float | None = None):
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{name} must be a finite number, got {value}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        bounds = f"[{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}]"
        raise InputError(f"{name} must be in {bounds}, got {value}")


def check_device(device: str) -> None:
    """Raise :class:`InputError` unless ``device`` is one of :data:`DEVICES`."""
    if device not in DEVICES:
        raise InputError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")


def check_recipe(config: Any) -> None:
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
    check_device(config.device)


def field_types(cls: type) -> dict[str, Any]:
    """The resolved type of every field of the dataclass ``cls`` (annotations may be strings)."""
    return typing.get_type_hints(cls)


def _from_json(tp: Any, value: Any, name: str) -> Any:
    """``value`` read from JSON, shaped for a field of type ``tp``.

    Lists become tuples where the type is a tuple, mappings become nested configs; anything
    else is returned as it is (the config's own checks judge it).
    """
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        return _from_json(options[0], value, name) if len(options) == 1 else value
    if isinstance(tp, type) and issubclass(tp, ConfigBase):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise InputError(f"{name} must be a mapping of settings, got {value!r}")
        return tp.from_dict(value)
    if (origin is tuple or tp is tuple) and isinstance(value, list):
        return tuple(value)
    return value


def _to_json(value: Any) -> Any:
    """``value`` with tuples turned into lists, recursively (what ``json.loads`` gives back)."""
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_json(v) for v in value]
    return value


class ConfigBase:
    """Mixin of the config dataclasses: JSON round trip.

    ``from_dict(to_dict(c)) == c`` for every config ``c``, also after a trip through
    ``json.dumps``/``json.loads``.
    """

    def to_dict(self) -> dict[str, Any]:
        """The config as plain JSON values (tuples as lists, nested configs as dicts)."""
        return _to_json(dataclasses.asdict(self))  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[C], data: Mapping[str, Any]) -> C:
        """Build the config from :meth:`to_dict` output (missing keys take their defaults).

        Raises
        ------
        InputError
            ``data`` is not a mapping, names a setting the config does not have, or a value is
            out of range.
        """
        if not isinstance(data, Mapping):
            raise InputError(f"{cls.__name__}: expected a mapping of settings, got {data!r}")
        types_ = field_types(cls)
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - names)
        if unknown:
            raise InputError(f"{cls.__name__}: unknown setting(s) {', '.join(map(str, unknown))}")
        return cls(**{k: _from_json(types_[k], v, k) for k, v in data.items()})


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
    """

    lower_percentile: float = 1.0
    upper_percentile: float = 99.8
    clip: bool = True
    clip_margin: float = 0.5

    def __post_init__(self) -> None:
        _check_range("lower_percentile", self.lower_percentile, 0.0, 100.0)
        _check_range("upper_percentile", self.upper_percentile, 0.0, 100.0)
        if not self.lower_percentile < self.upper_percentile:
            raise InputError(
                "normalisation percentiles must satisfy 0 <= lower < upper <= 100, got "
                f"{self.lower_percentile} and {self.upper_percentile}"
            )
        _check_range("clip_margin", self.clip_margin, 0.0)


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
        Channel of the image used as network input (``None``: every channel of the image).
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

    steps: int = setting(300, "optimisation steps", metavar="N")
    batch_size: int = setting(8, "tiles per step")
    tile_size: int = setting(128, "training tile side (x32)")
    learning_rate: float = setting(2e-3, "peak learning rate", flag="--lr", metavar="LR")
    weight_decay: float = 1e-4
    warmup_fraction: float = 0.05
    boundary_width: int = setting(2, "boundary class width (px)")
    dice_weight: float = 1.0
    ignore_value: int = setting(65535, "mask value of unreviewed pixels", metavar="V")
    input_channel: int | None = setting(
        None,
        "channel of the images the network reads (default: all channels of the image); "
        "its name is recorded too when the files name their channels",
        metavar="C",
    )
    augment: bool = True
    seed: int = setting(0, "random seed", metavar="S")
    device: str = device_setting()
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

    tile_size: int = setting(512, "prediction tile side (x32)", metavar="PX")
    overlap: int = setting(32, "overlap between tiles (px)")
    batch_size: int = setting(4, "tiles per forward pass")
    device: str = device_setting()
    foreground_threshold: float = setting(0.5, "interior+boundary cut")
    seed_threshold: float = setting(0.5, "interior cut for seeds")
    min_size: int = setting(16, "smallest object kept (pixels)")
    amp: bool = True
    input_channels: tuple[int, ...] | None = setting(
        None,
        "channel of each image to feed the model, e.g. 1 (several: 0,2); default: the "
        "channel the model records, found by name when the file names its channels",
        flag="--input-channel",
        metavar="C",
    )

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
        check_device(self.device)


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
