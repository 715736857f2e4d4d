"""Pseudo-masks dock widget: threshold of a fluorescent layer, PSM, or Score-CAM from weak labels.

Every method produces a probability-like map per plane (cached here) and instance labels. The
threshold slider re-cuts the cached map of the displayed plane at once (live preview); the sweep
plot shows the label-free score of every cut with the automatic choice. Results are shown as an
Image layer ``"<source> <method> map"`` and a Labels layer ``"<source> pseudo (<method>)"``: each
method writes its own layers, so trying another method never replaces a result.

The source box follows the roles set in the Data widget (the fluorescent channel for the threshold
method) until the user picks a layer.
"""

from __future__ import annotations

import napari.viewer
import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    FloatSpinBox,
    Label,
    SpinBox,
    Widget,
)

from ..._errors import InputError
from ...data._diameter import sizes_for_diameter
from ...pseudo._edges import EDGE_FRACTION
from ...pseudo._marks import check_marks
from ...pseudo._methods import METHODS, PseudoMaskMethod, get_method
from ...pseudo._refine import REFINEMENTS
from ...pseudo._result import PseudoMaskResult
from ._bf_recipe import BrightfieldRecipe
from ._cell_target import CellTarget
from ._choices import FollowingChoice, default_image, on_state_changed
from ._common import JobControls
from ._cut_preview import CutPreview
from ._diameter_circle import DiameterCircle
from ._dock import DockContainer
from ._layers import ROLE_KEY, as_planes, chosen_planes, layer_kind, plane_axes
from ._pseudo_layers import put_result_layers
from ._scorecam_marks import WeakLabelTable, chance_line, classifier_note
from ._workers import report_error, run_job


