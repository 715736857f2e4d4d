"""Data dock widget: open stacks, give channels their roles, choose the planes to work on."""

from __future__ import annotations

import napari.viewer
from magicgui.widgets import ComboBox, Label, LineEdit, PushButton
from napari.utils.notifications import show_info

from ..._errors import InputError
from ._choices import STATE_EVENTS
from ._dock import DockContainer
from ._layers import PLANES_KEY, ROLE_KEY, layer_kind, plane_axes
from ._workers import report_error

NONE = "(none)"
PLUGIN = "napari-selfsup-seg"


def parse_planes(text: str, n: int) -> list[int]:
    """Parse a plane selection such as ``"all"``, ``"0-3, 7"`` into sorted indices.

    Parameters
    ----------
    text : str
        ``"all"`` (or empty), or comma-separated indices and ``a-b`` ranges (inclusive).
    n : int
        Number of planes in the stack.

    Returns
    -------
    list of int

    Raises
    ------
    InputError
        Not a valid selection, or an index outside ``0 .. n-1``.
    """
    text = text.strip().lower()
    if text in ("", "all"):
        return list(range(n))
    out: set[int] = set()
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "-" in part:
                a, b = (int(v) for v in part.split("-", 1))
                out.update(range(a, b + 1))
            else:
                out.add(int(part))
        except ValueError:
            raise InputError(f"planes: cannot read {part!r} (use e.g. 'all' or '0-3, 7')") from None
    bad = sorted(p for p in out if not 0 <= p < n)
    if bad:
        raise InputError(f"planes: {bad[0]} is out of range (the stack has {n} planes)")
    if not out:
        raise InputError("planes: no plane chosen")
    return sorted(out)


class DataWidget(DockContainer):
    """Open images and say which layer is brightfield and which is fluorescent.

    The choices are stored in the layers' ``metadata`` (``"role"`` and ``"planes"``), where the
    other widgets read them.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        Injected by napari when the widget is opened from the Plugins menu.
    """

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self.viewer = viewer
        self.open_button = PushButton(text="Open image(s)…")
        self.brightfield = ComboBox(label="Brightfield", choices=self._image_names)
        self.fluorescent = ComboBox(label="Fluorescent", choices=self._image_names)
        self.planes = LineEdit(label="Planes", value="all")
        self.planes.tooltip = "Planes of a z/t stack to use: 'all' or e.g. '0-3, 7'"
        self.apply_button = PushButton(text="Apply roles and planes")
        self.info = Label(value="")
        super().__init__(
            [
                self.open_button,
                self.brightfield,
                self.fluorescent,
                self.planes,
                self.apply_button,
                self.info,
            ]
        )
        self.open_button.changed.connect(self._open_dialog)
        self.apply_button.changed.connect(self.apply)
        viewer.layers.events.inserted.connect(self._refresh)
        viewer.layers.events.removed.connect(self._refresh)
        self._refresh()

    def _image_names(self, _widget=None) -> list[str]:
        return [NONE] + [ly.name for ly in self.viewer.layers if layer_kind(ly) == "image"]

    def _refresh(self, _event=None) -> None:
        for combo, role in ((self.brightfield, "brightfield"), (self.fluorescent, "fluorescent")):
            current = combo.value
            combo.reset_choices()
            tagged = [
                ly.name
                for ly in self.viewer.layers
                if layer_kind(ly) == "image" and ly.metadata.get(ROLE_KEY) == role
            ]
            if tagged:
                combo.value = tagged[0]
            elif current in combo.choices:
                combo.value = current
        self._show_info()

    def _show_info(self) -> None:
        lines = []
        for ly in self.viewer.layers:
            if layer_kind(ly) != "image":
                continue
            role = ly.metadata.get(ROLE_KEY)
            px = ly.metadata.get("pixel_size")
            extra = f", {px[0]:g}×{px[1]:g} µm" if px else ""
            tag = f" [{role}]" if role else ""
            lines.append(f"{ly.name}{tag}: {plane_axes(ly)} {tuple(ly.data.shape)}{extra}")
        self.info.value = "\n".join(lines) if lines else "No image loaded."

    def open_files(self, paths: list[str]) -> list:
        """Open files with this plugin's reader; a bad file gives a notification, not a crash."""
        try:
            return self.viewer.open(paths, plugin=PLUGIN)
        except Exception as exc:
            cause = exc.__cause__ if exc.__cause__ is not None else exc
            report_error(cause, "Open")
            return []

    def _open_dialog(self) -> None:
        from qtpy.QtWidgets import QFileDialog

        paths, _ = QFileDialog.getOpenFileNames(
            self.native,
            "Open images",
            "",
            "Images (*.tif *.tiff *.nd2 *.czi *.lif);;TIFF images (*.tif *.tiff);;All files (*)",
        )
        if paths:
            self.open_files(paths)

    def apply(self) -> bool:
        """Store the chosen roles and planes in the layers' metadata.

        Returns
        -------
        bool
            ``False`` when the selection was invalid (a notification says why).
        """
        chosen = {"brightfield": self.brightfield.value, "fluorescent": self.fluorescent.value}
        try:
            if chosen["brightfield"] == chosen["fluorescent"] and chosen["brightfield"] != NONE:
                raise InputError("brightfield and fluorescent must be different layers")
            planes_by_layer = {}
            for name in chosen.values():
                if name == NONE:
                    continue
                layer = self.viewer.layers[name]
                n = 1
                for s in layer.data.shape[:-2]:
                    n *= s
                planes_by_layer[name] = parse_planes(self.planes.value, n)
        except InputError as exc:
            report_error(exc)
            return False
        for ly in self.viewer.layers:
            if ly.metadata.get(ROLE_KEY) in chosen and ly.name != chosen[ly.metadata[ROLE_KEY]]:
                ly.metadata.pop(ROLE_KEY)
        for role, name in chosen.items():
            if name != NONE:
                layer = self.viewer.layers[name]
                layer.metadata[ROLE_KEY] = role
                layer.metadata[PLANES_KEY] = planes_by_layer[name]
        self._show_info()
        STATE_EVENTS.changed.emit()
        show_info("Roles set: " + ", ".join(f"{r} = {n}" for r, n in chosen.items()))
        return True
