"""The Pseudo-masks widget's fluorescence-to-brightfield section: one button trains a model.

The widget's Source box names the nuclear stain; the Brightfield box follows the roles set in the
Data widget. "Train brightfield model" copies the planes of both layers on the GUI thread and runs
:func:`~napari_selfsup_seg.workflows._recipe_job.brightfield_from_stain_iter` in a thread worker:
the threshold settings of the widget cut the stain, those pseudo-masks train a U-Net on the
brightfield, the model is saved, then it predicts every brightfield plane. The Train widget's
:class:`._train_live.LiveTraining` shows progress, the loss and the prediction
(``"<brightfield> prediction"``, whose ``metadata["model"]`` is the saved folder, so Segment
folder offers it and Train can start from it); the pseudo-masks become the Labels layer
``"<source> pseudo (brightfield recipe)"``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import napari.viewer
import numpy as np
from magicgui.widgets import ComboBox, Container, Label, SpinBox

from ..._config import TrainConfig
from ..._errors import InputError
from ...io._workspace import next_free_dir, project_dir
from ...pseudo._threshold import ThresholdConfig
from ...workflows._recipe_job import BrightfieldRecipeResult, brightfield_from_stain_iter
from ._choices import FollowingChoice, default_image
from ._common import JobControls
from ._layers import (
    CHANNEL_KEY,
    PLANES_KEY,
    SOURCE_KEY,
    as_planes,
    chosen_planes,
    current_plane,
    layer_kind,
    plane_axes,
    put_labels,
)
from ._train_live import LiveTraining, TrainTarget
from ._workers import error_line, report_error, run_job

#: What the pseudo-masks layer of a run is called after, ``"<source> pseudo (<this>)"``.
RECIPE_NAME = "brightfield recipe"


def channel_pair(fluorescence: Any, brightfield: Any) -> tuple[int, int]:
    """Channel indices for the stain and the brightfield, their file's when the layers say so.

    Parameters
    ----------
    fluorescence, brightfield : int or None
        ``metadata["channel"]`` of the two layers.

    Returns
    -------
    (int, int)
        Two different indices (``(1, 0)`` when neither is known, as in the generated samples).
    """
    fl = fluorescence if isinstance(fluorescence, int) and fluorescence >= 0 else None
    bf = brightfield if isinstance(brightfield, int) and brightfield >= 0 else None
    if fl is not None and bf is not None and fl != bf:
        return fl, bf
    if bf is not None:
        return int(bf == 0), bf
    if fl is not None:
        return fl, int(fl == 0)
    return 1, 0


class BrightfieldRecipe(Container):
    """Brightfield box, step count and a Run/Stop row that train a brightfield model.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
    source : callable
        Returns the stain layer chosen in the widget's Source box (or ``None``).
    threshold_config : callable
        Returns the threshold settings of the widget (raises InputError when invalid).
    """

    def __init__(
        self,
        viewer: napari.viewer.Viewer,
        source: Callable[[], Any],
        threshold_config: Callable[[], ThresholdConfig],
    ) -> None:
        self.viewer = viewer
        self._source, self._threshold_config = source, threshold_config
        self.title = Label(value="Brightfield model from this stain (Fishman et al. 2021)")
        self.brightfield = ComboBox(label="Brightfield", choices=self._names, nullable=True)
        self._choice = FollowingChoice(self.brightfield, self._default, nullable=True)
        self.steps = SpinBox(
            label="Training steps", value=TrainConfig().steps, min=1, max=1_000_000
        )
        self.controls = JobControls("Train brightfield model")
        self.controls.run_button.tooltip = (
            "Threshold the stain (settings above), train a U-Net on the brightfield with those "
            "masks, save it next to the data and segment every brightfield plane"
        )
        self.live = LiveTraining(viewer, self.controls)
        self.summary = Label(value="")
        super().__init__(
            widgets=[self.title, self.brightfield, self.steps, self.controls, self.summary]
        )
        self.margins = (0, 0, 0, 0)
        self.native.layout().addWidget(self.live.loss_plot)
        self.controls.run_button.changed.connect(self.start)

    @property
    def model(self):
        """The brightfield model of the last finished run (``LoadedModel``), or ``None``."""
        return self.live.model

    def _names(self, _widget=None) -> list[str]:
        return [ly.name for ly in self.viewer.layers if layer_kind(ly) == "image"]

    def _default(self) -> str | None:
        """The brightfield-role layer, else another plain image than the stain."""
        source = self._source()
        src = source.name if source is not None else None
        name = default_image(self.viewer, ("brightfield",))
        if name != src:
            return name
        others = [
            ly.name
            for ly in self.viewer.layers
            if layer_kind(ly) == "image" and ly.name != src and SOURCE_KEY not in ly.metadata
        ]
        return others[0] if others else None

    def refresh(self) -> None:
        """Look at the layers (and the default brightfield) again."""
        self._choice.refresh()

    def make_job(self):
        """Copy both layers' planes and build the job (raises InputError on bad input)."""
        src = self._source()
        name = self.brightfield.value
        if src is None:
            raise InputError("choose the stained (fluorescent) layer in Source")
        if name is None or name not in self.viewer.layers:
            raise InputError("no brightfield layer: open one (or set its role in Data)")
        bf = self.viewer.layers[name]
        if bf.name == src.name:
            raise InputError(f"{name} is both Source and Brightfield: pick the stain in Source")
        for layer in (src, bf):
            if layer.data.ndim < 2 or layer.rgb:
                raise InputError(f"{layer.name}: needs a single-channel image layer")
        if tuple(src.data.shape) != tuple(bf.data.shape):
            raise InputError(
                f"{bf.name} {tuple(bf.data.shape)} and {src.name} {tuple(src.data.shape)} "
                "differ in shape: they must show the same fields"
            )
        tc = TrainConfig(steps=int(self.steps.value))
        tcfg = ThresholdConfig.from_dict({**self._threshold_config().to_dict(), "target": "nuclei"})
        frames = chosen_planes(src)
        save_dir = next_free_dir(project_dir(bf.metadata.get("path"), bf.name), "model")
        job = brightfield_from_stain_iter(
            as_planes(src.data),
            as_planes(bf.data),
            tcfg,
            tc,
            channels=channel_pair(src.metadata.get(CHANNEL_KEY), bf.metadata.get(CHANNEL_KEY)),
            frames=frames,
            save_dir=save_dir,
            provenance={"stain_layer": src.name, "brightfield_layer": bf.name},
            stop=self.controls.stop_event.is_set,
        )
        target = TrainTarget(
            bf.name, tuple(bf.data.shape), current_plane(self.viewer, bf), plane_axes(bf)
        )
        context = {
            "source": src.name,
            "frames": frames,
            "provenance": {
                **tcfg.to_dict(),
                "method": "fluorescence_to_brightfield",
                "auto_method": tcfg.method,
                "brightfield": bf.name,
            },
        }
        return job, target, context

    def start(self, inline: bool = False):
        """Start the recipe in a worker (or inline); returns the worker."""
        if self.controls.running:
            return None
        try:
            job, target, context = self.make_job()
        except InputError as exc:
            self.controls.status.value = error_line(exc)
            report_error(exc, "Brightfield model")
            return None
        self.live.begin(target)
        self.summary.value = ""
        self.controls.started()
        self.controls.worker = run_job(
            job,
            on_yield=self.live.on_record,
            on_return=lambda result: self._show_result(result, target, context),
            on_error=self._show_error,
            on_finish=self.controls.finished,
            inline=inline,
            what="Brightfield model",
        )
        return self.controls.worker

    def _show_error(self, exc: BaseException) -> None:
        stopped = self.controls.stop_event.is_set()
        self.live.on_error(exc)
        self.controls.status.value = (
            "Stopped before a model was trained." if stopped else error_line(exc)
        )

    def _show_result(self, result: BrightfieldRecipeResult, target: TrainTarget, context) -> None:
        """The pseudo-masks layer, then the prediction and the model (shown by LiveTraining)."""
        layers = self.viewer.layers
        src = layers[context["source"]] if context["source"] in layers else None
        put_labels(
            self.viewer,
            f"{context['source']} pseudo ({RECIPE_NAME})",
            np.asarray(result.pseudo_masks).reshape(target.shape),
            like=src,
            metadata={
                "axes": target.axes,
                SOURCE_KEY: context["source"],
                PLANES_KEY: list(context["frames"]),
                "provenance": context["provenance"],
                "path": src.metadata.get("path") if src is not None else None,
            },
        )
        self.live.on_done(result)
        n_pseudo = int(sum(p.max() for p in np.asarray(result.pseudo_masks)))
        n_pred = int(sum(p.max() for p in result.labels))
        self.summary.value = f"{n_pseudo} nuclei in the stain → {n_pred} found on brightfield"
