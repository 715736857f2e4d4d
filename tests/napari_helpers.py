"""Test helpers that do what a user does in napari: open widgets from the Plugins menu, click."""

from __future__ import annotations

from napari_selfsup_seg._napari.widgets._menu import MENU_TITLE, open_from_menu, plugin_menu_actions

__all__ = ["MENU_TITLE", "click", "open_from_menu", "plugin_menu_actions"]


def click(qtbot, button) -> None:
    """Left-click a magicgui PushButton the way a user does."""
    from qtpy.QtCore import Qt

    qtbot.mouseClick(button.native, Qt.MouseButton.LeftButton)
