"""Widgets shared by the dock widgets: a Run/Stop row with a progress bar, folder boxes."""

from __future__ import annotations

import threading
from pathlib import Path

from magicgui.types import FileDialogMode
from magicgui.widgets import Container, FileEdit, Label, ProgressBar, PushButton

from ..._progress import Progress


class JobControls(Container):
    """Run and Stop buttons, a progress bar and a one-line status.

    ``stop_event`` is set by Stop; jobs receive ``stop_event.is_set`` as their ``stop`` callable
    and end within one step.
    """

    def __init__(self, run_text: str = "Run") -> None:
        self.run_button = PushButton(text=run_text)
        self.stop_button = PushButton(text="Stop", enabled=False)
        self.progress = ProgressBar(value=0, min=0, max=1000, label="")
        self.status = Label(value="")
        # A status line of changing length must not resize the dock (and the canvas with it).
        from qtpy.QtWidgets import QSizePolicy

        self.status.native.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        buttons = Container(widgets=[self.run_button, self.stop_button], layout="horizontal")
        buttons.margins = (0, 0, 0, 0)
        super().__init__(widgets=[buttons, self.progress, self.status])
        self.margins = (0, 0, 0, 0)
        self.stop_event = threading.Event()
        self.stop_button.changed.connect(self.stop)
        self.worker = None

    @property
    def running(self) -> bool:
        """True while a job runs."""
        return not self.run_button.enabled

    def started(self, worker=None) -> None:
        """Switch to the running state."""
        self.stop_event.clear()
        self.run_button.enabled = False
        self.stop_button.enabled = True
        self.progress.value = 0
        self.worker = worker

    def finished(self) -> None:
        """Back to the idle state."""
        self.run_button.enabled = True
        self.stop_button.enabled = False
        self.worker = None

    def stop(self) -> None:
        """Ask the running job to stop at its next step."""
        self.stop_event.set()
        self.status.value = "Stopping…"

    def show_progress(self, record: Progress) -> None:
        """Show a progress record."""
        self.progress.value = int(1000 * record.fraction)
        text = f"{record.stage}: {record.done}/{record.total}" if record.total else record.stage
        self.status.value = f"{text} {record.message}".strip()


def folder_edit(label: str) -> FileEdit:
    """An empty box for an existing folder, with a Choose button."""
    return FileEdit(label=label, mode=FileDialogMode.EXISTING_DIRECTORY)


def chosen_path(edit: FileEdit) -> Path | None:
    """The path in a folder box, or ``None`` when it is empty."""
    text = str(edit.value)
    return None if text in ("", ".") else Path(text)
