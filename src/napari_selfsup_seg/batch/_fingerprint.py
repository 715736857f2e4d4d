"""Fingerprints that let a rerun skip what is done: the model's hash, each input's size, time
and content hash, and a hash of the settings that change the labels.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from .._config import PredictConfig
from .._errors import InputError
from ._records import LargeImageOptions

#: Prediction settings that change the labels (device and batch size do not).
_RESULT_SETTINGS = ("tile_size", "overlap", "foreground_threshold", "seed_threshold", "min_size")


def model_hash(model_dir: str | os.PathLike) -> str:
    """SHA-256 of a MODEL_DIR's ``config.json`` followed by ``weights.pt``."""
    from ..models._factory import CONFIG_FILE, WEIGHTS_FILE

    h = hashlib.sha256()
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        try:
            with open(Path(model_dir) / name, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
        except OSError as exc:
            raise InputError(f"{Path(model_dir) / name}: cannot read ({exc.strerror})") from None
    return h.hexdigest()


#: Bytes hashed at each end of an input file for its fingerprint.
HASH_BYTES = 1 << 20


def input_fingerprint(path: str | os.PathLike, content: bool = True) -> dict:
    """Size, modification time and (with ``content``) a content hash of an input.

    The hash covers the size and the first and last MiB of a file; for a ``.zarr`` folder, the
    names, sizes and times of its files. A rerun compares fingerprints to redo changed inputs.
    """
    path = Path(path)
    h = hashlib.sha256()
    if path.is_dir():
        size, mtime = 0, 0
        for p in sorted(path.rglob("*")):
            if p.is_file():
                st = p.stat()
                size, mtime = size + st.st_size, max(mtime, st.st_mtime_ns)
                h.update(
                    f"{p.relative_to(path).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode()
                )
    else:
        st = path.stat()
        size, mtime = st.st_size, st.st_mtime_ns
        if content:
            h.update(str(size).encode())
            with open(path, "rb") as fh:
                h.update(fh.read(HASH_BYTES))
                if size > 2 * HASH_BYTES:
                    fh.seek(size - HASH_BYTES)
                h.update(fh.read(HASH_BYTES))
    out: dict[str, int | str] = {"size": size, "mtime_ns": mtime}
    if content:
        out["sha256"] = h.hexdigest()
    return out


def same_input(recorded: dict | None, path: str | os.PathLike) -> bool:
    """Whether ``path`` is still the input that ``recorded`` (a fingerprint) describes.

    Same size and modification time: unchanged, without reading the file. Same size but another
    time (a copied or touched file): unchanged when the content hash is the same.
    """
    if not isinstance(recorded, dict):
        return False  # a result of an earlier version that did not record its input
    try:
        now = input_fingerprint(path, content=False)
        if now["size"] != recorded.get("size"):
            return False
        if now["mtime_ns"] == recorded.get("mtime_ns"):
            return True
        return input_fingerprint(path)["sha256"] == recorded.get("sha256")
    except OSError:
        return False


def settings_hash(
    config: PredictConfig, large: LargeImageOptions, scene: int | str | None = None
) -> str:
    """Short hash of the settings that change the labels (``scene``: the scene segmented)."""
    d = {k: getattr(config, k) for k in _RESULT_SETTINGS}
    d.update(block_size=large.block_size, halo=large.halo)
    if scene is not None:  # absent otherwise, so older runs still resume
        d["scene"] = scene
    if config.input_channels is not None:  # absent otherwise, so older runs still resume
        d["input_channels"] = list(config.input_channels)
    for key in ("diameter", "diameter_um"):  # likewise
        if getattr(config, key) is not None:
            d[key] = getattr(config, key)
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]
