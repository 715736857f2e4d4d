"""Default choices of the widgets' layer and folder boxes, from the roles set in the Data widget.

A box follows its default until the user picks a layer (or types a path) in it, then keeps that
pick while the layer exists. Defaults never fall on a layer that looks like ground truth
("true labels", "GT", ...) or on a derived map, and they are looked at again when layers come and
go, roles change or a model is saved.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from psygnal import Signal

from ._layers import EDITED_KEY, ROLE_KEY, SOURCE_KEY, layer_kind

#: Metadata flag that marks a layer as ground truth, whatever its name.
TRUTH_KEY = "ground_truth"
_TRUTH = re.compile(
    r"(?<![a-z0-9])(true|truth|gt|ground[ _-]?truth|annotations?|annotated|manual|gold)"
    r"(?![a-z0-9])",
    re.IGNORECASE,
)
#: Which roles suit each pseudo-mask method, best first.
METHOD_ROLES = {
    "threshold": ("fluorescent",),
    "psm": ("fluorescent", "brightfield"),
    "scorecam": ("fluorescent", "brightfield"),
}


class _StateEvents:
    """Emitted when the Data widget sets roles or the Train widget saves a model.

    Both change layer metadata, which has no event of its own; the other widgets then look at
    their defaults again.
    """

    changed = Signal()


STATE_EVENTS = _StateEvents()


def on_state_changed(widget, callback: Callable[[], object]) -> None:
    """Call ``callback`` on :data:`STATE_EVENTS`, for as long as ``widget``'s Qt widget exists."""

    def call() -> None:
        try:
            callback()
        except RuntimeError:  # the Qt side was deleted before Python let go of it
            STATE_EVENTS.changed.disconnect(call, missing_ok=True)

    STATE_EVENTS.changed.connect(call)
    widget.native.destroyed.connect(
        lambda *_: STATE_EVENTS.changed.disconnect(call, missing_ok=True)
    )


def looks_like_truth(layer) -> bool:
    """True for a layer flagged as ground truth or named like it."""
    return bool(layer.metadata.get(TRUTH_KEY)) or bool(_TRUTH.search(layer.name))


def is_prediction(layer) -> bool:
    """True for a Labels layer written by the Train widget."""
    return "preview_step" in layer.metadata or "model" in layer.metadata


def is_pseudo(layer) -> bool:
    """True for a Labels layer made by the Pseudo-masks widget."""
    return "provenance" in layer.metadata and not is_prediction(layer)


def is_corrected(layer) -> bool:
    """True for a Labels layer the user painted on or reviewed frames of."""
    return bool(layer.metadata.get(EDITED_KEY)) or bool(layer.metadata.get("reviewed"))


def default_image(viewer, roles: tuple[str, ...]) -> str | None:
    """The first image layer with one of ``roles`` (in that order), else the first plain image."""
    images = [ly for ly in viewer.layers if layer_kind(ly) == "image"]
    for role in roles:
        for layer in images:
            if layer.metadata.get(ROLE_KEY) == role:
                return layer.name
    plain = [ly for ly in images if SOURCE_KEY not in ly.metadata]
    return plain[0].name if plain else None


def default_model(viewer) -> str | None:
    """Folder of the model behind the newest prediction layer, if it still exists."""
    for layer in reversed(viewer.layers):
        path = layer.metadata.get("model")
        if path and (Path(path) / "config.json").exists():
            return str(path)
    return None


def default_review_image(viewer, labels_layer) -> str | None:
    """The image a review round of ``labels_layer`` reads (the one its model was trained on).

    That of the newest ``"<image> prediction"`` layer of the labels' shape, else the image the
    labels were made from (``metadata["source"]``).
    """
    shape = tuple(labels_layer.data.shape) if labels_layer is not None else None
    images = {ly.name: ly for ly in viewer.layers if layer_kind(ly) == "image"}
    for layer in reversed(viewer.layers):
        name = layer.name.removesuffix(" prediction")
        if layer.name.endswith(" prediction") and name in images:
            if shape is None or tuple(images[name].data.shape) == shape:
                return name
    source = labels_layer.metadata.get(SOURCE_KEY) if labels_layer is not None else None
    return source if source in images else None


def default_map(viewer, labels_layer) -> str | None:
    """The ``"<source> <method> map"`` layer the Pseudo-masks widget made beside the labels."""
    if labels_layer is None or " pseudo (" not in labels_layer.name:
        return None
    source, method = labels_layer.name.rsplit(" pseudo (", 1)
    name = f"{source} {method.split(')')[0]} map"
    return name if name in viewer.layers else None


def default_masks(viewer, shape: tuple[int, ...] | None = None) -> str | None:
    """The Labels layer to correct or train on: corrected first, then the newest pseudo-masks.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
    shape : tuple of int, optional
        Only layers of this data shape (the training image's) qualify.
    """
    candidates = [
        ly
        for ly in reversed(viewer.layers)
        if layer_kind(ly) == "labels"
        and not looks_like_truth(ly)
        and not is_prediction(ly)
        and (shape is None or tuple(ly.data.shape) == tuple(shape))
    ]
    for rank in (is_corrected, is_pseudo, lambda _ly: True):
        for layer in candidates:
            if rank(layer):
                return layer.name
    return None


class FollowingChoice:
    """Keep a magicgui ComboBox on a default until the user picks a value in it.

    Parameters
    ----------
    combo : magicgui.widgets.ComboBox
        Its choices are a callable (re-read by ``reset_choices``).
    default : callable
        Returns the default value (or ``None``).
    nullable : bool
        The box was made with ``nullable=True``: with no default it shows nothing chosen.
    """

    def __init__(self, combo, default: Callable[[], str | None], nullable: bool = False) -> None:
        self.combo = combo
        self.nullable = nullable
        self.default = default
        self.user_choice: str | None = None
        self._setting = False
        combo.changed.connect(self._on_changed)

    def _on_changed(self, value) -> None:
        if not self._setting:
            self.user_choice = value

    def refresh(self) -> None:
        """Re-read the choices; keep the user's pick if it still exists, else the default."""
        self._setting = True
        try:
            self.combo.reset_choices()
            choices = list(self.combo.choices)
            value: str | None
            if self.user_choice is not None and self.user_choice in choices:
                value = self.user_choice
            else:
                self.user_choice = None
                value = self.default()
            if value in choices:
                self.combo.value = value
            elif value is None and self.nullable:
                self.combo.value = None
        finally:
            self._setting = False


class FollowingPath:
    """Keep a magicgui FileEdit on a default path until the user types or picks another one.

    The box follows its default while it is empty or still shows the last default put there.

    Parameters
    ----------
    edit : magicgui.widgets.FileEdit
    """

    def __init__(self, edit) -> None:
        self.edit = edit
        self.default: Path | None = None

    def text(self) -> str:
        """The text in the box as typed (``""`` when the user cleared it)."""
        return str(self.edit.line_edit.value).strip()

    def follows(self) -> bool:
        """True when the box is empty or still shows the default."""
        text = self.text()
        return not text or (self.default is not None and Path(text) == self.default)

    def offer(self, path: str | Path | None) -> bool:
        """Show ``path`` as the new default, unless the user chose another path.

        Returns
        -------
        bool
            Whether the box now shows ``path``.
        """
        if path is None or not self.follows():
            return False
        self.default = Path(path)
        self.edit.value = self.default
        return True
