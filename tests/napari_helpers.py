"""Test helpers that do what a user does in napari: open widgets from the Plugins menu, click."""

from __future__ import annotations

MENU_TITLE = "Self-supervised segmentation"


def plugin_menu_actions(viewer) -> dict:
    """The actions of ``Plugins → Self-supervised segmentation`` by their text."""
    menubar = viewer.window._qt_window.menuBar()
    plugins = next(a.menu() for a in menubar.actions() if a.text().replace("&", "") == "Plugins")
    sub = next(a.menu() for a in plugins.actions() if a.text() == MENU_TITLE)
    sub.aboutToShow.emit()  # what opening the menu does: napari fills it on show
    return {a.text(): a for a in sub.actions() if a.text()}


def open_from_menu(viewer, title: str):
    """Trigger ``Plugins → Self-supervised segmentation → title``; return the docked widget."""
    plugin_menu_actions(viewer)[title].trigger()
    found = [w for name, w in viewer.window.dock_widgets.items() if name.startswith(title)]
    assert found, f"{title}: no dock opened"
    return found[0]


def click(qtbot, button) -> None:
    """Left-click a magicgui PushButton the way a user does."""
    from qtpy.QtCore import Qt

    qtbot.mouseClick(button.native, Qt.MouseButton.LeftButton)
