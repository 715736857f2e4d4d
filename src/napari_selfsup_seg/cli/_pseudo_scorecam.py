"""``pseudo-mask --method scorecam``: a weak-label classifier trained on the CSV's images, then
the Score-CAM masks of the targets, one file at a time."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._errors import InputError
from .._progress import drain
from ..io._image import read_image
from ._common import ProgressBar, ensure_out_dir, name_file
from ._pseudo_outputs import plan_outputs, plane_labels, stack_planes, summary, write_outputs
from ._weak_labels import classifier_report, read_weak_labels


def run_scorecam(args, cfg, auto: bool) -> dict:
    """Score-CAM from a weak-label CSV: train on its images, map the targets one by one."""
    from ..pseudo._scorecam import scorecam_map_iter, train_weak_classifier_iter
    from ..pseudo._weak_check import ChanceClassifierError

    rows = read_weak_labels(args.weak_labels)
    targets = args.images or [str(p) for p, label in rows if label == 1]
    inputs = [args.weak_labels, *targets, *(p for p, _ in rows)]
    plan_outputs(targets, inputs, Path(args.out))
    out_dir = ensure_out_dir(args.out)
    train_images: list[np.ndarray] = []
    train_labels: list[int] = []
    names: list[str] = []
    for path, label in rows:
        stack = read_image(path, scene=args.scene)
        planes = stack_planes(stack, args.channel)
        train_images.extend(planes)
        train_labels.extend([label] * len(planes))
        names.extend(plane_labels(stack, len(planes)))
    try:
        with ProgressBar("pseudo-mask", quiet=args.quiet) as bar:
            trained = drain(
                train_weak_classifier_iter(train_images, train_labels, cfg, names=names), bar
            )
    except ChanceClassifierError as exc:
        raise InputError(exc.line("--allow-chance", str(args.weak_labels))) from None
    extra, note = classifier_report(trained, args.weak_labels)
    multi = len(targets) > 1
    smalls: dict[str, list] = {}
    votes: dict[str, list] = {}
    fallback = (
        _majority(args, trained, cfg, targets, smalls, votes, extra)
        if cfg.refine == "auto"
        else None
    )
    outputs, failed, cuts_by_image = [], [], {}
    for target in targets:
        try:
            stack = read_image(target, scene=args.scene)
            planes = stack_planes(stack, args.channel)
            names = plane_labels(stack, len(planes))
            result = drain(scorecam_map_iter(trained, list(planes), cfg, names=names,
                                             small_maps=smalls.pop(str(target), None),
                                             refine_fallback=fallback,
                                             votes=votes.pop(str(target), None)))  # fmt: skip
        except InputError as exc:
            exc = name_file(exc, target)
            if not multi:
                raise exc from None
            failed.append({"path": str(target), "reason": str(exc)})
            continue
        labels, maps = np.stack(result.labels), np.stack(result.maps)
        entry = {**write_outputs(out_dir, stack, labels, maps), "thresholds": result.thresholds}
        if "refine_chosen" in result.record:  # the refinement of each plane
            entry["refine"] = result.record["refine_chosen"]["planes"]
        outputs.append(entry)
        cuts_by_image[stack.stem] = result.thresholds
    return summary("scorecam", out_dir, outputs, failed, cuts_by_image if auto else None,
                    extra, note)  # fmt: skip


def _majority(args, trained, cfg, targets, smalls: dict, votes: dict, extra: dict) -> str:
    """``refine="auto"``: the refinement the planes of all targets vote for by majority.

    Planes that do not vote take it (each file's own majority would decide a one-plane file
    by nothing). Fills ``smalls`` (target -> maps at the classifier's size) and ``votes``
    (target -> its planes' votes) so that the masks' pass neither makes a map nor asks the
    classifier again, and ``extra["refine_votes"]``. Files that fail here are reported by the
    masks' pass.
    """
    from ..pseudo._refine_auto import majority_of, vote_counts
    from ..pseudo._scorecam import refinement_votes

    every = []
    for target in targets:
        try:
            stack = read_image(target, scene=args.scene)
            planes = stack_planes(stack, args.channel)
            votes[str(target)], smalls[str(target)] = refinement_votes(
                trained, list(planes), cfg, plane_labels(stack, len(planes))
            )
        except InputError:
            continue
        every.extend(votes[str(target)])
    counts = vote_counts(every)
    chosen = majority_of(counts)
    extra["refine_votes"] = {"majority": chosen, **counts}
    return chosen
