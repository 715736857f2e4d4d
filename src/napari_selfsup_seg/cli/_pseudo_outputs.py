"""What ``pseudo-mask`` writes: the planes it reads, its file names, its outputs and summary."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io._image import ImageStack, image_stem
from ..io._output_guard import OutputPlan
from ..io._tiff_write import write_float, write_labels


def stack_planes(stack: ImageStack, channel: int | None) -> np.ndarray:
    data = stack.channel(channel)
    return data.reshape(-1, *data.shape[-2:])


def plane_labels(stack: ImageStack, n: int) -> list[str]:
    return [f"{stack.name} plane {i}" if stack.plane_shape else stack.name for i in range(n)]


def write_outputs(out_dir: Path, stack: ImageStack, labels: np.ndarray, prob: np.ndarray) -> dict:
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


def output_path(out: Path, stem: str, kind: str) -> Path:
    """``OUT/<stem>_<kind>.tif`` for ``kind`` ``"pseudo"`` (labels) or ``"prob"`` (the map)."""
    return out / f"{stem}_{kind}.tif"


def plan_outputs(targets: list, inputs: list, out: Path) -> None:
    """Refuse a run whose outputs would overwrite an input or each other (nothing written)."""
    plan = OutputPlan(inputs)
    for path in targets:
        for kind in ("pseudo", "prob"):
            plan.claim(output_path(out, image_stem(path), kind), path)


def summary(method, out_dir, outputs, failed, cuts, extra=None, note="") -> dict:
    """The JSON summary of a run (and its one-line report on stdout)."""
    record = {"command": "pseudo-mask", "method": method, "out": str(out_dir), **(extra or {}),
              "outputs": outputs, "failed": failed}  # fmt: skip
    if cuts is not None:
        record["chosen_thresholds"] = cuts
    print(
        f"pseudo-mask ({method}): {len(outputs)} written to {out_dir}, {len(failed)} failed{note}"
    )
    return record
