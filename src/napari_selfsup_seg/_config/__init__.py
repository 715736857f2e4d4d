"""Parameter dataclasses with validated ranges, saved as JSON beside each model.

Each config checks its values when it is made and raises :class:`InputError` with a one-line
reason naming the field; ``to_dict``/``from_dict`` round-trip through JSON, and ``from_dict``
refuses unknown keys so that a typo in a config file does not pass silently.

A field made with :func:`setting` also carries what the command line needs to offer it as a flag
(help, flag name, metavar, choices); ``cli/_common.add_config_arguments`` builds the flags and
their defaults from the fields, so the defaults live in one place.

``_base`` holds that machinery, ``_model`` the network and its saved bundle, ``_run`` the
training and prediction recipes; every name is imported from here.
"""

from ._base import (
    DEVICE_HELP,
    DEVICES,
    ConfigBase,
    _check_range,
    check_device,
    check_recipe,
    device_setting,
    field_types,
    setting,
)
from ._model import (
    ARCHITECTURES,
    DECODER_CHANNELS,
    ModelBundleConfig,
    ModelConfig,
    NormalizationConfig,
)
from ._run import FIXED_MIN_DISTANCE, FIXED_MIN_SIZE, IGNORE_LABEL, PredictConfig, TrainConfig

__all__ = [
    "ARCHITECTURES",
    "DECODER_CHANNELS",
    "DEVICES",
    "DEVICE_HELP",
    "FIXED_MIN_DISTANCE",
    "FIXED_MIN_SIZE",
    "IGNORE_LABEL",
    "ConfigBase",
    "ModelBundleConfig",
    "ModelConfig",
    "NormalizationConfig",
    "PredictConfig",
    "TrainConfig",
    "_check_range",
    "check_device",
    "check_recipe",
    "device_setting",
    "field_types",
    "setting",
]
