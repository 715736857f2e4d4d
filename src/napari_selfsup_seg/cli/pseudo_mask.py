"""``napari-selfsup-seg pseudo-mask``: instance pseudo-masks without drawing.

Methods: ``threshold`` (classical, fluorescence), ``psm`` (self-supervised activation maps, no
labels) and ``scorecam`` (from per-image weak labels in a CSV). Writes ``<stem>_pseudo.tif``
(instance labels, 0 = background) and ``<stem>_prob.tif`` (float32 map in [0, 1]) per image;
stacks keep their planes, the channel axis is dropped.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from .._errors import InputError
from ..io._image import ImageStack, image_stem, read_image
from ..io._output_guard import OutputPlan
from ..io._tiff_write import write_float, write_labels
from ._common import ProgressBar, ensure_out_dir, finite_float, name_file

METHODS = ("threshold", "psm", "scorecam")


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
    p.add_argument("--method", required=True, choices=METHODS)
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--channel", type=int, default=None, metavar="C", help="channel to use")
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
    p.add_argument("--k", type=int, default=3, help="psm: k-means clusters")
    p.add_argument("--modality", default="auto", choices=("auto", "fluorescence", "brightfield"))
    p.add_argument("--sigma", type=finite_float, default=1.0, help="smoothing in pixels")
    p.add_argument("--min-size", type=int, default=16, help="smallest object kept, in pixels")
    p.add_argument("--seed", type=int, default=0)
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


def read_weak_labels(csv_path: str | Path) -> list[tuple[Path, int]]:
    """Rows ``(path, label)`` of a weak-label CSV; relative paths resolve against its folder."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise InputError(f"{csv_path}: no such file")
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as fh:
            return _weak_label_rows(csv_path, csv.DictReader(fh))
    except UnicodeDecodeError:
        raise InputError(f"{csv_path}: not a UTF-8 text CSV") from None
    except csv.Error as exc:
        raise InputError(f"{csv_path}: not a readable CSV ({exc})") from None


def _weak_label_rows(csv_path: Path, reader: csv.DictReader) -> list[tuple[Path, int]]:
    fields = [f.strip().lower() for f in reader.fieldnames or []]
    if "path" not in fields or "label" not in fields:
        got = ", ".join(repr(f) for f in fields) or "nothing"
        raise InputError(f"{csv_path}: needs columns path,label (header has {got})")
    rows = []
    for row in reader:
        n = reader.line_num  # the file's line number, blank lines counted
        row = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
        path = Path(row.get("path", ""))
        if not path.is_absolute():
            path = csv_path.parent / path
        if not row.get("path") or not path.exists():
            raise InputError(f"{csv_path}: line {n}: {row.get('path', '')!r} does not exist")
        if row.get("label") not in ("0", "1"):
            raise InputError(
                f"{csv_path}: line {n}: label must be 0 or 1, got {row.get('label', '')!r}"
            )
        rows.append((path, int(row["label"])))
    if not rows:
        raise InputError(f"{csv_path}: no rows")
    return rows


def _planes(stack: ImageStack, channel: int | None) -> np.ndarray:
    data = stack.channel(channel)
    return data.reshape(-1, *data.shape[-2:])


def _write(out_dir: Path, stack: ImageStack, labels: np.ndarray, prob: np.ndarray) -> dict:
    axes = stack.plane_axes + "YX"
    lab_path = write_labels(
        output_path(out_dir, stack.stem, "pseudo"), stack.restack(labels), axes, stack.pixel_size
    )
    prob_path = write_float(
        output_path(out_dir, stack.stem, "prob"),
        np.clip(stack.restack(prob), 0, 1),
        axes,
        stack.pixel_size,
    )
    n_objects = int(sum(len(np.unique(p)) - 1 for p in labels))
    return {"path": str(stack.path), "labels": str(lab_path), "prob": str(prob_path),
            "n_objects": n_objects}  # fmt: skip


