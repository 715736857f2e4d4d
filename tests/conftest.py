"""Shared test fixtures. GUI fixtures import napari lazily, so headless tests stay light."""

from __future__ import annotations

from pathlib import Path

import pytest

from napari_selfsup_seg.data._synthetic import make_sample


@pytest.fixture(autouse=True)
def _workspace_in_tmp(tmp_path, monkeypatch):
    """Default folders for in-memory data (autosave, models) go to the test's tmp folder."""
    from napari_selfsup_seg.io._workspace import HOME_ENV

    monkeypatch.setenv(HOME_ENV, str(tmp_path / "workspace"))


@pytest.fixture
def viewer(make_napari_viewer):
    """A hidden napari viewer (closed by napari's fixture after the test).

    The viewer creates an OpenGL context, after which importing Triton (as torch does lazily)
    would crash under Mesa's llvmpipe, also in later tests of this process; our docks keep Triton
    out when they open, and so does this fixture for tests that open no dock.
    """
    from napari_selfsup_seg._napari.widgets._workers import keep_triton_out

    keep_triton_out()
    return make_napari_viewer(show=False)


@pytest.fixture
def errors(monkeypatch):
    """Error notifications shown by the widgets, captured as a list of strings."""
    from napari_selfsup_seg._napari.widgets import _workers

    shown: list[str] = []
    monkeypatch.setattr(_workers, "show_error", shown.append)
    return shown


@pytest.fixture
def one_torch_thread():
    """Torch runs on one CPU thread during the test (small networks are fastest so, especially
    on a busy machine); the previous count is restored afterwards."""
    from napari_selfsup_seg.models._device import cpu_threads

    with cpu_threads(1):
        yield


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    """A tiny U-Net trained for a few steps on one 64 px fluorescence image."""
    from napari_selfsup_seg._config import ModelConfig
    from napari_selfsup_seg.models._device import cpu_threads
    from napari_selfsup_seg.train._supervised import train

    path = tmp_path_factory.getbasetemp() / "batch-model"
    if not (path / "weights.pt").exists():
        with cpu_threads(1):
            s = make_sample((64, 64), seed=0)
            train(
                [s.fluorescence],
                [s.labels],
                steps=15,
                model_config=ModelConfig.tiny(),
                tile_size=64,
                batch_size=2,
                learning_rate=1e-2,
                device="cpu",
                model_dir=path,
            )
    return path
