"""The base of every dock widget: a magicgui Container that napari docks inside a scroll area.

napari docks a magicgui widget's ``native`` Qt widget; for a scrollable Container that is the
inner widget, so the scroll area would be lost and five docks stacked on one side would grow the
window past the screen. Here ``native`` is the scroll area itself, so each dock can shrink to a
few lines and scrolls its contents instead. When a second dock of this plugin opens on the same
side of the window, it becomes a tab beside the first, so each step gets the full height.
"""

from __future__ import annotations

from magicgui.widgets import Container
from magicgui.widgets.bases import Widget

from ._workers import keep_triton_out

#: Narrowest a dock gets; labels and tables stay readable at this width.
MIN_WIDTH_PX = 360
#: Lowest a dock may be squeezed to when several share one side of the window.
MIN_HEIGHT_PX = 120
#: Qt property that marks the scroll areas of this plugin's docks.
DOCK_PROPERTY = "selfsup_dock"


def _dock_of(widget):
    """The QDockWidget that holds ``widget``, or ``None`` while it is not docked."""
    from qtpy.QtWidgets import QDockWidget

    parent = widget.parent()
    while parent is not None and not isinstance(parent, QDockWidget):
        parent = parent.parent()
    return parent


def tabify_with_siblings(scroll) -> bool:
    """Put the dock holding ``scroll`` in tabs with this plugin's other docks on its side.

    Returns
    -------
    bool
        ``True`` when it was tabbed beside another dock.
    """
    from qtpy.QtWidgets import QDockWidget, QMainWindow, QScrollArea

    dock = _dock_of(scroll)
    main = dock.parent() if dock is not None else None
    if not isinstance(main, QMainWindow) or dock.isFloating():
        return False
    area = main.dockWidgetArea(dock)
    for other in main.findChildren(QDockWidget):
        if (
            other is dock
            or not (other.isVisible() or main.tabifiedDockWidgets(other))
            or other.isFloating()
            or main.dockWidgetArea(other) != area
            or not any(w.property(DOCK_PROPERTY) for w in other.findChildren(QScrollArea))
        ):
            continue
        main.tabifyDockWidget(other, dock)
        dock.raise_()
        return True
    return False


class _TabOnFirstShow:
    """Tab a dock beside its siblings once, the first time it is shown (it is docked by then)."""

    def __init__(self, scroll) -> None:
        from qtpy.QtCore import QEvent, QObject, QTimer

        class Filter(QObject):
            def eventFilter(self, obj, event):
                if event.type() == QEvent.Type.Show and _dock_of(obj) is not None:
                    obj.removeEventFilter(self)  # shown docked: once is enough
                    QTimer.singleShot(0, lambda: tabify_with_siblings(obj))
                return False

        self.filter = Filter(scroll)
        scroll.installEventFilter(self.filter)


class DockContainer(Container):
    """A vertical, scrollable Container whose ``native`` widget is its scroll area.

    Parameters
    ----------
    widgets : list of magicgui.widgets.Widget
        The dock's rows, top to bottom.
    """

    def __init__(self, widgets: list[Widget]) -> None:
        from qtpy.QtCore import Qt

        keep_triton_out()  # a dock means an OpenGL context exists in this process
        super().__init__(widgets=widgets, scrollable=True)
        scroll = self.root_native_widget
        scroll.setMinimumWidth(MIN_WIDTH_PX)
        scroll.setMinimumHeight(MIN_HEIGHT_PX)
        # Rows keep their natural height at the top when the dock is taller than its contents.
        self.content.layout().setAlignment(Qt.AlignmentFlag.AlignTop)
        scroll.setProperty(DOCK_PROPERTY, True)
        self._tabber = _TabOnFirstShow(scroll)

    @property
    def native(self):
        """The scroll area (what napari puts in the dock)."""
        return self.root_native_widget

    @property
    def content(self):
        """The Qt widget inside the scroll area that holds the rows."""
        return super().native

    def add_native(self, qwidget) -> None:
        """Append a plain Qt widget (e.g. a plot canvas) below the magicgui rows."""
        self.content.layout().addWidget(qwidget)


def fit_table(table, stretch: str | None = None) -> None:
    """Make a magicgui Table readable in a narrow dock.

    No row numbers; every column as wide as its contents, the column ``stretch`` (e.g. a
    failure reason) takes the remaining width, and each cell's full text is its tooltip.
    """
    from qtpy.QtWidgets import QHeaderView

    native = table.native
    native.verticalHeader().setVisible(False)
    header = native.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    headers = [str(h) for h in table.column_headers]
    if stretch in headers:
        header.setSectionResizeMode(headers.index(stretch), QHeaderView.ResizeMode.Stretch)
    for row in range(native.rowCount()):
        for col in range(native.columnCount()):
            item = native.item(row, col)
            if item is not None:
                item.setToolTip(item.text())