def _threshold_one(planes: np.ndarray, args, t: float, auto: bool, name: str):
    from ..pseudo._sweep import threshold_sweep
    from ..pseudo._threshold import ThresholdConfig, mask_to_instances, threshold_probability

    cfg = ThresholdConfig(threshold=t, sigma=args.sigma, min_size=args.min_size)
    labels, probs, cuts = [], [], []
    for i, plane in enumerate(planes):
        prob = threshold_probability(plane, cfg)
        cut = threshold_sweep(prob, plane, name=f"{name} plane {i}").best_threshold if auto else t
        labels.append(mask_to_instances(prob >= cut, cfg.min_size, cfg.min_distance))
        probs.append(prob)
        cuts.append(cut)
    return np.stack(labels), np.stack(probs), cuts


def run(args: argparse.Namespace) -> dict:
    t, auto = _parse_threshold(args.threshold)
    if args.method == "scorecam" and not args.weak_labels:
        raise InputError("--method scorecam needs --weak-labels CSV (columns path,label)")
    if args.method != "scorecam" and not args.images:
        raise InputError(f"--method {args.method} needs at least one IMAGE")
    if args.method == "scorecam":
        return _run_scorecam(args, t, auto)
    plan_outputs(args.images, args.images, Path(args.out))
    out_dir = ensure_out_dir(args.out)
    multi = len(args.images) > 1
    outputs, failed, cuts_by_image = [], [], {}
    stacks, plane_sets = [], []
    for path in args.images:
        try:
            stack = read_image(path)
            plane_sets.append(_planes(stack, args.channel))
            stacks.append(stack)
        except InputError as exc:
            if not multi:
                raise
            failed.append({"path": str(path), "reason": str(exc)})

    def fail(stack: ImageStack, exc: InputError) -> None:
        exc = name_file(exc, stack.path)
        if not multi:
            raise exc
        failed.append({"path": str(stack.path), "reason": str(exc)})

    if args.method == "threshold":
        for stack, planes in zip(stacks, plane_sets):
            try:
                labels, prob, cuts = _threshold_one(planes, args, t, auto, stack.name)
            except InputError as exc:
                fail(stack, exc)
                continue
            outputs.append({**_write(out_dir, stack, labels, prob), "thresholds": cuts})
            cuts_by_image[stack.stem] = cuts
    else:
        outputs, cuts_by_image = _run_psm(args, out_dir, stacks, plane_sets, t, auto, fail)
    summary = {"command": "pseudo-mask", "method": args.method, "out": str(out_dir),
               "outputs": outputs, "failed": failed}  # fmt: skip
    if auto:
        summary["chosen_thresholds"] = cuts_by_image
    print(f"pseudo-mask ({args.method}): {len(outputs)} written to {out_dir}, {len(failed)} failed")
    return summary


def output_path(out: Path, stem: str, kind: str) -> Path:
    """``OUT/<stem>_<kind>.tif`` for ``kind`` ``"pseudo"`` (labels) or ``"prob"`` (the map)."""
    return out / f"{stem}_{kind}.tif"


def plan_outputs(targets: list, inputs: list, out: Path) -> None:
    """Refuse a run whose outputs would overwrite an input or each other (nothing written)."""
    plan = OutputPlan(inputs)
    for path in targets:
        for kind in ("pseudo", "prob"):
            plan.claim(output_path(out, image_stem(path), kind), path)


