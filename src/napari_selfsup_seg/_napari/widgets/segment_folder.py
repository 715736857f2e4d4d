"""Segment folder dock widget: run a trained model over a folder, with a table of results.

The core's ``segment_folder_iter`` runs in a thread worker and yields one record per image; each
becomes a table row (file, status, objects, seconds, reason). Double-click a row, or select it
and press "Open selected", to see the image and its labels in the viewer. When a run has finished,
"Open QC report" shows its ``report.html`` in the system's web browser.
"""

from __future__ import annotations

import webbrowser
from itertools import zip_longest
from pathlib import Path

import napari.viewer
from magicgui.widgets import CheckBox, ComboBox, FileEdit, Label, LineEdit, PushButton, Table

from ..._errors import InputError
from ._choices import FollowingPath, default_model, on_state_changed
from ._common import JobControls, chosen_path, folder_edit
from ._dock import DockContainer, fit_table
from ._workers import report_error, run_job

COLUMNS = ("file", "status", "objects", "seconds", "reason")
#: The "Input channel" choice that keeps the channel the model records.
AS_TRAINED = "model"
#: Channel indices offered for a one-channel model.
MAX_CHANNEL_CHOICE = 8


class SegmentFolderWidget(DockContainer):
    """Segment every image of a folder with a saved model.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        Injected by napari when the widget is opened from the Plugins menu.
    """

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self.viewer = viewer
        self.model_dir = folder_edit("Model folder")
        self.in_dir = folder_edit("Input folder")
        self.pattern = LineEdit(label="Pattern", value="")
        self.pattern.tooltip = (
            "Glob of the input files, e.g. *.czi; empty: every image file read (.tif, .tiff, "
            ".zarr, .nd2, .czi, .lif)"
        )
        self.out_dir = folder_edit("Output folder")
        self.channel_info = Label(value="")
        self.input_channel = ComboBox(label="Input channel", choices=[("as trained", AS_TRAINED)])
        self.input_channel.tooltip = (
            "Channel of each file fed to the model; 'as trained' finds the channel the model "
            "was trained on (by name when the files name their channels)"
        )
        self.overwrite = CheckBox(text="Redo images already done", value=False)
        self.device = ComboBox(label="Device", choices=["auto", "cpu", "cuda", "mps"])
        self.controls = JobControls("Segment folder")
        self.table = Table(value={c: [] for c in COLUMNS})
        self.table.native.setMinimumHeight(140)
        fit_table(self.table, stretch="reason")
        self.open_button = PushButton(text="Open selected result")
        self.report_button = PushButton(text="Open QC report", enabled=False)
        self.report_button.tooltip = "The run's report.html (thumbnails, outliers, failures)"
        super().__init__(
            [
                self.model_dir,
                self.in_dir,
                self.pattern,
                self.out_dir,
                self.channel_info,
                self.input_channel,
                self.overwrite,
                self.device,
                self.controls,
                self.table,
                self.open_button,
                self.report_button,
            ]
        )
        self.results: list = []
        self.summary: dict | None = None
        self.controls.run_button.changed.connect(self.run)
        self.model_dir.changed.connect(self._show_model_channels)
        self.in_dir.changed.connect(self._default_out_dir)
        self._model_path = FollowingPath(self.model_dir)
        self._out_path = FollowingPath(self.out_dir)
        viewer.layers.events.inserted.connect(self._default_model)
        on_state_changed(self, self._default_model)
        self._default_model()
        self.open_button.changed.connect(self.open_selected)
        self.report_button.changed.connect(self.open_report)
        self.table.native.cellDoubleClicked.connect(lambda row, _col: self.open_result(row))

    @staticmethod
    def _path(widget: FileEdit, what: str) -> Path:
        path = chosen_path(widget)
        if path is None:
            raise InputError(f"choose the {what}")
        return path

    def _default_model(self, _event=None) -> None:
        """Offer the model behind the newest prediction layer (e.g. the one just trained)."""
        self._model_path.offer(default_model(self.viewer))

    def _default_out_dir(self, _value=None) -> None:
        """Results go to ``<input folder>_segmented`` beside the input unless chosen."""
        text = self.in_dir.line_edit.value.strip()
        if text:
            self._out_path.offer(Path(text).with_name(f"{Path(text).name}_segmented"))

    def _show_model_channels(self, _value=None) -> None:
        """Say which channel the chosen model reads and offer the channels to choose from."""
        from ...models._channels import describe_channels, describe_seeds
        from ...models._factory import read_model_config

        choices: list = [("as trained", AS_TRAINED)]
        info = ""
        text = str(self.model_dir.value)
        if text not in ("", "."):
            try:
                cfg = read_model_config(text)
            except InputError as exc:
                info = str(exc)
            else:
                n_in = cfg.model.in_channels
                what = describe_channels(cfg)
                if what is not None:
                    info = f"Model reads {what} of each file"
                    pairs = zip_longest(cfg.input_channels or [], cfg.input_channel_names or [])
                    shown = "; ".join(", ".join(str(x) for x in p if x is not None) for p in pairs)
                    choices = [(f"as trained ({shown})", AS_TRAINED)]
                elif n_in == 1:
                    info = "Model reads single-channel files; choose a channel for others"
                else:
                    info = f"Model reads all {n_in} channels of each file"
                if n_in == 1:
                    choices += [(str(c), c) for c in range(MAX_CHANNEL_CHOICE)]
                seeds = describe_seeds(cfg)
                info += f"; {seeds}" if seeds else ""
        self.channel_info.value = info
        self.input_channel.choices = choices
        self.input_channel.value = AS_TRAINED

    def make_job(self):
        """Build the folder job from the widget's settings (raises InputError when incomplete)."""
        from ..._config import PredictConfig
        from ...batch._folder import segment_folder_iter
        from ...models._factory import read_model_config

        model_dir = self._path(self.model_dir, "model folder")
        in_dir = self._path(self.in_dir, "input folder")
        out_dir = self._path(self.out_dir, "output folder")
        read_model_config(model_dir)
        if not in_dir.is_dir():
            raise InputError(f"{in_dir}: input folder does not exist")
        channel = self.input_channel.value
        return segment_folder_iter(
            model_dir,
            in_dir,
            out_dir,
            pattern=self.pattern.value or None,
            overwrite=bool(self.overwrite.value),
            predict_config=PredictConfig(device=self.device.value),
            stop=self.controls.stop_event.is_set,
            input_channels=None if channel == AS_TRAINED else [int(channel)],
        )

    def run(self, inline: bool = False):
        """Start the folder run in a worker (or inline); returns the worker."""
        if self.controls.running:
            return None
        try:
            job = self.make_job()
        except InputError as exc:
            report_error(exc, "Segment folder")
            return None
        self.results = []
        self.summary = None
        self.report_button.enabled = False
        self.table.value = {c: [] for c in COLUMNS}
        self.controls.started()
        worker = run_job(
            job,
            on_yield=self._on_result,
            on_return=self._on_done,
            on_finish=self.controls.finished,
            inline=inline,
            what="Segment folder",
        )
        self.controls.worker = worker
        return worker

    def _on_result(self, record) -> None:
        self.controls.show_progress(record)
        if not getattr(record, "status", ""):
            return
        self.results.append(record)
        self.table.value = {
            "file": [Path(r.path).name for r in self.results],
            "status": [r.status for r in self.results],
            "objects": [r.n_objects for r in self.results],
            "seconds": [f"{r.seconds:.2f}" for r in self.results],
            "reason": [r.reason.replace(f"{r.path}: ", "") for r in self.results],
        }
        fit_table(self.table, stretch="reason")

    def _on_done(self, summary: dict) -> None:
        self.summary = summary
        n_failed = summary.get("n_failed", len(summary.get("failed", [])))
        self.controls.status.value = (
            f"{summary.get('done', 0)} done, {summary.get('skipped', 0)} skipped, "
            f"{n_failed} failed, {summary.get('n_objects', 0)} objects"
        )
        report = summary.get("report") or ""
        self.report_button.enabled = bool(report) and Path(report).is_file()

    def open_report(self) -> None:
        """Open the finished run's QC report in the system's web browser."""
        report = (self.summary or {}).get("report")
        if not report or not Path(report).is_file():
            report_error(InputError("no QC report yet: run the folder first"), "Segment folder")
            return
        webbrowser.open(Path(report).resolve().as_uri())

    def open_selected(self) -> None:
        """Open the result of the selected table row."""
        rows = sorted({i.row() for i in self.table.native.selectedIndexes()})
        if not rows:
            report_error(InputError("select a row of the table first"), "Segment folder")
            return
        self.open_result(rows[0])

    def open_result(self, row: int) -> list:
        """Open the input image of ``row`` and its label image in the viewer."""
        if not 0 <= row < len(self.results):
            return []
        record = self.results[row]
        if not record.output or not Path(record.output).exists():
            report_error(InputError(f"{Path(record.path).name}: no result ({record.reason})"))
            return []
        try:
            layers = self.viewer.open(record.path, plugin="napari-selfsup-seg")
            labels = self.viewer.open(
                record.output, plugin="napari-selfsup-seg", layer_type="labels"
            )
        except Exception as exc:
            report_error(exc.__cause__ or exc, "Open")
            return []
        return [*layers, *labels]
