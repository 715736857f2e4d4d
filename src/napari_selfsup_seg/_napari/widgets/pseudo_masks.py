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

from collections.abc import Callable, Generator

import napari.viewer
import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    FloatSlider,
    FloatSpinBox,
    Label,
    SpinBox,
)
from qtpy.QtCore import QTimer

from ..._errors import InputError
from ..._progress import Progress
from ...pseudo._sweep import SweepResult, threshold_sweep
from ...pseudo._threshold import ThresholdConfig, mask_to_instances, threshold_pseudo_mask
from ._choices import METHOD_ROLES, FollowingChoice, default_image, on_state_changed
from ._common import JobControls
from ._dock import DockContainer
from ._layers import (
    EDITED_KEY,
    PLANES_KEY,
    ROLE_KEY,
    SOURCE_KEY,
    as_planes,
    chosen_planes,
    current_plane,
    layer_kind,
    plane_axes,
    put_image,
    put_labels,
)
from ._plot import PlotCanvas
from ._scorecam_marks import WeakLabelTable
from ._workers import report_error, run_job

METHODS = ("threshold", "psm", "scorecam")


def threshold_job(
    planes: np.ndarray, config: ThresholdConfig, stop: Callable[[], bool]
) -> Generator[Progress, None, tuple[list[np.ndarray], list[np.ndarray]]]:
    """Threshold pseudo-masks plane by plane (see :func:`threshold_pseudo_mask`)."""
    labels, probs = [], []
    for i, plane in enumerate(planes):
        if stop():
            break
        lab, prob = threshold_pseudo_mask(plane, config)
        labels.append(lab)
        probs.append(prob)
        yield Progress("threshold", i + 1, len(planes), f"plane {i + 1}")
    return labels, probs


Recut = Callable[[np.ndarray, np.ndarray, float], np.ndarray]


def recut_for(method: str, config, min_size: int, min_distance: int) -> Recut:
    """The method's own map-to-labels step at a given cut: ``recut(map, plane, t) -> labels``.

    PSM fills holes of brightfield objects before labelling; the others split the thresholded
    map with a distance-transform watershed.
    """
    if method == "psm":
        from ...pseudo._psm import psm_labels_from_map

        return lambda prob, plane, t: psm_labels_from_map(prob, plane, t, config)
    return lambda prob, _plane, t: mask_to_instances(prob >= t, min_size, min_distance)


