"""The base of every dock widget: a magicgui Container that napari docks inside a scroll area.

napari docks a magicgui widget's ``native`` Qt widget; for a scrollable Container that is the
inner widget, so the scroll area would be lost and five docks stacked on one side would grow the
window past the screen. Here ``native`` is the scroll area itself, so each dock can shrink to a
few lines and scrolls its contents instead.
"""

from __future__ import annotations

from magicgui.widgets import Container
from magicgui.widgets.bases import Widget

#: Narrowest a dock gets; labels and tables stay readable at this width.
MIN_WIDTH_PX = 360
#: Lowest a dock may be squeezed to when several share one side of the window.
MIN_HEIGHT_PX = 120


class DockContainer(Container):
    """A vertical, scrollable Container whose ``native`` widget is its scroll area.

    Parameters
    ----------
    widgets : list of magicgui.widgets.Widget
        The dock's rows, top to bottom.
    """

    def __init__(self, widgets: list[Widget]) -> None:
        super().__init__(widgets=widgets, scrollable=True)
        scroll = self.root_native_widget
        scroll.setMinimumWidth(MIN_WIDTH_PX)
        scroll.setMinimumHeight(MIN_HEIGHT_PX)
        from qtpy.QtCore import Qt

        # Rows keep their natural height at the top when the dock is taller than its contents.
        self.content.layout().setAlignment(Qt.AlignmentFlag.AlignTop)

    @property
    def native(self):
        """The scroll area (what napari puts in the dock)."""
        return self.root_native_widget

    @property
    def content(self):
        """The Qt widget inside the scroll area that holds the rows."""
        return self._widget._mgui_get_native_widget()

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
