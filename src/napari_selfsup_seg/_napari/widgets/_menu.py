"""Open this plugin's widgets the way a user does: from napari's Plugins menu.

For scripts and tests that must take the user's path (the screenshot script, the GUI tests), not
for the widgets themselves. It relies on the menu's text, so it also checks what a user reads.
"""

from __future__ import annotations

#: The submenu of ``Plugins`` that lists this plugin's widgets (the manifest's display name).
MENU_TITLE = "Self-supervised segmentation"


def plugin_menu_actions(viewer) -> dict:
    """The actions of ``Plugins → Self-supervised segmentation`` by their text."""
    menubar = viewer.window._qt_window.menuBar()
    plugins = next(a.menu() for a in menubar.actions() if a.text().replace("&", "") == "Plugins")
    sub = next(a.menu() for a in plugins.actions() if a.text() == MENU_TITLE)
    sub.aboutToShow.emit()  # what opening the menu does: napari fills it on show
    return {a.text(): a for a in sub.actions() if a.text()}


def open_from_menu(viewer, title: str):
    """Trigger ``Plugins → Self-supervised segmentation → title``; return the docked widget.

    Raises
    ------
    RuntimeError
        No dock opened (e.g. napari could not construct the widget).
    """
    plugin_menu_actions(viewer)[title].trigger()
    found = [w for name, w in viewer.window.dock_widgets.items() if name.startswith(title)]
    if not found:
        raise RuntimeError(f"{title}: no dock opened")
    return found[0]
