"""Every dock widget opens the way a user opens it: from the Plugins menu and by display name."""

from __future__ import annotations

import numpy as np
import pytest

from napari_helpers import MENU_TITLE, plugin_menu_actions

pytestmark = pytest.mark.gui

PLUGIN = "napari-selfsup-seg"
WIDGETS = {
    "1. Data": "DataWidget",
    "2. Pseudo-masks": "PseudoMasksWidget",
    "3. Correct": "CorrectWidget",
    "4. Train": "TrainWidget",
    "5. Segment folder": "SegmentFolderWidget",
}


def test_plugins_menu_lists_and_opens_every_widget(viewer, errors):
    actions = plugin_menu_actions(viewer)
    assert set(WIDGETS) <= set(actions)
    for title, cls in WIDGETS.items():
        actions[title].trigger()
        opened = {
            type(w).__name__ for name, w in viewer.window.dock_widgets.items() if title in name
        }
        assert opened == {cls}, f"{title}: no dock opened"
    assert errors == []


@pytest.mark.parametrize("title", list(WIDGETS))
def test_add_plugin_dock_widget_by_display_name(viewer, title, errors, monkeypatch):
    import sys

    # Opening any dock keeps Triton out (it crashes after an OpenGL context under llvmpipe).
    monkeypatch.delitem(sys.modules, "triton", raising=False)
    _dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, title)
    assert type(widget).__name__ == WIDGETS[title]
    assert "triton" in sys.modules and sys.modules["triton"] is None
    # napari hands plugins a proxy of the viewer; the widget must follow the real viewer's layers.
    viewer.add_image(np.zeros((32, 32), np.float32), name="img")
    assert [ly.name for ly in widget.viewer.layers] == ["img"]
    assert errors == []


def test_all_docks_fit_a_1000_px_high_screen(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    window = viewer.window._qt_window
    window.resize(1400, 950)
    for action in plugin_menu_actions(viewer).values():
        action.trigger()  # one after the other, as a user opens them
        qtbot.wait(100)
    docks = [w for name, w in viewer.window.dock_widgets.items() if MENU_TITLE in name]
    assert len(docks) == len(WIDGETS)
    assert window.height() <= 1000, f"window grew to {window.width()}x{window.height()}"
    # Each dock scrolls its contents instead of asking for its full height.
    for widget in docks:
        assert widget.native.minimumSizeHint().height() < 200
    # Opened one after the other on one side, they share it as tabs, each at full height.
    from qtpy.QtWidgets import QDockWidget

    qt_docks = [w.native.parent() for w in docks]
    while not all(isinstance(d, QDockWidget) for d in qt_docks):
        qt_docks = [d if isinstance(d, QDockWidget) else d.parent() for d in qt_docks]
    # Tabbing happens on the event loop just after each dock is first shown: on a busy machine
    # that can come after the last wait above.
    qtbot.waitUntil(
        lambda: len(window.tabifiedDockWidgets(qt_docks[-1])) == len(WIDGETS) - 1, timeout=5000
    )
    qtbot.waitUntil(lambda: qt_docks[-1].height() > 600, timeout=3000)  # once laid out
