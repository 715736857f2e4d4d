"""The Train widget's seed layer: a nuclear stain read as the network's second input channel.

Whole-cell masks made by the Pseudo-masks widget with a seed layer (target ``cells``) record it
in their provenance (``target``, ``seed_layer`` and the nuclei's ``seed_diameter``). Training on
such masks then reads the seed layer beside the image, and the model records that input as its
``seed_channel`` (with the nucleus diameter), so its predictions grow one cell per nucleus
instead of splitting the predicted interiors by their size
(:mod:`~napari_selfsup_seg.inference._seeded`). The box follows the masks' seed layer until the
user picks another layer or ``(none)``; a line under it says which layer seeds the cells.

The model records the input channels of the source file: when both layers come from one
multi-channel file, their channels there (``metadata["channel"]`` and ``"channel_name"``), so
that segmenting other files of that kind finds both; otherwise files segmented later hold the
cell channel first and the nuclear stain second.
"""

from __future__ import annotations

from typing import Any

import napari.viewer
from magicgui.widgets import ComboBox, Label

from ..._errors import InputError
from ._choices import FollowingChoice
from ._layers import CHANNEL_KEY, CHANNEL_NAME_KEY, as_planes, layer_kind, seed_planes_like

NO_SEEDS = "(none)"


def recorded_seeds(masks_layer) -> tuple[str | None, float | None]:
    """``(seed layer name, nucleus diameter)`` recorded by whole-cell pseudo-masks, else None."""
    if masks_layer is None:
        return None, None
    prov = masks_layer.metadata.get("provenance") or {}
    name = prov.get("seed_layer")
    if prov.get("target") != "cells" or not name:
        return None, None
    diameter = prov.get("seed_diameter")
    return str(name), None if diameter is None else float(diameter)


def input_channels(image_layer, seed_layer=None) -> dict[str, Any]:
    """``input_channels`` / ``input_channel_names`` of the source file(s) to record in the model.

    One entry per network input: the image layer's channel, then the seed layer's. Indices are
    recorded when every layer says which channel of one file it holds; names when every layer
    has one.
    """
    layers = [image_layer] if seed_layer is None else [image_layer, seed_layer]
    chans = [ly.metadata.get(CHANNEL_KEY) for ly in layers]
    names = [ly.metadata.get(CHANNEL_NAME_KEY) for ly in layers]
    one_file = len({str(ly.metadata.get("path")) for ly in layers}) == 1
    return {
        "input_channels": [int(c) for c in chans]
        if one_file and all(c is not None for c in chans)
        else None,
        "input_channel_names": [str(n) for n in names] if all(names) else None,
    }


class TrainSeeds:
    """The "Seeds (nuclei)" box and its line.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
    image, masks : magicgui.widgets.ComboBox
        The Train widget's image and masks boxes.
    """

    def __init__(self, viewer: napari.viewer.Viewer, image: ComboBox, masks: ComboBox) -> None:
        self.viewer, self.image, self.masks = viewer, image, masks
        self.seeds = ComboBox(label="Seeds (nuclei)", choices=self._choices)
        self.seeds.tooltip = (
            "Nuclear stain read as a second input: the model grows one cell per nucleus "
            "((none): one input, cells split by their size). Follows the masks' seed layer."
        )
        self.info = Label(value="")
        self._choice = FollowingChoice(self.seeds, self._default)
        self._masks_seen: str | None = None
        self.seeds.changed.connect(self._show)

    @property
    def widgets(self) -> list:
        """The box and its line, in the order the widget lists them."""
        return [self.seeds, self.info]

    def _layer(self, name):
        return self.viewer.layers[name] if name and name in self.viewer.layers else None

    def _choices(self, _widget=None) -> list[str]:
        names = [
            ly.name
            for ly in self.viewer.layers
            if layer_kind(ly) == "image" and ly.name != self.image.value
        ]
        return [NO_SEEDS, *names]

    def _default(self) -> str:
        name, _ = recorded_seeds(self._layer(self.masks.value))
        return name if name is not None and self._layer(name) is not None else NO_SEEDS

    def refresh(self) -> None:
        """Look at the layers again; another masks layer brings back its own seed layer."""
        if self.masks.value != self._masks_seen:
            self._masks_seen = self.masks.value
            self._choice.user_choice = None
        self._choice.refresh()
        self._show()

    def chosen(self):
        """The seed layer chosen (``None`` for ``(none)`` or a layer that is gone)."""
        value = self.seeds.value
        return None if value in (None, NO_SEEDS) else self._layer(value)

    def _show(self, _value=None) -> None:
        recorded, _ = recorded_seeds(self._layer(self.masks.value))
        layer = self.chosen()
        if layer is not None:
            text = f"Cells grow from the nuclei of {layer.name!r} (second input)"
        elif recorded is not None:
            missing = "" if self._layer(recorded) is not None else " (layer gone)"
            text = f"Masks seeded by {recorded!r}{missing}; no seeds: cells split by size"
        else:
            text = ""
        self.info.value = text
        self.info.visible = bool(text)

    def job_inputs(self, image_layer) -> tuple[dict[str, Any], dict[str, Any]]:
        """Keyword arguments of ``train_and_predict_iter`` and provenance for the seed layer.

        Returns
        -------
        (dict, dict)
            ``seeds``, ``seed_diameter``, ``input_channels`` and ``input_channel_names`` (only
            the last two without a seed layer); ``{"seed_layer": name}`` or ``{}``.

        Raises
        ------
        InputError
            The seed layer is the image or has another shape.
        """
        layer = self.chosen()
        if layer is None:
            return input_channels(image_layer), {}
        if layer.name == image_layer.name:
            raise InputError(f"{layer.name}: the seed layer is the image; choose the nuclei's")
        if tuple(layer.data.shape) != tuple(image_layer.data.shape):
            raise InputError(
                f"{layer.name}: seed layer shape {tuple(layer.data.shape)} differs from the "
                f"image {image_layer.name}: {tuple(image_layer.data.shape)}"
            )
        recorded, diameter = recorded_seeds(self._layer(self.masks.value))
        kwargs = {
            "seeds": as_planes(layer.data),
            "seed_diameter": diameter if recorded == layer.name else None,
            **input_channels(image_layer, layer),
        }
        return kwargs, {"seed_layer": layer.name}


def model_seed_planes(viewer, model_dir, image_layer):
    """``(N, Y, X)`` planes of the seed layer a model was trained with, for the review round.

    ``None`` for a model without a seed channel; its provenance names the layer
    (``seed_layer``).

    Raises
    ------
    InputError
        The model reads a seed layer that is not open, or of another shape than the image.
    """
    from ...models._factory import read_model_config

    cfg = read_model_config(model_dir)
    if cfg.seed_channel is None:
        return None
    name = cfg.provenance.get("seed_layer")
    layer = viewer.layers[name] if name and name in viewer.layers else None
    if layer is None or layer.name == image_layer.name:
        raise InputError(
            f"the model also reads the nuclear layer {name!r} (its seed channel): open it"
        )
    return seed_planes_like(layer, image_layer, "image")
