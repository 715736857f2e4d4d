"""The Pseudo-masks widget's choice of nuclei or whole cells, and of the seed (nuclear) layer.

With the target ``cells`` the source layer is the cell channel (cytoplasm, membrane or
brightfield) and the seed layer, when one is chosen, the nuclear stain whose nuclei seed the
cells (:mod:`~napari_selfsup_seg.pseudo._cells`); with no seed layer the cells are split by
their estimated size.
"""

from __future__ import annotations

import napari.viewer
from magicgui.widgets import ComboBox

from ..._errors import InputError
from ...pseudo._threshold import TARGETS
from ._layers import layer_kind, seed_planes_like

NO_SEEDS = "(none)"


class CellTarget:
    """Target and seed-layer boxes; only the threshold method shows them.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
    """

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self.viewer = viewer
        self.target = ComboBox(label="Target", choices=list(TARGETS), value="nuclei")
        self.target.tooltip = (
            "nuclei: compact objects of the source. cells: whole cells of the source (cytoplasm, "
            "membrane or brightfield), grown from the nuclei of the seed layer."
        )
        self.seeds = ComboBox(label="Seeds (nuclei)", choices=self._choices)
        self.seeds.tooltip = (
            "The nuclear stain whose nuclei seed the cells ((none): split by size)."
        )
        self._threshold = True
        self.target.changed.connect(self._on_target)
        self._on_target()

    @property
    def widgets(self) -> list:
        """The boxes, in the order the widget lists them."""
        return [self.target, self.seeds]

    def _choices(self, _widget=None) -> list[str]:
        names = [ly.name for ly in self.viewer.layers if layer_kind(ly) == "image"]
        return [NO_SEEDS, *names]

    def refresh(self) -> None:
        """Look at the image layers again (a layer was added or removed)."""
        self.seeds.reset_choices()

    def show(self, method: str) -> None:
        """Show the boxes for the threshold method only."""
        self._threshold = method == "threshold"
        self.target.visible = self._threshold
        self._on_target()

    def _on_target(self, _value=None) -> None:
        self.seeds.visible = self._threshold and self.target.value == "cells"

    def chosen(self, method: str) -> str:
        """The target the run uses: ``"cells"`` only for the threshold method."""
        return self.target.value if method == "threshold" else "nuclei"

    def inputs(self, source, planes: list[int], method: str) -> dict:
        """``{"seeds": (N, Y, X) planes}`` of the seed layer for a cells run, else ``{}``.

        Parameters
        ----------
        source : napari.layers.Image
            The cell layer.
        planes : list of int
            The planes of the source that are run.
        method : str

        Raises
        ------
        InputError
            The seed layer is gone, is the source itself or has another shape.
        """
        name = self.seeds.value
        if self.chosen(method) != "cells" or not name or name == NO_SEEDS:
            return {}
        if name not in self.viewer.layers:
            raise InputError(f"seed layer {name!r} is missing; choose the nuclear stain's layer")
        layer = self.viewer.layers[name]
        if layer.name == source.name:
            raise InputError(
                f"{name}: the seed layer is the cell layer; choose the nuclear stain's layer"
            )
        return {"seeds": seed_planes_like(layer, source, "cell layer")[planes]}
