"""One config style: JSON round trips, range errors, CLI flags made from the config fields."""

from __future__ import annotations

import dataclasses
import importlib
import json
import pkgutil

import pytest

import napari_selfsup_seg
from napari_selfsup_seg._config import (
    ConfigBase,
    ModelBundleConfig,
    ModelConfig,
    NormalizationConfig,
    PredictConfig,
    TrainConfig,
)
from napari_selfsup_seg._errors import InputError
from napari_selfsup_seg._progress import Progress, Stage, TrainProgress
from napari_selfsup_seg.batch._records import LargeImageOptions
from napari_selfsup_seg.cli._common import config_from_args
from napari_selfsup_seg.cli.main import build_parser, main
from napari_selfsup_seg.train._pretrain_config import PretrainConfig
from napari_selfsup_seg.workflows._demo import DemoConfig
from napari_selfsup_seg.workflows._self_training import SelfTrainingConfig


def _all_configs() -> list[type]:
    """Every ConfigBase subclass of the core (every core module imported first)."""
    for info in pkgutil.walk_packages(napari_selfsup_seg.__path__, "napari_selfsup_seg."):
        if "._napari" not in info.name:
            importlib.import_module(info.name)
    found, todo = [], [ConfigBase]
    while todo:
        for sub in todo.pop().__subclasses__():
            found.append(sub)
            todo.append(sub)
    return sorted(set(found), key=lambda c: c.__qualname__)


@pytest.mark.parametrize("cls", _all_configs(), ids=lambda c: c.__name__)
def test_every_config_round_trips_through_json(cls):
    config = cls()
    data = json.loads(json.dumps(config.to_dict()))
    assert cls.from_dict(data) == config
    assert cls.from_dict({}) == config  # missing keys take their defaults
    with pytest.raises(InputError, match=r"unknown setting.*colour"):
        cls.from_dict({**data, "colour": "red"})


def test_from_dict_converts_by_field_type():
    predict = PredictConfig.from_dict({"input_channels": [0, 2]})
    assert predict.input_channels == (0, 2)
    bundle = ModelBundleConfig(
        model=ModelConfig(encoder_depth=4),
        normalization=NormalizationConfig(2.0, 99.0),
        input_channels=[1],
        training=TrainConfig(steps=5).to_dict(),
    )
    again = ModelBundleConfig.from_dict(json.loads(json.dumps(bundle.to_dict())))
    assert again == bundle
    assert isinstance(again.model, ModelConfig) and again.model.decoder_channels == (
        128,
        64,
        32,
        16,
    )
    assert isinstance(again.normalization, NormalizationConfig)
    demo = DemoConfig.from_dict({"model": ModelConfig.tiny().to_dict()})
    assert demo.model == ModelConfig.tiny()
    with pytest.raises(InputError, match="model must be a mapping"):
        ModelBundleConfig.from_dict({"model": "resnet18"})
    with pytest.raises(InputError, match="expected a mapping"):
        TrainConfig.from_dict([("steps", 3)])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: TrainConfig(steps=0), "steps"),
        (lambda: TrainConfig(learning_rate=float("nan")), "learning_rate"),
        (lambda: TrainConfig(boundary_width=0), "boundary_width"),
        (lambda: PredictConfig(min_size=-1), "min_size"),
        (lambda: PredictConfig(seed_threshold=2.0), "seed_threshold"),
        (lambda: ModelConfig(encoder_depth=6), "encoder_depth"),
        (lambda: NormalizationConfig(clip_margin=-1.0), "clip_margin"),
        (lambda: NormalizationConfig(lower_percentile=-5.0), "lower_percentile"),
        (lambda: PretrainConfig(contrastive_weight=-1.0), "contrastive_weight"),
        (lambda: DemoConfig(size=10), "size"),
        (lambda: DemoConfig(device="tpu"), "device"),
    ],
)
def test_range_errors_name_the_field(make, field):
    with pytest.raises(InputError, match=rf"^{field} must"):
        make()


def _sub(name: str):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sub.choices[name]


