"""Default folders: next to the data when writable, else per-user; never an existing model."""

from __future__ import annotations

import os
from pathlib import Path

from napari_selfsup_seg.io._workspace import (
    HOME_ENV,
    next_free_dir,
    project_dir,
    safe_name,
    workspace_root,
)


def test_project_dir_beside_file_or_in_workspace(tmp_path, monkeypatch):
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    assert project_dir(tmp_path / "plate" / "a.ome.tif", "x") == tmp_path / "plate" / "a.selfsup"
    assert project_dir(None, "nuclei 2-channel") == tmp_path / "home" / "nuclei_2-channel"
    assert workspace_root() == tmp_path / "home"


def test_read_only_data_folder_falls_back_to_workspace(tmp_path, monkeypatch):
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    data = tmp_path / "ro"
    data.mkdir()
    real_access = os.access
    # Root may write anywhere, so the read-only folder is simulated at the permission check.
    monkeypatch.setattr(os, "access", lambda p, m: Path(p) != data and real_access(p, m))
    assert project_dir(data / "b.tif", "layer") == tmp_path / "home" / "b"


def test_next_free_dir_never_reuses_a_folder_with_files(tmp_path):
    assert next_free_dir(tmp_path, "model") == tmp_path / "model"
    (tmp_path / "model").mkdir()
    assert next_free_dir(tmp_path, "model") == tmp_path / "model"  # empty: usable
    (tmp_path / "model" / "weights.pt").write_bytes(b"x")
    assert next_free_dir(tmp_path, "model") == tmp_path / "model-2"


def test_safe_name():
    assert safe_name("../a b/c") == "a_b_c"
    assert safe_name("...") == "data"