def with_sweeps(
    inner: Generator, planes: np.ndarray, auto: bool, recut: Recut
) -> Generator[Progress, None, tuple[np.ndarray, np.ndarray, list[SweepResult | None]]]:
    """Run a pseudo-mask job, then sweep the cut of every map (and apply the best when ``auto``).

    ``recut`` (see :func:`recut_for`) turns a map cut at the best threshold into labels, so the
    result is the same as the method's own pipeline at that cut.

    Returns
    -------
    labels : numpy.ndarray of int32
        Shape ``(N, Y, X)`` (``N`` may be smaller than the input when stopped).
    probs : numpy.ndarray of float32
        Shape ``(N, Y, X)``.
    sweeps : list of SweepResult or None
        One per plane (``None`` where the map was constant).
    """
    labels, probs = yield from inner
    sweeps: list[SweepResult | None] = []
    labels = [np.asarray(lab, np.int32) for lab in labels]
    for i, prob in enumerate(probs):
        try:
            sweep = threshold_sweep(prob, planes[i], name=f"plane {i}")
        except InputError:
            sweep = None
        sweeps.append(sweep)
        if auto and sweep is not None:
            labels[i] = np.asarray(recut(prob, planes[i], sweep.best_threshold), np.int32)
        yield Progress("sweep", i + 1, len(probs), f"plane {i + 1}")
    if not probs:
        return np.zeros((0, *planes.shape[1:]), np.int32), np.zeros((0, *planes.shape[1:])), []
    return np.stack(labels), np.stack(probs).astype(np.float32), sweeps


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
        self.auto_method = ComboBox(label="Automatic cut", choices=["otsu", "li", "triangle"])
        self.sigma = FloatSpinBox(label="Smoothing σ", value=1.0, min=0.0, max=20.0, step=0.5)
        self.min_size = SpinBox(label="Min size (px)", value=16, min=0, max=100000)
        self.min_distance = SpinBox(label="Min distance (px)", value=4, min=1, max=200)
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
        self.auto = CheckBox(text="Choose the cut automatically (sweep)", value=True)
        self.threshold = FloatSlider(label="Threshold", value=0.5, min=0.05, max=0.95, step=0.01)
        self.plot = PlotCanvas("threshold", "variance explained", height=2.0)
        self.plot_label = Label(value="")
        self.controls = JobControls("Make pseudo-masks")
        self._method_widgets = {
            "threshold": [self.auto_method, self.sigma],
            "psm": [self.psm_steps, self.psm_modality],
            "scorecam": [self.weak, self.cam_steps, self.cam_input],
        }
        super().__init__(
            [
                self.method,
                self.source,
                self.source_hint,
                self.auto_method,
                self.sigma,
                self.psm_steps,
                self.psm_modality,
                self.weak,
                self.cam_steps,
                self.cam_input,
                self.min_size,
                self.min_distance,
                self.auto,
                self.controls,
                self.threshold,
                self.plot_label,
            ]
        )
        self.add_native(self.plot)
        self._cache: dict | None = None
        self._preview_timer = QTimer()
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(60)
        self._preview_timer.timeout.connect(self.preview)
        self._syncing = False
        self.method.changed.connect(self._on_method)
        self.threshold.changed.connect(self._on_slider)
        self.controls.run_button.changed.connect(self.run)
        self.source.changed.connect(self._show_hint)
        viewer.layers.events.inserted.connect(self._refresh)
        viewer.layers.events.removed.connect(self._refresh)
        on_state_changed(self, self._refresh)
        viewer.dims.events.current_step.connect(self._on_plane_changed)
        self._refresh()
        self._on_method()

    # -- choices -----------------------------------------------------------------------------
    def _image_names(self, _widget=None) -> list[str]:
        return [ly.name for ly in self.viewer.layers if layer_kind(ly) == "image"]

    def _source_layer(self):
        name = self.source.value
        return self.viewer.layers[name] if name and name in self.viewer.layers else None

    def _default_source(self) -> str | None:
        return default_image(self.viewer, METHOD_ROLES[self.method.value])

    def _refresh(self, _event=None) -> None:
        self._source_choice.refresh()
        self._show_hint()

    def _show_hint(self, _value=None) -> None:
        layer = self._source_layer()
        role = layer.metadata.get(ROLE_KEY) if layer is not None else None
        if layer is None:
            self.source_hint.value = "Open an image (or set roles in Data)."
        elif self.method.value == "threshold" and role == "brightfield":
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
        self._refresh()

    # -- running -----------------------------------------------------------------------------
    def make_job(self):
        """Collect arrays and settings on the GUI thread and build the job generator.

        Returns
        -------
        (generator, dict)
            The job and the context needed to show its result.

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
        planes = all_planes[idx]
        stop = self.controls.stop_event.is_set
        method = self.method.value
        if method == "threshold":
            cfg = ThresholdConfig(
                method=self.auto_method.value,
                sigma=float(self.sigma.value),
                threshold=float(self.threshold.value),
                min_size=int(self.min_size.value),
                min_distance=int(self.min_distance.value),
            )
            inner = threshold_job(planes, cfg, stop)
            provenance = {**cfg.__dict__, "auto_method": cfg.method, "method": "threshold"}
        elif method == "psm":
            from ...pseudo._psm import PSMConfig, psm_pseudo_mask_iter

            cfg = PSMConfig(
                steps=int(self.psm_steps.value),
                modality=self.psm_modality.value,
                min_size=int(self.min_size.value),
                min_distance=int(self.min_distance.value),
                threshold=None if self.auto.value else float(self.threshold.value),
            )
            inner = _unzip(psm_pseudo_mask_iter(list(planes), cfg, stop=stop))
            provenance = {"method": "psm", **cfg.__dict__}
        else:
            from ...pseudo._scorecam import ScoreCAMConfig

            cfg = ScoreCAMConfig(
                steps=int(self.cam_steps.value),
                input_size=None if self.cam_input.value == "auto" else int(self.cam_input.value),
                min_size=int(self.min_size.value),
                min_distance=int(self.min_distance.value),
                threshold=None if self.auto.value else float(self.threshold.value),
            )
            inner, provenance = self.weak.make_job(all_planes, idx, cfg, stop)
        recut = recut_for(method, cfg, int(self.min_size.value), int(self.min_distance.value))
        job = with_sweeps(inner, planes, bool(self.auto.value), recut)
        context = {
            "source": layer.name,
            "planes": idx,
            "n_planes": len(all_planes),
            "stack_shape": layer.data.shape,
            "axes": plane_axes(layer),
            "image": planes,
            "provenance": provenance,
            "method": method,
            "recut": recut,
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
            on_finish=self.controls.finished,
            inline=inline,
            what="Pseudo-masks",
        )
        self.controls.worker = worker
        return worker

    def _show_result(self, result, context) -> None:
        labels, probs, sweeps = result
        n = len(labels)
        if n == 0:
            self.controls.status.value = "Stopped before any plane was done."
            return
        idx = context["planes"][:n]
        full_shape = context["stack_shape"]
        lab_full = np.zeros((context["n_planes"], *labels.shape[1:]), np.int32)
        prob_full = np.zeros((context["n_planes"], *labels.shape[1:]), np.float32)
        lab_full[idx] = labels
        prob_full[idx] = probs
        lab_full = lab_full.reshape(full_shape)
        prob_full = prob_full.reshape(full_shape)
        src = (
            self.viewer.layers[context["source"]]
            if context["source"] in self.viewer.layers
            else None
        )
        meta = {
            "axes": context["axes"],
            SOURCE_KEY: context["source"],
            PLANES_KEY: list(idx),
            "provenance": context["provenance"],
            "path": src.metadata.get("path") if src is not None else None,
        }
        method = context["method"]
        put_image(
            self.viewer,
            f"{context['source']} {method} map",
            prob_full,
            like=src,
            colormap="magma",
            blending="additive",
            opacity=0.5,
            visible=False,
            metadata=dict(meta),
        )
        pseudo = put_labels(
            self.viewer,
            f"{context['source']} pseudo ({method})",
            lab_full,
            like=src,
            metadata=dict(meta),
        )
        thresholds = {}
        for k, sweep in zip(idx, sweeps):
            thresholds[k] = (
                sweep.best_threshold
                if self.auto.value and sweep is not None
                else self.threshold.value
            )
        self._cache = {
            "layer": pseudo.name,
            "probs": dict(zip(idx, probs)),
            "sweeps": dict(zip(idx, sweeps)),
            "thresholds": thresholds,
            "planes": dict(zip(idx, context["image"])),
            "recut": context["recut"],
        }
        self.controls.status.value = (
            f"{n} plane(s): {int(sum(lab.max() for lab in labels))} objects in {pseudo.name!r}"
        )
        self._on_plane_changed()

    # -- live preview ------------------------------------------------------------------------
    def _cache_plane(self) -> int | None:
        if self._cache is None or self._cache["layer"] not in self.viewer.layers:
            return None
        layer = self.viewer.layers[self._cache["layer"]]
        k = current_plane(self.viewer, layer)
        return k if k in self._cache["probs"] else None

    def _on_plane_changed(self, _event=None) -> None:
        k = self._cache_plane()
        if k is None:
            return
        t = float(self._cache["thresholds"][k])
        self._syncing = True
        try:
            self.threshold.value = round(min(max(t, 0.05), 0.95), 2)
        finally:
            self._syncing = False
        sweep = self._cache["sweeps"][k]
        if sweep is not None:
            self.plot.plot_lines(
                {"score": (sweep.thresholds, sweep.scores)}, marker_x=self.threshold.value
            )
            self.plot_label.value = (
                f"Plane {k}: best cut {sweep.best_threshold:.2f} (score {sweep.best_score:.3f})"
            )

    def _on_slider(self, _value=None) -> None:
        if not self._syncing:
            self._preview_timer.start()

    def preview(self) -> int | None:
        """Re-cut the cached map of the displayed plane at the slider's threshold.

        Returns
        -------
        int or None
            Number of objects in the new mask (``None`` when there is nothing to preview).
        """
        k = self._cache_plane()
        if k is None:
            return None
        layer = self.viewer.layers[self._cache["layer"]]
        if layer.metadata.get(EDITED_KEY):
            self.controls.status.value = (
                "The pseudo-mask layer was edited; run again for a new one."
            )
            return None
        t = float(self.threshold.value)
        self._cache["thresholds"][k] = t
        lab = self._cache["recut"](self._cache["probs"][k], self._cache["planes"][k], t)
        if layer.data.ndim > 2:
            prefix = np.unravel_index(k, layer.data.shape[:-2])
            layer.data[tuple(int(i) for i in prefix)] = lab
        else:
            layer.data[...] = lab
        layer.refresh()
        sweep = self._cache["sweeps"][k]
        if sweep is not None:
            self.plot.plot_lines({"score": (sweep.thresholds, sweep.scores)}, marker_x=t)
        return int(lab.max())


def _unzip(gen: Generator) -> Generator[Progress, None, tuple[list, list]]:
    """Turn a job returning ``[(labels, map), ...]`` into one returning ``(labels, maps)``."""
    pairs = yield from gen
    return [p[0] for p in pairs], [p[1] for p in pairs]
