"""Shared helpers of the benchmark scripts: default data paths and the docs/benchmarks.md report.

Each benchmark prints one JSON line and replaces its own section of ``docs/benchmarks.md``
(between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->``), so scripts can run in any order.
"""

from __future__ import annotations

import json
import platform
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "docs" / "benchmarks.md"
SHARED_DATA = ROOT.parent / "shared" / "data"
DEFAULT_IMAGE = SHARED_DATA / "nuclei2d_image.tif"
DEFAULT_MASK = SHARED_DATA / "nuclei2d_mask.tif"

HEADER = """# Benchmarks

Every figure below was produced by a script in `benchmarks/`; the command is given with each
section. Speed figures are ratios against a reference run in the same process, because the
machines are noisy. Quality figures are scored on `../shared/data/nuclei2d_*` (a real annotated
fluorescence image, 125 nuclei) unless a section says otherwise.
"""


def machine() -> str:
    """A one-line description of the machine, for the report."""
    import os

    try:
        import torch

        threads = torch.get_num_threads()
    except ImportError:
        threads = "?"
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU cores, "
        f"torch threads {threads}, Python {platform.python_version()}"
    )


def report(name: str, title: str, command: str, markdown: str, result: dict) -> None:
    """Print ``result`` as one JSON line and write the section ``name`` of the report.

    Parameters
    ----------
    name : str
        Section key, e.g. ``"quality"``.
    title : str
        Section heading.
    command : str
        The command that reproduces the figures.
    markdown : str
        Body of the section (tables, notes).
    result : dict
        The figures, printed as JSON.
    """
    result = {"benchmark": name, **result}
    print(json.dumps(result, default=float))
    stamp = time.strftime("%Y-%m-%d")
    body = (
        f"<!-- bench:{name} -->\n## {title}\n\n"
        f"Command: `{command}`  \nMeasured {stamp} on {machine()}.\n\n"
        f"{markdown.strip()}\n\n<details><summary>JSON</summary>\n\n"
        f"```json\n{json.dumps(result, indent=1, default=float)}\n```\n</details>\n"
        f"<!-- /bench:{name} -->\n"
    )
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    text = REPORT.read_text() if REPORT.exists() else HEADER
    pattern = re.compile(
        rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->\n", re.S
    )
    text = (
        pattern.sub(lambda _: body, text) if pattern.search(text) else text.rstrip() + "\n\n" + body
    )
    tmp = REPORT.with_suffix(".md.part")
    tmp.write_text(text)
    tmp.replace(REPORT)


def command_line() -> str:
    """The command line this script was started with, for the report."""
    return "python " + " ".join([str(Path(sys.argv[0]).resolve().relative_to(ROOT)), *sys.argv[1:]])