def _run_psm(args, out_dir, stacks, plane_sets, t, auto, fail):
    from .._progress import drain
    from ..data._normalize import percentile_normalize
    from ..pseudo._psm import MIN_SIZE, PSMConfig, psm_labels_from_map, psm_pseudo_mask_iter
    from ..pseudo._sweep import threshold_sweep

    kwargs = {"steps": args.steps} if args.steps is not None else {}
    cfg = PSMConfig(k=args.k, modality=args.modality, sigma=args.sigma, threshold=t,
                    min_size=args.min_size, seed=args.seed, **kwargs)  # fmt: skip
    good = []
    for stack, planes in zip(stacks, plane_sets):
        try:
            if min(planes.shape[-2:]) < MIN_SIZE:
                raise InputError(
                    f"{stack.name}: {planes.shape[-2]}x{planes.shape[-1]} is smaller than the "
                    f"network minimum of {MIN_SIZE}x{MIN_SIZE} pixels"
                )
            for i, plane in enumerate(planes):
                percentile_normalize(plane, name=f"{stack.name} plane {i}")
        except InputError as exc:
            fail(stack, exc)
            continue
        good.append((stack, planes))
    outputs, cuts_by_image = [], {}
    if not good:
        return outputs, cuts_by_image
    cache = Path(args.cache_dir) if args.cache_dir else out_dir / ".psm-cache"
    with ProgressBar("pseudo-mask", quiet=args.quiet) as bar:
        results = drain(psm_pseudo_mask_iter([p for _, p in good], cfg, cache), bar)
    for (stack, planes), (labels, prob) in zip(good, results):
        try:
            cuts = [t] * len(planes)
            if auto:
                cuts, labels = [], labels.copy()
                for i, plane in enumerate(planes):
                    sweep = threshold_sweep(prob[i], plane, name=f"{stack.name} plane {i}")
                    cuts.append(sweep.best_threshold)
                    labels[i] = psm_labels_from_map(prob[i], plane, sweep.best_threshold, cfg)
        except InputError as exc:
            fail(stack, exc)
            continue
        outputs.append({**_write(out_dir, stack, labels, prob), "thresholds": cuts})
        cuts_by_image[stack.stem] = cuts
    return outputs, cuts_by_image


def _run_scorecam(args, t: float, auto: bool) -> dict:
    from .._progress import drain
    from ..pseudo._scorecam import ScoreCAMConfig, scorecam_plane, train_weak_classifier_iter

    rows = read_weak_labels(args.weak_labels)
    targets = args.images or [str(p) for p, label in rows if label == 1]
    inputs = [args.weak_labels, *targets, *(p for p, _ in rows)]
    plan_outputs(targets, inputs, Path(args.out))
    out_dir = ensure_out_dir(args.out)
    train_images, train_labels, names = [], [], []
    for path, label in rows:
        stack = read_image(path)
        for i, plane in enumerate(_planes(stack, args.channel)):
            train_images.append(plane)
            train_labels.append(label)
            names.append(f"{stack.name} plane {i}" if stack.plane_shape else stack.name)
    kwargs = {"steps": args.steps} if args.steps is not None else {}
    cfg = ScoreCAMConfig(threshold=None if auto else t, min_size=args.min_size, seed=args.seed,
                         **kwargs)  # fmt: skip
    with ProgressBar("pseudo-mask", quiet=args.quiet) as bar:
        net, size, scale, accuracy = drain(
            train_weak_classifier_iter(train_images, train_labels, cfg, names=names), bar
        )
    multi = len(targets) > 1
    outputs, failed, cuts_by_image = [], [], {}
    for target in targets:
        try:
            stack = read_image(target)
            labels, maps, cuts = [], [], []
            for i, plane in enumerate(_planes(stack, args.channel)):
                name = f"{stack.name} plane {i}" if stack.plane_shape else stack.name
                lab, cam, cut = scorecam_plane(net, plane, size, scale, cfg, name)
                labels.append(lab)
                maps.append(cam)
                cuts.append(cut)
        except InputError as exc:
            exc = name_file(exc, target)
            if not multi:
                raise exc from None
            failed.append({"path": str(target), "reason": str(exc)})
            continue
        outputs.append(
            {**_write(out_dir, stack, np.stack(labels), np.stack(maps)), "thresholds": cuts}
        )
        cuts_by_image[stack.stem] = cuts
    summary = {"command": "pseudo-mask", "method": "scorecam", "out": str(out_dir),
               "classifier_accuracy": accuracy, "input_size": size,
               "outputs": outputs, "failed": failed}  # fmt: skip
    if auto:
        summary["chosen_thresholds"] = cuts_by_image
    print(f"pseudo-mask (scorecam): {len(outputs)} written to {out_dir}, {len(failed)} failed "
          f"(classifier training accuracy {accuracy:.2f})")  # fmt: skip
    return summary
