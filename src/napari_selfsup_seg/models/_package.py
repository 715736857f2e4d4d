"""bioimage.io model packages exported by napari-selfsup-seg, read back as a MODEL_DIR.

A package written by ``export-bioimageio`` carries the MODEL_DIR's files beside its
``rdf.yaml``: ``weights.pt`` (its ``pytorch_state_dict`` weights), ``config.json`` and
``training_log.csv`` (attachments), and ``rdf.yaml`` names them under
``config.napari_selfsup_seg``. :func:`model_folder` unpacks those files once into a folder keyed by
the package's SHA-256 (under the per-user folder, ``packages/``) and returns it, so everything
that takes a MODEL_DIR takes such a package too. Any other package is refused with one line
saying what it lacks; this reader needs neither bioimageio.spec nor a network.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path
from typing import Any

from .._errors import ModelError
from ._folder import CONFIG_FILE, LOG_FILE, WEIGHTS_FILE

#: Key of this tool's entry in a package's ``config`` (rdf.yaml).
PACKAGE_KEY = "napari_selfsup_seg"
#: Version of that entry's layout.
PACKAGE_VERSION = 1
RDF_NAMES = ("rdf.yaml", "bioimageio.yaml")


def is_package(path: str | os.PathLike) -> bool:
    """True for an existing file named ``*.zip`` (a bioimage.io package or not)."""
    p = Path(path)
    return p.suffix.lower() == ".zip" and p.is_file()


def _rdf(zf: zipfile.ZipFile, path: Path) -> dict[str, Any]:
    import yaml

    names = [n for n in zf.namelist() if n in RDF_NAMES or n.endswith(".bioimageio.yaml")]
    if not names:
        raise ModelError(f"{path}: not a bioimage.io model package (no rdf.yaml inside)")
    try:
        rdf = yaml.safe_load(zf.read(names[0]))
    except yaml.YAMLError as exc:
        raise ModelError(f"{path}: unreadable {names[0]} ({str(exc).splitlines()[0]})") from None
    if not isinstance(rdf, dict):
        raise ModelError(f"{path}: {names[0]} is not a YAML mapping")
    return rdf


def package_entry(path: str | os.PathLike) -> dict[str, Any]:
    """This tool's entry in a package's ``rdf.yaml``, checked; the files it names are inside.

    Raises
    ------
    ModelError
        Not a zip, no rdf.yaml, not a model, not exported by napari-selfsup-seg (naming what is
        missing), a newer layout, or a named file missing from the zip.
    """
    path = Path(path)
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ModelError(f"{path}: not a readable zip file ({exc})") from None
    with zf:
        rdf = _rdf(zf, path)
        if rdf.get("type") != "model":
            raise ModelError(f"{path}: a bioimage.io {rdf.get('type', 'resource')}, not a model")
        entry = (rdf.get("config") or {}).get(PACKAGE_KEY)
        if not isinstance(entry, dict):
            raise ModelError(
                f"{path}: a bioimage.io model not exported by napari-selfsup-seg (its rdf.yaml "
                f"has no config.{PACKAGE_KEY} entry naming {CONFIG_FILE} and {WEIGHTS_FILE}); "
                "run it with bioimageio.core or the tool that made it"
            )
        version = entry.get("package_version")
        if not isinstance(version, int) or version > PACKAGE_VERSION:
            raise ModelError(
                f"{path}: package layout {version!r} of a newer napari-selfsup-seg "
                f"(this one reads {PACKAGE_VERSION}); update napari-selfsup-seg"
            )
        inside = set(zf.namelist())
        for key in ("model_config", "weights"):
            name = entry.get(key)
            if not isinstance(name, str) or name not in inside:
                raise ModelError(f"{path}: {key} file {name!r} named in rdf.yaml is missing")
    return entry


def exported_by_this_tool(path: str | os.PathLike) -> bool:
    """True when ``path`` is a package :func:`package_entry` accepts."""
    try:
        package_entry(path)
    except ModelError:
        return False
    return True


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def packages_root() -> Path:
    """Where packages are unpacked: ``<per-user folder>/packages`` (see ``io._workspace``)."""
    from ..io._workspace import workspace_root

    return workspace_root() / "packages"


def model_folder(path: str | os.PathLike) -> Path:
    """The MODEL_DIR of ``path``: the folder itself, or a package exported by this tool unpacked.

    Parameters
    ----------
    path : path-like
        A model folder or a ``.zip`` package written by ``export-bioimageio``.

    Returns
    -------
    pathlib.Path
        ``path`` for a folder (or anything that is not a ``.zip`` file: checked by the
        caller); for a package, ``packages_root()/<sha256 prefix>`` holding ``config.json``,
        ``weights.pt`` and ``training_log.csv`` (unpacked once, reused afterwards).

    Raises
    ------
    ModelError
        A package that is not one this tool exported (see :func:`package_entry`), or a
        package that cannot be unpacked.
    """
    from ..io._atomic import atomic_folder

    path = Path(path)
    if not is_package(path):
        return path
    entry = package_entry(path)
    target = packages_root() / _sha256(path)[:16]
    if (target / CONFIG_FILE).is_file() and (target / WEIGHTS_FILE).is_file():
        return target
    wanted = {entry["model_config"]: CONFIG_FILE, entry["weights"]: WEIGHTS_FILE}
    if isinstance(entry.get("training_log"), str):
        wanted[entry["training_log"]] = LOG_FILE
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(path) as zf, atomic_folder(target) as tmp:
            for inner, local in wanted.items():
                if inner in zf.namelist():
                    (tmp / local).write_bytes(zf.read(inner))
    except (OSError, zipfile.BadZipFile) as exc:
        raise ModelError(f"{path}: cannot unpack the package into {target} ({exc})") from None
    return target