# The CLI contract: these flag names must not change (see DESIGN.md and the README).
FLAGS = {
    "train": "--input-channel --steps --encoder --encoder-depth --device --seed --ignore-value "
    "--tile-size --batch-size --lr --boundary-width",
    "pretrain": "--steps --encoder --encoder-depth --tile-size --batch-size --lr --input-channel "
    "--contrastive-weight --device --seed",
    "segment": "--device --tile-size --overlap --batch-size --foreground-threshold "
    "--seed-threshold --min-size --input-channel",
    "segment-folder": "--large-threshold --block-size --halo --tile-size --input-channel --device",
    "demo": "--steps --size --seed --device",
}

REQUIRED = {
    "train": ["--images", "a.tif", "--masks", "b.tif", "--out", "m"],
    "pretrain": ["--images", "a.tif", "--out", "m"],
    "segment": ["--model", "m", "a.tif", "--out", "o"],
    "segment-folder": ["--model", "m", "in", "out"],
    "demo": ["--out", "o"],
}


@pytest.mark.parametrize("command", sorted(FLAGS))
def test_flag_names_stay(command):
    options = {s for a in _sub(command)._actions for s in a.option_strings}
    assert set(FLAGS[command].split()) <= options


@pytest.mark.parametrize(
    ("command", "configs"),
    [
        ("train", [TrainConfig, ModelConfig, SelfTrainingConfig]),
        ("pretrain", [PretrainConfig, ModelConfig]),
        ("segment", [PredictConfig]),
        ("segment-folder", [PredictConfig, LargeImageOptions]),
        ("demo", [DemoConfig]),
    ],
)
def test_flag_defaults_are_the_config_defaults(command, configs):
    args = build_parser().parse_args([command, *REQUIRED[command]])
    for cls in configs:
        assert config_from_args(cls, args) == cls()
    # and every flag made from a field shows that field's default
    defaults = {f.name: f for cls in configs for f in dataclasses.fields(cls)}
    for name in args.config_flags:
        field = defaults[name]
        if field.default is not dataclasses.MISSING:
            assert getattr(args, name) == field.default, name


def test_flags_reach_the_config():
    args = build_parser().parse_args(
        ["train", *REQUIRED["train"], "--lr", "0.01", "--encoder-depth", "4", "--seed", "3"]
    )
    assert config_from_args(TrainConfig, args) == TrainConfig(learning_rate=0.01, seed=3)
    assert config_from_args(ModelConfig, args) == ModelConfig(encoder_depth=4)
    args = build_parser().parse_args(["segment", *REQUIRED["segment"], "--input-channel", "0,2"])
    assert config_from_args(PredictConfig, args).input_channels == (0, 2)


def test_cli_range_error_names_the_flag(tmp_path, capsys):
    argv = ["train", "--images", "none.tif", "--masks", "none.tif", "--out", str(tmp_path / "m")]
    assert main([*argv, "--tile-size", "100"]) == 2
    assert "--tile-size must be a multiple of 32" in capsys.readouterr().err
    assert main(["demo", "--out", str(tmp_path / "d"), "--size", "10"]) == 2
    assert "--size must be in [64, 4096], got 10" in capsys.readouterr().err


def test_one_default_network():
    """The API, the command line and the Train widget build ModelConfig() unless told."""
    args = build_parser().parse_args(["train", *REQUIRED["train"]])
    assert config_from_args(ModelConfig, args) == ModelConfig()
    assert ModelConfig().encoder == "resnet18" and ModelConfig().encoder_depth == 3


def test_stage_is_an_enum_that_compares_to_its_string():
    record = Progress("train", 1, 2)
    assert record.stage is Stage.TRAIN
    assert record.stage == "train" and f"{record.stage}" == "train" and str(record.stage) == "train"
    assert json.dumps({"stage": record.stage}) == '{"stage": "train"}'
    assert TrainProgress(stage=Stage.PRETRAIN, done=1, total=1).stage == "pretrain"
    assert Progress("segment-folder", 0, 0).stage is Stage.SEGMENT_FOLDER
    assert Progress("some-test-job", 0, 0).stage == "some-test-job"  # not ours: kept as given
