"""Planning a folder run before anything is written: inputs, output checks, what to redo.

* :func:`list_inputs` leaves out the run's own outputs (those its journal records, the run files,
  and the whole output folder when it is inside the input folder);
* :func:`check_outputs` refuses a run whose labels would replace an input or, inside the input
  folder, a file that no earlier run wrote;
* :func:`plan_run` skips images done by an earlier run with the same model and settings whose
  input is unchanged (size, modification time, content hash; see
  :func:`napari_selfsup_seg.batch._fingerprint.same_input`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path

from .._errors import InputError
from ..io._formats import IMAGE_SUFFIXES, is_image_name
from ..io._output_guard import OutputPlan, path_key
from ._fingerprint import input_fingerprint, same_input
from ._job import JOURNAL, STATE_DIR
from ._outputs import SKIP_REASON
from ._records import ImageJob, ImageOutcome

#: Files a run writes at the top of its output folder.
RUN_FILES = ("summary.csv", "measurements.csv", "run.json", "report.html")


def list_inputs(
    in_dir: Path,
    pattern: str | None,
    recursive: bool,
    out_dir: Path,
    earlier: AbstractSet[str] = frozenset(),
) -> list[Path]:
    """Input files (and ``.zarr`` folders) matching ``pattern``, sorted, outputs excluded.

    ``pattern`` ``None`` takes every image this package reads
    (:func:`~napari_selfsup_seg.io._formats.is_image_name`).

    Outputs are the files of ``earlier`` (path keys of labels written by earlier runs, from the
    journal), the run files at the top of ``out_dir``, and the whole of ``out_dir`` when it is a
    subfolder of ``in_dir``.
    """
    if not in_dir.is_dir():
        raise InputError(f"{in_dir}: input folder does not exist or is not a folder")
    glob = pattern or "*"
    found = in_dir.rglob(glob) if recursive else in_dir.glob(glob)
    out = []
    for p in found:
        if pattern is None and not is_image_name(p):
            continue
        rel = p.relative_to(in_dir).parts
        if any(part.startswith(".") for part in rel):
            continue
        if any(part.lower().endswith(".zarr") for part in rel[:-1]):
            continue  # inside a zarr folder
        if not (p.is_file() or (p.is_dir() and p.name.lower().endswith(".zarr"))):
            continue
        if is_output(p, in_dir, out_dir, earlier):
            continue
        out.append(p)
    if not out:
        where = f"{in_dir} or its subfolders" if recursive else str(in_dir)
        wanted = repr(pattern) if pattern else "the image suffixes " + " ".join(IMAGE_SUFFIXES)
        raise InputError(f"{where}: no files match {wanted}")
    return sorted(out)


def is_output(path: Path, in_dir: Path, out_dir: Path, earlier: AbstractSet[str]) -> bool:
    """Whether ``path`` (found in the input folder) is an output of this or an earlier run."""
    key, out_key = path_key(path), path_key(out_dir)
    if key in earlier:
        return True
    if os.path.dirname(key) == out_key and path.name in RUN_FILES:
        return True
    inside_out = key.startswith(out_key + os.sep)
    return inside_out and out_key != path_key(in_dir)


def earlier_outputs(out_dir: Path) -> set[str]:
    """Path keys of the outputs that earlier runs recorded in ``out_dir``'s journal."""
    found: set[str] = set()
    try:
        with open(out_dir / STATE_DIR / JOURNAL) as fh:
            for line in fh:
                try:
                    output = json.loads(line).get("output")
                except (ValueError, AttributeError):
                    continue
                if output:
                    found.add(path_key(output))
    except OSError:
        pass
    return found


def check_outputs(
    jobs: list[ImageJob], files: list[Path], in_dir: Path, earlier: AbstractSet[str]
) -> None:
    """Refuse a run whose label images would replace an input or a file it did not write.

    Raises
    ------
    InputError
        A label image would overwrite an input of this run, or, inside the input folder, a file
        that no earlier run wrote (a user's own ``<stem>_labels.tif``, say).
    """
    plan = OutputPlan(files)
    in_key = path_key(in_dir)
    for job in jobs:
        for large in (False, True):
            target = job.output(large)
            if plan.input_at(target) is not None:
                raise InputError(
                    f"{target}: the labels of {job.path} would overwrite this input; choose an "
                    "OUT_DIR outside the input folder"
                )
            key = path_key(target)
            if key.startswith(in_key + os.sep) and target.exists() and key not in earlier:
                raise InputError(
                    f"{target}: exists and was not written by an earlier run; the labels of "
                    f"{job.path} would replace it (move it, or choose another OUT_DIR)"
                )


def is_done(entry: dict | None, job: ImageJob, m_hash: str, s_hash: str) -> bool:
    return (
        entry is not None
        and entry.get("status") == "done"
        and entry.get("model_hash") == m_hash
        and entry.get("settings_hash") == s_hash
        and Path(entry.get("output", "")).exists()
        and Path(job.part).exists()
        and same_input(entry.get("input"), job.path)
    )


@dataclass
class RunPlan:
    """What a run will do: outcomes of clashing and skipped images first, then ``todo``."""

    first: list[ImageOutcome]
    todo: list[ImageJob]
    inputs: dict[str, dict]


def plan_run(jobs, journal, overwrite, m_hash, s_hash) -> RunPlan:
    """Sort jobs into clashes (failed), images done by an earlier run (skipped) and to do.

    The inputs to do are fingerprinted now, before they are read, so that a file that changes
    while it is segmented is redone by the next run.
    """
    first: list[ImageOutcome] = []
    todo: list[ImageJob] = []
    inputs: dict[str, dict] = {}
    seen_outputs: dict[str, str] = {}
    for job in jobs:
        clash = seen_outputs.setdefault(f"{job.out_dir}/{job.stem}", job.key)
        if clash != job.key:
            reason = f"output name {job.stem}_labels clashes with {clash}"
            first.append(ImageOutcome.failure(job, reason))
        elif not overwrite and is_done(journal.entries.get(job.key), job, m_hash, s_hash):
            earlier = ImageOutcome.from_dict(journal.entries[job.key])
            first.append(dataclasses.replace(earlier, status="skipped", reason=SKIP_REASON))
        else:
            todo.append(job)
            try:
                inputs[job.key] = input_fingerprint(job.path)
            except OSError:
                pass  # unreadable: the job fails with the reason when it is read
    return RunPlan(first, todo, inputs)
