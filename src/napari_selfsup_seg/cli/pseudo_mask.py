"""``napari-selfsup-seg pseudo-mask``: instance pseudo-masks without drawing.

Methods: ``threshold`` (classical, fluorescence), ``psm`` (self-supervised activation maps, no
labels) and ``scorecam`` (from per-image weak labels in a CSV). Writes ``<stem>_pseudo.tif``
(instance labels, 0 = background) and ``<stem>_prob.tif`` (float32 map in [0, 1]) per image;
stacks keep their planes, the channel axis is dropped.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from .._errors import InputError
from .._progress import drain
from ..io._image import ImageStack, read_image
from ..pseudo._methods import METHODS, PseudoMaskMethod, get_method
from ..pseudo._psm_config import MODALITIES, PSMConfig
from ..pseudo._result import scale_record
from ..pseudo._threshold import ThresholdConfig
from ..pseudo._weak import ScoreCAMConfig
from ._common import (
    ProgressBar,
    add_config_arguments,
    add_scene_argument,
    config_from_args,
    ensure_out_dir,
    name_file,
)
from ._flags import diameter_override, split_length
from ._pseudo_inputs import check_target, diameter_px, file_config, seed_planes
from ._pseudo_outputs import (
    plan_outputs,
    plane_labels,
    stack_planes,
    summary,
    write_outputs,
)


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "pseudo-mask",
        help="pseudo-masks without drawing: threshold, PSM or Score-CAM from weak labels",
        description=(
            "Make instance pseudo-masks. threshold: smoothing + automatic threshold + watershed; "
            "psm: a small CNN trained self-supervised on the images, its shallow activation "
            "maps clustered with the intensity (no labels); scorecam: a classifier trained on "
            "per-image labels from --weak-labels, its Score-CAM maps thresholded. Writes "
            "OUT/<stem>_pseudo.tif and OUT/<stem>_prob.tif."
        ),
    )
    p.add_argument(
        "images",
        nargs="*",
        metavar="IMAGE",
        help="images to mask (scorecam: default the CSV's images labelled 1)",
    )
    p.add_argument("--method", required=True, choices=list(METHODS))
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    add_scene_argument(p)
    p.add_argument("--channel", type=int, default=None, metavar="C", help="channel to use")
    p.add_argument(
        "--seed-channel",
        type=int,
        default=None,
        metavar="N",
        help="threshold --target cells: the nuclear channel whose nuclei seed the cells",
    )
    p.add_argument(
        "--threshold",
        default=None,
        metavar="T|auto",
        help="cut on the map in [0, 1] (default 0.5) or 'auto' (label-free sweep 0.05…0.95)",
    )
    p.add_argument(
        "--weak-labels",
        default=None,
        metavar="CSV",
        help="scorecam: CSV with columns path,label (1 = has the thing, 0 = has not)",
    )
    p.add_argument("--steps", type=int, default=None, help="training steps (psm, scorecam)")
    p.add_argument(
        "--allow-chance",
        action="store_true",
        help="scorecam: write masks even when the classifier is not better than chance on "
        "held-out images (for experts; such maps rarely point at the thing)",
    )
    add_config_arguments(
        p,
        PSMConfig,
        ["k", "modality"],
        k={"help": "psm: k-means clusters"},
        modality={"help": "psm: image kind", "choices": MODALITIES},
    )
    add_config_arguments(
        p,
        ThresholdConfig,
        [
            "target",
            "diameter",
            "width",
            "polarity",
            "background",
            "sigma",
            "min_size",
            "edge_fraction",
        ],
        target={
            "help": "threshold: nuclei, or whole cells of --channel (seeded by --seed-channel)"
        },
        diameter=diameter_override("threshold", "estimated per plane"),
        width={"help": "threshold: width of rod-shaped objects in pixels (default: estimated)"},
        polarity={"help": "threshold: objects bright (fluorescence), dark (phase) or auto"},
        background={"help": "threshold: subtract the uneven background first"},
        sigma={"help": "smoothing in pixels (default: from the diameter)"},
        min_size={"help": "smallest object kept, in pixels (default: from the diameter)"},
        edge_fraction={
            "help": "threshold: each object's edge lies this fraction of the way from the "
            "background around it to its peak; 0 keeps the global cut's edges"
        },
    )
    add_config_arguments(p, PSMConfig, ["seed"], seed={"help": "random seed (psm, scorecam)"})
    add_config_arguments(
        p, ScoreCAMConfig, ["cam_layers", "refine", "auto_cut"],
        cam_layers={"help": "scorecam: classifier stage of the map"},
        refine={"help": "scorecam: image-guided refinement of the map"},
        auto_cut={"help": "scorecam: how --threshold auto cuts the map"},
    )  # fmt: skip
    p.add_argument(
        "--cache-dir",
        default=None,
        help="psm: where the trained activation network is cached (default OUT/.psm-cache)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)
    return p


def _parse_threshold(value: str | None) -> tuple[float, bool]:
    if value is None:
        return 0.5, False
    if value.lower() == "auto":
        return 0.5, True
    try:
        t = float(value)
    except ValueError:
        raise InputError(
            f"--threshold must be a number in [0, 1] or 'auto', got {value!r}"
        ) from None
    if not 0.0 <= t <= 1.0:
        raise InputError(f"--threshold must be in [0, 1], got {t}")
    return t, False


def _config(method: PseudoMaskMethod, args, t: float, auto: bool):
    """The method's config from the flags it has fields for (``--steps``: its own default).

    A flag left at ``None`` (``--sigma``, ``--min-size``: from the threshold's diameter) leaves
    the field at the method's own default.
    """
    steps = {"steps": args.steps} if args.steps is not None else {}
    if method.weak_labels and args.allow_chance:
        steps["allow_chance"] = True
    given = {k: v for k, v in args.config_flags.items() if getattr(args, k, None) is not None}
    args = argparse.Namespace(**{**vars(args), "config_flags": given})
    return config_from_args(method.config, args, threshold=None if auto else t, **steps)


def run(args: argparse.Namespace) -> dict:
    t, auto = _parse_threshold(args.threshold)
    method = get_method(args.method)
    check_target(method.name, args)
    if method.weak_labels and not args.weak_labels:
        raise InputError(f"--method {method.name} needs --weak-labels CSV (columns path,label)")
    if not method.weak_labels and not args.images:
        raise InputError(f"--method {method.name} needs at least one IMAGE")
    um = split_length(args)  # converted per file with its pixel size
    cfg = _config(method, args, t, auto)
    if method.weak_labels:
        from ._pseudo_scorecam import run_scorecam

        return run_scorecam(args, cfg, auto)
    plan_outputs(args.images, args.images, Path(args.out))
    out_dir = ensure_out_dir(args.out)
    multi = len(args.images) > 1
    failed: list[dict] = []
    good: list[tuple[ImageStack, np.ndarray]] = []

    def fail(path, exc: InputError) -> None:
        exc = name_file(exc, path)
        if not multi:
            raise exc
        failed.append({"path": str(path), "reason": str(exc)})

    seeds: dict[str, dict] = {}
    configs = {}
    for path in args.images:
        try:
            stack = read_image(path, scene=args.scene)
            planes = stack_planes(stack, args.channel)
            configs[str(stack.path)] = file_config(cfg, um, stack)
            seeds[str(stack.path)] = seed_planes(stack, args)
            if method.joint:
                _check_planes(method, stack, planes)
        except InputError as exc:
            fail(path, exc)
            continue
        good.append((stack, planes))
    results = []
    if method.joint and good:
        cache = Path(args.cache_dir) if args.cache_dir else out_dir / ".psm-cache"
        every = [p for _, ps in good for p in ps]
        names = [n for stack, ps in good for n in plane_labels(stack, len(ps))]
        with ProgressBar("pseudo-mask", quiet=args.quiet) as bar:
            whole = drain(method.run_iter(every, cfg, cache_dir=cache, names=names), bar)
        pos = 0
        for stack, ps in good:
            results.append((stack, whole, slice(pos, pos + len(ps))))
            pos += len(ps)
    for stack, ps in good if not method.joint else []:
        try:
            names = plane_labels(stack, len(ps))
            key = str(stack.path)
            one = drain(method.run_iter(ps, configs[key], names=names, **seeds[key]))
        except InputError as exc:
            fail(stack.path, exc)
            continue
        results.append((stack, one, slice(0, len(ps))))
    outputs, cuts_by_image = [], {}
    for stack, result, part in results:
        cuts = result.thresholds[part]
        labels, maps = np.stack(result.labels[part]), np.stack(result.maps[part])
        scale = {k: v[part] for k, v in scale_record(result).items()}
        used = diameter_px(configs[str(stack.path)], scale.get("diameters"))
        outputs.append({**write_outputs(out_dir, stack, labels, maps), "thresholds": cuts, **scale,
                        "diameter_px": used})  # fmt: skip
        cuts_by_image[stack.stem] = cuts
    return summary(method.name, out_dir, outputs, failed, cuts_by_image if auto else None)


def _check_planes(method: PseudoMaskMethod, stack: ImageStack, planes: np.ndarray) -> None:
    """Refuse an image the method cannot use before any training starts."""
    from ..data._normalize import percentile_normalize

    if min(planes.shape[-2:]) < method.min_side:
        raise InputError(
            f"{stack.name}: {planes.shape[-2]}x{planes.shape[-1]} is smaller than the "
            f"network minimum of {method.min_side}x{method.min_side} pixels"
        )
    for i, plane in enumerate(planes):
        percentile_normalize(plane, name=f"{stack.name} plane {i}")
