"""``napari-selfsup-seg train``: train (or fine-tune) the instance U-Net on images and masks.

Three ways in: ``--masks`` with reviewed masks (plain training); ``--masks`` with the
``<stem>_pseudo.tif`` files of ``pseudo-mask`` when their ``<stem>_prob.tif`` maps lie beside
them (uncertain pixels ignored, then ``--rounds`` self-training rounds); no ``--masks`` at all
(label-free: threshold pseudo-masks of the images themselves, then the same).
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Generator
from typing import Any

from .._config import ModelConfig, TrainConfig
from .._errors import InputError
from .._progress import Progress
from ..workflows._self_training import SelfTrainingConfig
from ._common import (
    ProgressBar,
    add_config_arguments,
    add_scene_argument,
    config_from_args,
    model_out_dir,
)
from ._train_inputs import label_free_cells, label_free_planes, load_pairs, seeding


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "train",
        help="train the instance U-Net on images and (pseudo-)masks",
        description=(
            "Train a U-Net that predicts background, interior and boundary, on images and "
            "instance masks (e.g. pseudo-masks). Stacks are used plane by plane; a mask stack "
            "must have the same planes as its image. Mask pixels equal to --ignore-value are "
            "'not reviewed' and add nothing to the loss. Pseudo-masks of 'pseudo-mask' whose "
            "<stem>_prob.tif lies beside them, or no --masks at all (threshold pseudo-masks of "
            "the images themselves), train label-free: pixels the pseudo-mask is unsure of are "
            "ignored, then --rounds self-training rounds fine-tune on the network's own "
            "confident predictions."
        ),
    )
    p.add_argument("--images", nargs="+", required=True, metavar="IMAGE", help="training images")
    p.add_argument(
        "--masks",
        nargs="+",
        default=None,
        metavar="MASK",
        help="instance masks, one per image (default: threshold pseudo-masks of the images)",
    )
    p.add_argument("--out", required=True, metavar="MODEL_DIR", help="folder to save the model")
    add_scene_argument(p, "--images")
    add_config_arguments(p, TrainConfig, ["input_channel", "steps", "early_stop", "patience"])
    add_config_arguments(p, ModelConfig, ["encoder", "encoder_depth"])
    add_config_arguments(p, SelfTrainingConfig, ["rounds"])
    p.add_argument(
        "--seed-channel",
        type=int,
        default=None,
        metavar="C",
        help="with --masks of whole cells grown from nuclei (pseudo-mask --target cells): the "
        "nuclear channel of the images that seeded them; without --masks: whole cells of "
        "--input-channel grown from this channel's nuclei train label-free. The model records "
        "it and grows the cells it predicts from that channel's nuclei",
    )
    p.add_argument(
        "--init",
        default=None,
        metavar="MODEL_DIR",
        help="fine-tune from this model (its architecture wins over --encoder)",
    )
    add_config_arguments(
        p,
        TrainConfig,
        [
            "device",
            "seed",
            "ignore_value",
            "tile_size",
            "batch_size",
            "learning_rate",
            "boundary_width",
            "min_delta",
            "symmetry",
        ],
    )
    p.add_argument(
        "--transmitted-light",
        action="store_true",
        help=(
            "the input is transmitted light (brightfield, phase contrast), e.g. a brightfield "
            "channel trained on masks of a nuclear stain: flatten it (division by a wide "
            "background, local contrast; widths from the objects of --masks) before the "
            "percentiles; recorded in the model, so 'segment' does the same"
        ),
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)
    return p


def _name_error(exc: InputError, names: list[tuple[str, str]]) -> InputError:
    """Replace the plane index in a training error by the file (and plane) it came from."""
    m = re.match(r"(image|mask) (\d+): (.*)", str(exc))
    if m and int(m.group(2)) < len(names):
        img, mask = names[int(m.group(2))]
        return InputError(f"{img if m.group(1) == 'image' else mask}: {m.group(3)}")
    return exc


def run(args: argparse.Namespace) -> dict:
    from .._progress import drain
    from ..data._normalize import transmitted_light_normalization
    from ..models._factory import describe_device
    from ..pseudo._threshold import ThresholdConfig
    from ..train._supervised import train_iter
    from ..workflows._label_free import label_free_iter
    from ..workflows._self_training import LabelFreeResult, self_train_iter

    tc = config_from_args(TrainConfig, args)
    mc = config_from_args(ModelConfig, args)
    st = config_from_args(SelfTrainingConfig, args)
    images, masks, maps, names, channel_names = load_pairs(args)
    out = model_out_dir(args.out)
    provenance = {"images": [str(p) for p in args.images], "masks": args.masks}
    kwargs: dict[str, Any] = {
        "init": args.init,
        "input_channel_names": channel_names,
        **seeding(images, args),
    }
    if args.transmitted_light:
        if masks is None:
            raise InputError("--transmitted-light needs --masks (their objects size it)")
        kwargs["normalization"] = transmitted_light_normalization(masks)
    t0 = time.perf_counter()
    gen: Generator[Progress, None, Any]
    if masks is None:
        seeds, tcfg = None, None
        if args.seed_channel is None:
            planes, tc, channels = label_free_planes(images, channel_names, tc)
        else:
            planes, seeds, tc, channels = label_free_cells(
                images, channel_names, tc, args.seed_channel
            )
            tcfg = ThresholdConfig(target="cells")
        what = "threshold pseudo-masks" if seeds is None else "cells grown from nuclei"
        kind = f"label-free: {what}, {st.rounds} self-training round(s)"
        gen = label_free_iter(planes, tcfg, tc, mc, st, names=[n for n, _ in names],
                              train_kwargs={"init": args.init, **channels},
                              seed_planes=seeds)  # fmt: skip
    elif maps is not None:
        kind = f"pseudo-masks with their maps, {st.rounds} self-training round(s)"
        gen = self_train_iter(images, masks, maps, tc, mc, st, provenance, train_kwargs=kwargs)
    else:
        kind = "masks as given"
        gen = train_iter(images, masks, tc, mc, provenance=provenance, **kwargs)
    try:
        with ProgressBar("train", quiet=args.quiet) as bar:
            result: Any = drain(gen, bar)
    except InputError as exc:
        raise _name_error(exc, names) from None
    rounds: list[dict] = []
    if isinstance(result, LabelFreeResult):
        rounds, model = result.rounds, result.model
        model.config.provenance.update(provenance)
    else:
        model = result
    model.save(out)
    last = model.log[-1] if model.log else {}
    print(
        f"saved model to {out} ({len(images)} plane(s), {kind}, "
        f"loss {last.get('loss', float('nan')):.4f})"
    )
    return {
        "command": "train",
        "model_dir": str(out),
        "planes": len(images),
        "training": kind,
        "rounds": rounds,
        "steps": int(last.get("step", 0)),
        "training_end": model.config.provenance.get("training_end"),
        "final_loss": last.get("loss"),
        "device": describe_device(model.device),
        "seconds": round(time.perf_counter() - t0, 2),
        "input_channels": model.config.input_channels,
        "input_channel_names": model.config.input_channel_names,
        "seed_channel": model.config.seed_channel,
        "failed": [],
    }