class PseudoMasksWidget(DockContainer):
    """Make pseudo-masks without drawing anything.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        Injected by napari when the widget is opened from the Plugins menu.
    """

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self.viewer = viewer
        self.method = ComboBox(label="Method", choices=list(METHODS), value="threshold")
        self.source = ComboBox(label="Source", choices=self._image_names)
        self._source_choice = FollowingChoice(self.source, self._default_source)
        self.source_hint = Label(value="")
        self.cells = CellTarget(viewer)
        self.auto_method = ComboBox(label="Automatic cut", choices=["otsu", "li", "triangle"])
        self.sigma = FloatSpinBox(label="Smoothing σ", value=1.0, min=0.0, max=20.0, step=0.5)
        self.min_size = SpinBox(label="Min size (px)", value=16, min=0, max=100000)
        self.min_distance = SpinBox(label="Min distance (px)", value=4, min=1, max=200)
        self.circle = DiameterCircle(viewer)
        self.auto_sizes = CheckBox(text="σ and sizes from the object diameter", value=True)
        self.edge = FloatSpinBox(
            label="Own edges", value=EDGE_FRACTION, min=0.0, max=0.9, step=0.05
        )
        self.edge.tooltip = (
            "Each object's edge lies this fraction of the way from the background around it to "
            "its own peak, so bright, dim and small blurred objects keep their size; "
            "0: the edges of the one automatic cut"
        )
        self.psm_steps = SpinBox(label="PSM steps", value=200, min=1, max=100000)
        self.psm_modality = ComboBox(
            label="Modality", choices=["auto", "fluorescence", "brightfield"]
        )
        self.weak = WeakLabelTable(viewer, self._source_layer)
        self.cam_steps = SpinBox(label="Classifier steps", value=150, min=1, max=100000)
        self.cam_input = ComboBox(
            label="Classifier input (px)", choices=["auto", "64", "128", "256", "512"]
        )
        self.cam_input.tooltip = (
            "Frames or tiles are resized to this square size for the classifier and the maps; "
            "auto: the median side, at most 256. Smaller is much faster on a CPU "
            "(64 instead of 256: several times) but loses small things."
        )
        self.cam_refine = ComboBox(label="Map refinement", choices=list(REFINEMENTS), value="auto")
        self.cam_refine.tooltip = (
            "auto: objects or guided, whichever mask the classifier says takes the thing away; "
            "guided: the map snapped to the image's edges; objects: the mean map over each "
            "object of the image (sharper on separate debris, worse where it crosses cells)"
        )
        self.auto = CheckBox(text="Choose the cut automatically", value=True)
        self.controls = JobControls("Make pseudo-masks")
        self.cut = CutPreview(viewer, self._set_status)
        self.threshold, self.plot = self.cut.threshold, self.cut.plot
        self.recipe = BrightfieldRecipe(
            viewer, self._source_layer, lambda: self._config(get_method("threshold"))
        )
        self._method_widgets: dict[str, list[Widget]] = {
            "threshold": [self.auto_method, *self.circle.widgets, self.auto_sizes, self.sigma],
            "psm": [self.psm_steps, self.psm_modality],
            "scorecam": [self.weak, self.cam_steps, self.cam_input, self.cam_refine],
        }
        self._method_widgets["threshold"].append(self.edge)
        super().__init__(
            [
                self.method,
                self.source,
                self.source_hint,
                *self.cells.widgets,
                self.auto_method,
                *self.circle.widgets,
                self.auto_sizes,
                self.sigma,
                self.edge,
                self.psm_steps,
                self.psm_modality,
                self.weak,
                self.cam_steps,
                self.cam_input,
                self.cam_refine,
                self.min_size,
                self.min_distance,
                self.auto,
                self.controls,
                self.threshold,
                self.cut.plot_label,
            ]
        )
        self.add_native(self.plot)
        self.add_native(self.recipe.native)  # below the plot: a second job, its own Run/Stop
        self._method_widgets["threshold"].append(self.recipe)
        self.method.changed.connect(self._on_method)
        self.auto_sizes.changed.connect(self._on_sizes)
        self.controls.run_button.changed.connect(self.run)
        self.source.changed.connect(self._show_hint)
        self.source.changed.connect(self.recipe.refresh)
        viewer.layers.events.inserted.connect(self._refresh)
        viewer.layers.events.removed.connect(self._refresh)
        on_state_changed(self, self._refresh)
        self._refresh()
        self._on_method()

    def _set_status(self, text: str) -> None:
        self.controls.status.value = text

    # -- choices -----------------------------------------------------------------------------
    def _image_names(self, _widget=None) -> list[str]:
        return [ly.name for ly in self.viewer.layers if layer_kind(ly) == "image"]

    def _source_layer(self):
        name = self.source.value
        return self.viewer.layers[name] if name and name in self.viewer.layers else None

    def _default_source(self) -> str | None:
        return default_image(self.viewer, get_method(self.method.value).roles)

    def _refresh(self, _event=None) -> None:
        self._source_choice.refresh()
        self.cells.refresh()
        self.recipe.refresh()
        self._show_hint()

    def _show_hint(self, _value=None) -> None:
        layer = self._source_layer()
        self.circle.set_source(layer)
        role = layer.metadata.get(ROLE_KEY) if layer is not None else None
        if layer is None:
            self.source_hint.value = "Open an image (or set roles in Data)."
        elif self.cells.chosen(self.method.value) == "nuclei" and role == "brightfield":
            self.source_hint.value = (
                "Brightfield: a threshold rarely finds nuclei here;\n"
                "use the fluorescent (stained) channel."
            )
        else:
            self.source_hint.value = f"{layer.name}" + (f" ({role})" if role else "")

    def _on_method(self, _value=None) -> None:
        for method, widgets in self._method_widgets.items():
            for w in widgets:
                w.visible = method == self.method.value
        self.cells.show(self.method.value)
        self._on_sizes()
        self._refresh()

    def _on_sizes(self, _value=None) -> None:
        """Size boxes the threshold derives from the object diameter are greyed out."""
        derive = self.method.value == "threshold" and self.auto_sizes.value
        for w in (self.sigma, self.min_size, self.min_distance):
            w.enabled = not derive

    def _show_derived_sizes(self, diameter: float) -> None:
        """Show in the greyed size boxes the values derived from ``diameter`` (px)."""
        sizes = sizes_for_diameter(diameter)
        self.sigma.value = round(sizes.sigma, 1)
        self.min_size.value = sizes.min_size
        self.min_distance.value = sizes.min_distance
        for w in (self.sigma, self.min_size, self.min_distance):
            w.tooltip = f"Derived from the object diameter ≈ {diameter:.0f} px of the last run"

    # -- running -----------------------------------------------------------------------------
    def _config(self, method: PseudoMaskMethod):
        """The method's config from the controls (the cut is ``None`` when automatic)."""
        threshold = None if self.auto.value else float(self.threshold.value)
        cam_input = self.cam_input.value
        # Threshold: None sizes derive from each plane's estimated object diameter.
        derive = method.name == "threshold" and self.auto_sizes.value
        return method.make_config(
            threshold=threshold,
            min_size=None if derive else int(self.min_size.value),
            min_distance=None if derive else int(self.min_distance.value),
            **{
                "threshold": {
                    "method": self.auto_method.value,
                    "sigma": None if derive else float(self.sigma.value),
                    "diameter": self.circle.value(),
                    "target": self.cells.chosen(method.name),
                    "edge_fraction": float(self.edge.value),
                },
                "psm": {"steps": int(self.psm_steps.value), "modality": self.psm_modality.value},
                "scorecam": {
                    "steps": int(self.cam_steps.value),
                    "input_size": None if cam_input == "auto" else int(cam_input),
                    "refine": self.cam_refine.value,
                    "allow_chance": bool(self.weak.allow_chance.value),
                },
            }.get(method.name, {}),
        )

    def make_job(self):
        """Collect arrays and settings on the GUI thread and build the method's pipeline.

        Returns
        -------
        (generator, dict)
            The job (returns a :class:`PseudoMaskResult`) and the context to show it.

        Raises
        ------
        InputError
            No source layer, or settings that do not fit.
        """
        layer = self._source_layer()
        if layer is None:
            raise InputError("choose a source image layer first")
        if layer.data.ndim < 2 or layer.rgb:
            raise InputError(f"{layer.name}: needs a single-channel image layer")
        all_planes = as_planes(layer.data)
        idx = chosen_planes(layer)
        method = get_method(self.method.value)
        cfg = self._config(method)
        provenance = {**cfg.to_dict(), "method": method.name}
        if method.name == "threshold":
            provenance["auto_method"] = cfg.method
        planes, inputs = all_planes[idx], self.cells.inputs(layer, idx, method.name)
        if "seeds" in inputs:
            provenance["seed_layer"] = self.cells.seeds.value
        if method.weak_labels:
            marks = check_marks(len(all_planes), self.weak.marks)
            planes, inputs = all_planes, {"marks": marks, "frames": idx}
            provenance["marks"] = [list(m) for m in marks]
        stop = self.controls.stop_event.is_set
        job = method.run_iter(planes, cfg, stop=stop, sweeps=True, **inputs)
        context = {
            "source": layer.name,
            "planes": idx,
            "n_planes": len(all_planes),
            "stack_shape": layer.data.shape,
            "axes": plane_axes(layer),
            "provenance": provenance,
            "method": method.name,
        }
        return job, context

    def run(self, inline: bool = False):
        """Start the chosen method in a worker (or inline); results arrive as layers."""
        if self.controls.running:
            return None
        try:
            job, context = self.make_job()
        except InputError as exc:
            report_error(exc, "Pseudo-masks")
            return None
        self.controls.started()
        worker = run_job(
            job,
            on_yield=self.controls.show_progress,
            on_return=lambda result: self._show_result(result, context),
            on_error=self._show_error,
            on_finish=self.controls.finished,
            inline=inline,
            what="Pseudo-masks",
        )
        self.controls.worker = worker
        return worker

    def _show_error(self, exc: BaseException) -> None:
        """A classifier at chance is told in the status line (and a notification)."""
        line = chance_line(exc)
        if line is not None:
            self.controls.status.value = line
        report_error(exc if line is None else InputError(line), "Pseudo-masks")

    def _show_result(self, result: PseudoMaskResult, context) -> None:
        n = len(result)
        if n == 0:
            self.controls.status.value = "Stopped before any plane was done."
            return
        pseudo = put_result_layers(self.viewer, result, context)
        idx = context["planes"][:n]
        n_objects = int(sum(lab.max() for lab in result.labels))
        size = f" ≈ {float(np.median(result.diameters)):.0f} px across" if result.diameters else ""
        self.controls.status.value = (
            f"{n_objects} objects{size} in {n} plane(s): {pseudo.name!r}"
            + classifier_note(result.record)
        )
        if context["method"] == "threshold" and self.auto_sizes.value and result.diameters:
            self._show_derived_sizes(float(np.median(result.diameters)))
        self.cut.show(result, pseudo.name, idx)
        self.circle.show(context["source"], idx, result.diameters)

    def preview(self) -> int | None:
        """Re-cut the displayed plane at the slider's threshold (see :class:`CutPreview`)."""
        return self.cut.preview()
