"""Shared test fixtures. GUI fixtures import napari lazily, so headless tests stay light."""

from __future__ import annotations

import pytest


@pytest.fixture
def viewer(make_napari_viewer):
    """A hidden napari viewer (closed by napari's fixture after the test)."""
    return make_napari_viewer(show=False)


@pytest.fixture
def errors(monkeypatch):
    """Error notifications shown by the widgets, captured as a list of strings."""
    from napari_selfsup_seg._widgets import _workers

    shown: list[str] = []
    monkeypatch.setattr(_workers, "show_error", shown.append)
    return shown
