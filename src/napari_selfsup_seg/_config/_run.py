"""Recipes of a run: training (:class:`TrainConfig`) and prediction (:class:`PredictConfig`)."""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral

from .._errors import InputError
from ._base import ConfigBase, _check_range, check_device, check_recipe, device_setting, setting

#: Post-processing sizes of a prediction with no diameter (tuned on nuclei about 15 px wide).
FIXED_MIN_SIZE = 16
FIXED_MIN_DISTANCE = 4

#: Choices of :attr:`TrainConfig.symmetry`.
SYMMETRIES = ("auto", "all", "none")

#: Mask value of pixels nobody has reviewed: training skips them (a uint16 mask's largest value).
IGNORE_LABEL = 65535


@dataclass
class TrainConfig(ConfigBase):
    """Recipe of a training run (see :func:`napari_selfsup_seg.train._supervised.train`).

    Attributes
    ----------
    steps : int
        Optimisation steps (the most, with ``early_stop``).
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
    symmetry : str
        Which flips and 90° rotations ``augment`` draws from: ``"auto"`` (all eight unless the
        training objects look different when turned, as under oblique light or DIC; then those
        that leave them alike, see :func:`~napari_selfsup_seg.data._symmetry.object_symmetries`),
        ``"all"`` or ``"none"``. Prediction's test-time flips keep to the same ones.
    seed : int
        Seed for tiles, augmentation and weight init.
    device : str
        ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"`` or ``"mps"``.
    amp : bool
        Automatic mixed precision on CUDA.
    log_every : int
        Yield a progress record every this many steps (1 = every step).
    early_stop : bool
        End training when it stops improving, ``steps`` being the most it runs. The criterion
        is the held-out AP@0.5 when there is a validation set, else the smoothed loss (see
        :mod:`napari_selfsup_seg.train._plateau`).
    patience : int
        Steps without improvement that end training (with ``early_stop``).
    min_delta : float
        Improvement that counts: absolute AP@0.5, or a fraction of the best smoothed loss.
    min_steps : int
        Steps before training may end early.
    smoothing : int
        Span in steps of the loss's exponential average that early stopping watches.
    """

    steps: int = setting(300, "most optimisation steps (see --early-stop)", metavar="N")
    batch_size: int = setting(8, "tiles per step")
    tile_size: int = setting(128, "training tile side (x32)")
    learning_rate: float = setting(2e-3, "peak learning rate", flag="--lr", metavar="LR")
    weight_decay: float = 1e-4
    warmup_fraction: float = 0.05
    boundary_width: int = setting(2, "boundary class width (px)")
    dice_weight: float = 1.0
    ignore_value: int = setting(IGNORE_LABEL, "mask value of unreviewed pixels", metavar="V")
    input_channel: int | None = setting(
        None,
        "channel of the images the network reads (default: all channels of the image); "
        "its name is recorded too when the files name their channels",
        metavar="C",
    )
    augment: bool = True
    symmetry: str = setting(
        "auto",
        "flips and rotations of the training tiles: auto (all, unless the objects look "
        "different when turned, as under oblique light or DIC), all or none",
        choices=SYMMETRIES,
    )
    seed: int = setting(0, "random seed", metavar="S")
    device: str = device_setting()
    amp: bool = True
    log_every: int = 1
    # Off by default: on the development suite, stopping on the training loss's plateau cut
    # HeLa's first round at 107 steps (AP@0.5 0.51 against the teacher's 0.66) and its final
    # student to 0.68 (0.74 with the fixed steps). Fine-tuning bursts always use it.
    early_stop: bool = setting(
        False, "end training when the loss (or held-out AP) plateaus; --steps is then the most"
    )
    patience: int = setting(30, "steps without improvement that end training", metavar="N")
    min_delta: float = setting(0.01, "improvement that counts (AP, or fraction of the loss)")
    min_steps: int = 50
    smoothing: int = 10

    def __post_init__(self) -> None:
        check_recipe(self)
        _check_range("batch_size", self.batch_size, 1, 4096)
        _check_range("patience", self.patience, 1, 10_000_000)
        _check_range("min_delta", self.min_delta, 0.0, 1.0)
        _check_range("min_steps", self.min_steps, 0, 10_000_000)
        _check_range("smoothing", self.smoothing, 1, 10_000)
        _check_range("boundary_width", self.boundary_width, 1, 16)
        _check_range("dice_weight", self.dice_weight, 0.0, 100.0)
        _check_range("ignore_value", self.ignore_value, 0, 2**32 - 1)
        if self.symmetry not in SYMMETRIES:
            raise InputError(
                f"symmetry must be one of {', '.join(SYMMETRIES)}, got {self.symmetry!r}"
            )


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
    min_size : int or None
        Instances smaller than this many pixels are removed (``None``: a tenth of a typical
        object's area at the diameter in use, 16 without one).
    diameter : float or None
        Typical object diameter in pixels that sizes the post-processing (smallest object,
        seed spacing, smoothing; see
        :func:`~napari_selfsup_seg.data._diameter.sizes_for_diameter`). ``None``: the one the
        model recorded from its training masks; a model without one uses fixed sizes
        (:data:`FIXED_MIN_SIZE`, :data:`FIXED_MIN_DISTANCE`).
    diameter_um : float or None
        The typical object diameter in micrometres instead, turned into pixels per image with
        the image's pixel size (an image without one is refused); wins over ``diameter``.
    amp : bool
        Automatic mixed precision on CUDA.
    flips : int
        Test-time augmentation: the softmax is averaged over this many flips of each tile
        (1: none; 2: and flipped left-right; 4: and upside down, and both). Smoother, more
        complete objects where the network is unsure (e.g. brightfield), at 2 or 4 times the
        prediction time. Only flips the model was trained on count (a model of oblique light
        or DIC records fewer, see ``TrainConfig.symmetry``), so it may average fewer.
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
    min_size: int | None = setting(
        None, "smallest object kept (pixels; default: from the diameter, 16 without one)"
    )
    diameter: float | None = setting(
        None,
        "typical object diameter (px) that sizes the post-processing; default: the one the "
        "model recorded from its training masks",
        metavar="PX",
    )
    diameter_um: float | None = None
    amp: bool = True
    flips: int = setting(
        1, "test-time flips averaged per tile (1, 2 or 4; slower, smoother)", choices=(1, 2, 4)
    )
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
        if self.flips not in (1, 2, 4):
            raise InputError(f"flips must be 1, 2 or 4, got {self.flips}")
        if self.min_size is not None:
            _check_range("min_size", self.min_size, 0, 10**9)
        if self.diameter is not None:
            _check_range("diameter", self.diameter, 1.0, 1e5)
        if self.diameter_um is not None:
            _check_range("diameter_um", self.diameter_um, 1e-3, 1e6)
        check_device(self.device)
