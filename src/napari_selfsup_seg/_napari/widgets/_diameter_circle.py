"""The object diameter of the Pseudo-masks widget: a field to give it, a circle to check it.

The field holds the typical object diameter in pixels that the threshold method uses (0: the
method estimates it per plane) and, when the source layer has a micrometre scale (the reader sets
the layer scale from the file's pixel size), the same length in µm. After a run that measured a
diameter per plane, :class:`DiameterCircle` draws one circle of the displayed plane's diameter in
the Shapes layer :data:`LAYER`, near the top-left corner of the image (inside it, away from the
cells in the middle) so the user can compare it with the cells; the same layer is updated after
every run and whenever the displayed plane changes. Everything here runs on the GUI thread.
"""

from __future__ import annotations

import napari.viewer
import numpy as np
from magicgui.widgets import Label, SpinBox

from ._layers import current_plane

#: Name of the Shapes layer holding the circle.
LAYER = "object diameter"
#: Gap between the circle and the image border, as a fraction of the image's shorter side.
MARGIN = 0.03
COLOR = "yellow"
ESTIMATED = "0 = estimated per plane"


def circle_box(diameter: float, shape_yx: tuple[int, int]) -> np.ndarray:
    """Corners ``(4, 2)`` (y, x) of the box of a circle ``diameter`` pixels wide near the
    top-left corner of an image of ``shape_yx`` pixels, a margin inside its border."""
    margin = max(2.0, MARGIN * min(shape_yx))
    y0 = x0 = margin - 0.5  # pixel centres sit on integers: the first pixel starts at -0.5
    y1, x1 = y0 + diameter, x0 + diameter
    return np.array([[y0, x0], [y0, x1], [y1, x1], [y1, x0]], dtype=float)


def micrometre_size(layer) -> float | None:
    """The side of a pixel of ``layer`` in µm, when its scale is in micrometres."""
    if layer is None:
        return None
    sy, sx = (float(s) for s in layer.scale[-2:])
    units = [str(u) for u in getattr(layer, "units", ())[-2:]]
    in_um = all(u in ("micrometer", "micron") for u in units)
    # The reader sets the scale from the file's pixel size (µm) and leaves the unit as pixels.
    if not (in_um or ((sy != 1.0 or sx != 1.0) and all(u == "pixel" for u in units))):
        return None
    return (sy + sx) / 2


class DiameterCircle:
    """The diameter field and the circle layer.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
    """

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self.viewer = viewer
        self.diameter = SpinBox(label="Object diameter (px)", value=0, min=0, max=10000)
        self.diameter.tooltip = (
            "Typical diameter of the objects in pixels; 0 = estimate it from each plane. After a "
            f"run the layer {LAYER!r} shows a circle of this size to compare with the cells."
        )
        self.in_um = Label(value=ESTIMATED)
        self._um: float | None = None  # µm per pixel of the source layer
        self._layer_name: str | None = None  # the source layer of the last run
        self._diameters: dict[int, float] = {}
        self.diameter.changed.connect(self._show_um)
        viewer.dims.events.current_step.connect(self.on_plane_changed)

    @property
    def widgets(self) -> list:
        """The controls to put in the dock, in order."""
        return [self.diameter, self.in_um]

    def value(self) -> float | None:
        """The diameter typed in pixels, or ``None`` (0): estimated per plane."""
        d = float(self.diameter.value)
        return d if d > 0 else None

    def set_source(self, layer) -> None:
        """The source layer changed: show the typed diameter in its micrometres."""
        self._um = micrometre_size(layer)
        self._show_um()

    def _show_um(self, _value=None) -> None:
        um, d = self._um, float(self.diameter.value)
        if d <= 0:
            self.in_um.value = ESTIMATED
        else:
            self.in_um.value = f"= {d * um:.3g} µm" if um else ""

    def show(self, layer_name: str, frames, diameters) -> None:
        """Keep the diameter of each plane of ``frames`` measured on layer ``layer_name`` and
        draw the circle of the displayed plane."""
        if not len(diameters):
            return
        self._layer_name = layer_name
        self._diameters = {int(k): float(d) for k, d in zip(frames, diameters)}
        self.on_plane_changed()

    def current(self) -> float | None:
        """The diameter of the displayed plane (the median of the run's when it has none)."""
        if not self._diameters or self._layer_name not in self.viewer.layers:
            return None
        k = current_plane(self.viewer, self.viewer.layers[self._layer_name])
        return self._diameters.get(k, float(np.median(list(self._diameters.values()))))

    def on_plane_changed(self, _event=None) -> None:
        """Redraw the circle at the displayed plane's diameter."""
        from napari.layers import Shapes

        d = self.current()
        if d is None or self._layer_name is None:
            return
        source = self.viewer.layers[self._layer_name]
        box = circle_box(d, tuple(source.data.shape[-2:]))
        features = {"label": [f"{d:.0f} px"]}
        layer = self.viewer.layers[LAYER] if LAYER in self.viewer.layers else None
        width = max(2.0, d / 10)  # data pixels: visible at the zoom that shows the image
        if isinstance(layer, Shapes):
            layer.data = [(box, "ellipse")]
            layer.features, layer.edge_width = features, [width]
            layer.scale, layer.translate = source.scale[-2:], source.translate[-2:]
            return
        if layer is not None:
            self.viewer.layers.remove(layer)
        active = self.viewer.layers.selection.active
        self.viewer.add_shapes(
            [box],
            shape_type="ellipse",
            name=LAYER,
            edge_color=COLOR,
            face_color="transparent",
            edge_width=width,
            features=features,
            opacity=1.0,
            text={"string": "{label}", "color": COLOR, "size": 9, "anchor": "lower_left"},
            scale=source.scale[-2:],
            translate=source.translate[-2:],
        )
        if active is not None:  # the new layer does not take the user's selection
            self.viewer.layers.selection.active = active
