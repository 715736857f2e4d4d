"""Make the tutorial's screenshots: a real napari window running the whole loop on sample data.

Run under a 1000-px-high display::

    xvfb-run -a -s "-screen 0 1600x1000x24" python scripts/make_screenshots.py

Images are written to ``docs/images/``. Everything is done the way a user does it: sample data
from File → Open Sample, every widget from Plugins → Self-supervised segmentation, buttons
clicked, an object deleted by clicking it on the canvas, and the widgets' own defaults kept
wherever a user would keep them. Work folders go to a temporary per-user workspace
(``$NAPARI_SELFSUP_SEG_HOME``), so nothing is left in the user's home folder.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from napari_selfsup_seg._napari.widgets._menu import open_from_menu

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = "napari-selfsup-seg"
WINDOW = (1500, 980)
RIGHT_WIDTH, LEFT_WIDTH = 470, 300
STEPS = ("data", "pseudo", "correct", "train", "folder", "psm", "scorecam")
PARTS = ("loop", "recipe", "psm", "scorecam")


# -- what a user does ------------------------------------------------------------------------
def dock_of(widget):
    """The QDockWidget that holds a docked magicgui widget."""
    from qtpy.QtWidgets import QDockWidget

    parent = widget.native
    while parent is not None and not isinstance(parent, QDockWidget):
        parent = parent.parent()
    return parent


def arrange(viewer, widget, first=None) -> None:
    """One tab per widget, the new one in front, and a right dock area wide enough to read.

    The docks tab themselves when opened one after the other; tabbing here again keeps the order
    independent of event timing. The right dock area is widened so paths and tables read.
    """
    import napari
    from qtpy.QtCore import Qt

    window = viewer.window._qt_window
    dock = dock_of(widget)
    if first is not None and first is not widget:
        window.tabifyDockWidget(dock_of(first), dock)
    napari.qt.get_qapp().processEvents()
    dock.raise_()
    left = viewer.window._qt_viewer.dockLayerList
    window.resizeDocks([dock, left], [RIGHT_WIDTH, LEFT_WIDTH], Qt.Orientation.Horizontal)
    napari.qt.get_qapp().processEvents()
    viewer.reset_view()  # fit the image to the canvas that is left


def click(button) -> None:
    """Click a magicgui PushButton (or CheckBox) as a user does."""
    button.native.click()


def wait(app, condition, timeout: float = 1800.0) -> None:
    """Run the Qt event loop until ``condition()`` is true."""
    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        app.processEvents()
        if condition():
            return
        time.sleep(0.01)
    raise TimeoutError("step did not finish in time")


def settle(app, seconds: float = 0.5) -> None:
    """Let the window repaint."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.01)


def run_and_wait(app, widget) -> None:
    """Click the widget's Run button and wait until its job has finished."""
    click(widget.controls.run_button)
    wait(app, lambda: not widget.controls.running)
    settle(app, 0.5)


def click_canvas_at(viewer, app, yx) -> None:
    """Centre the view on data point ``yx`` and click the canvas there (pan/zoom mode)."""
    from qtpy.QtCore import QPoint, Qt
    from qtpy.QtTest import QTest

    viewer.scene.camera.center = tuple(float(v) for v in yx)
    settle(app, 0.3)
    canvas = viewer.window._qt_viewer.canvas.native
    centre = QPoint(canvas.width() // 2, canvas.height() // 2)
    QTest.mouseClick(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, centre)
    settle(app, 0.3)


def only_visible(viewer, names) -> None:
    """Show the named layers and hide the others."""
    for layer in viewer.layers:
        layer.visible = layer.name in names


def worst_object(labels, truth) -> int:
    """The object of ``labels`` that matches ``truth`` worst (lowest best IoU): one to fix."""
    import numpy as np

    worst, worst_iou = 0, 2.0
    h, w = labels.shape
    for value in np.unique(labels[labels > 0]):
        mask = labels == value
        ys, xs = np.nonzero(mask)
        if min(ys.mean(), xs.mean(), h - ys.mean(), w - xs.mean()) < 48:
            continue  # one in the middle of the field, where the screenshot shows it
        ids, counts = np.unique(truth[mask], return_counts=True)
        iou = max(
            (c / (mask.sum() + (truth == i).sum() - c) for i, c in zip(ids, counts) if i),
            default=0.0,
        )
        if iou < worst_iou:
            worst, worst_iou = int(value), iou
    return worst


def open_window():
    """A shown napari viewer of the screenshots' size, and the Qt application."""
    import napari

    viewer = napari.Viewer(show=True, title="napari-selfsup-seg")
    app = napari.qt.get_qapp()
    viewer.window._qt_window.resize(*WINDOW)
    settle(app)
    return viewer, app


def shooter(viewer, app, out: Path):
    """A function that writes the whole window to ``out/<name>.png``, notifications closed."""
    window = viewer.window._qt_window

    def shot(name: str) -> None:
        from napari._qt.dialogs.qt_notification import NapariQtNotification

        for toast in window.findChildren(NapariQtNotification):
            toast.close()
        settle(app, 0.8)
        path = out / f"{name}.png"
        viewer.screenshot(str(path), canvas_only=False)
        print(f"wrote {path} ({window.width()}x{window.height()})", flush=True)

    return shot


# -- the loop --------------------------------------------------------------------------------
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "images"))
    parser.add_argument("--steps", type=int, default=150, help="training steps")
    parser.add_argument("--until", choices=STEPS, default=STEPS[-1], help="last step to run")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=PARTS,
        default=list(PARTS),
        help="parts to run: the loop (steps 1-5), the brightfield recipe, PSM, Score-CAM",
    )
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="selfsup_tutorial_"))
    os.environ["NAPARI_SELFSUP_SEG_HOME"] = str(work / "napari-selfsup-seg")
    last = STEPS.index(args.until)

    viewer, app = open_window()
    shot = shooter(viewer, app, out)

    if "loop" in args.only:
        loop(viewer, app, shot, work, args.steps, last)
    if "recipe" in args.only:
        recipe(viewer, app, shot, args.steps)
    if "psm" in args.only:
        psm(viewer, app, shot)
    if "scorecam" in args.only:
        scorecam(viewer, app, shot)
    viewer.close()
    return 0


def loop(viewer, app, shot, work: Path, steps: int, last: int) -> None:
    """Steps 1-5 of the tutorial on the sample stack."""
    import numpy as np

    from napari_selfsup_seg.data._synthetic import make_sample
    from napari_selfsup_seg.io._tiff_write import write_image

    # 1. Data: File → Open Sample → stack; the sample's layers come with their roles.
    viewer.open_sample(PLUGIN, "stack")
    data = open_from_menu(viewer, "1. Data")
    arrange(viewer, data)
    click(data.apply_button)
    shot("01_data")
    if last < 1:
        return

    # 2. Pseudo-masks: the threshold method on the fluorescent channel (the default source).
    pseudo = open_from_menu(viewer, "2. Pseudo-masks")
    arrange(viewer, pseudo, first=data)
    assert pseudo.source.value == "fluorescence", pseudo.source.value
    run_and_wait(app, pseudo)
    masks = viewer.layers["fluorescence pseudo (threshold)"]
    only_visible(viewer, {"fluorescence", masks.name, "object diameter"})
    shot("02_pseudo_masks")
    if last < 2:
        return

    # 3. Correct: the newest pseudo-masks are picked; click an object away; accept every frame.
    correct = open_from_menu(viewer, "3. Correct")
    arrange(viewer, correct, first=data)
    assert correct.labels_layer.value == masks.name, correct.labels_layer.value
    viewer.layers.selection.active = masks
    viewer.dims.set_current_step(0, 0)
    target = worst_object(masks.data[0], viewer.layers["true labels"].data[0])
    ys, xs = np.nonzero(masks.data[0] == target)
    click_canvas_at(viewer, app, (ys.mean(), xs.mean()))
    if (masks.data[0] == target).any():
        raise RuntimeError("clicking the object did not delete it")
    for k in range(masks.data.shape[0]):
        viewer.dims.set_current_step(0, k)
        click(correct.accept_button)
    viewer.dims.set_current_step(0, 0)
    wait(app, lambda: correct.status.value.startswith("Saved"), timeout=30)
    viewer.reset_view()
    zoom = viewer.scene.camera.zoom
    viewer.scene.camera.center = (ys.mean(), xs.mean())  # the deleted nucleus in the middle
    viewer.scene.camera.zoom = 2 * zoom
    shot("03_correct")
    if last < 3:
        return

    # 4. Train: brightfield image and corrected masks are the defaults; a held-out frame.
    train = open_from_menu(viewer, "4. Train")
    arrange(viewer, train, first=data)
    assert train.image.value == "brightfield", train.image.value
    assert train.masks.value == masks.name, train.masks.value
    train.steps.value = steps
    click(train.hold_out)
    run_and_wait(app, train)
    model_dir = Path(train.model.path)  # the folder shown in "Save model to"
    only_visible(viewer, {"brightfield", "brightfield prediction"})
    viewer.reset_view()
    shot("04_train")
    if last < 4:
        return

    # 5. Segment folder: the original 2-channel files (and one broken file) with that model.
    plate = work / "plate"
    plate.mkdir()
    for s in range(4):
        sample = make_sample((256, 256), seed=100 + s)
        write_image(
            plate / f"well_{s + 1:02d}.tif",
            sample.stack(),
            axes="CYX",
            channel_names=["brightfield", "fluorescence"],
        )
    (plate / "well_05.tif").write_bytes(b"not a TIFF: the transfer was cut off")
    folder = open_from_menu(viewer, "5. Segment folder")
    arrange(viewer, folder, first=data)
    folder.model_dir.value = model_dir
    folder.in_dir.value = plate
    folder.out_dir.value = work / "results"
    run_and_wait(app, folder)
    folder.table.native.selectRow(0)
    click(folder.open_button)
    settle(app, 1.0)
    only_visible(viewer, {ly.name for ly in viewer.layers if ly.name.startswith("well_01")})
    viewer.reset_view()
    shot("05_segment_folder")


def fresh(viewer, app, key: str):
    """Remove every layer, open sample ``key`` and bring the Pseudo-masks dock to the front."""
    viewer.layers.clear()
    viewer.open_sample(PLUGIN, key)
    found = [w for n, w in viewer.window.dock_widgets.items() if n.startswith("2. Pseudo-masks")]
    pseudo = found[0] if found else open_from_menu(viewer, "2. Pseudo-masks")
    first = [w for n, w in viewer.window.dock_widgets.items() if n.startswith("1. Data")]
    arrange(viewer, pseudo, first=first[0] if first else None)
    viewer.reset_view()
    settle(app)
    return pseudo


def recipe(viewer, app, shot, steps: int) -> None:
    """2b. One button: the stain's pseudo-masks train a brightfield model on the sample stack."""
    pseudo = fresh(viewer, app, "stack")
    section = pseudo.recipe
    assert pseudo.source.value == "fluorescence", pseudo.source.value
    assert section.brightfield.value == "brightfield", section.brightfield.value
    section.steps.value = steps
    pseudo.native.verticalScrollBar().setValue(pseudo.native.verticalScrollBar().maximum())
    click(section.controls.run_button)
    wait(app, lambda: not section.controls.running)
    settle(app, 1.0)
    pseudo.native.verticalScrollBar().setValue(pseudo.native.verticalScrollBar().maximum())
    only_visible(viewer, {"brightfield", "brightfield prediction"})
    shot("02b_brightfield_recipe")


def psm(viewer, app, shot) -> None:
    """6. PSM on the fluorescence of the 'nuclei' sample, every setting at its default."""
    pseudo = fresh(viewer, app, "nuclei")
    pseudo.method.value = "psm"
    settle(app, 0.3)
    assert pseudo.source.value == "fluorescence", pseudo.source.value
    run_and_wait(app, pseudo)
    only_visible(viewer, {"fluorescence", "fluorescence pseudo (psm)"})
    shot("06_psm")


def scorecam(viewer, app, shot) -> None:
    """7. Score-CAM on the 'artifacts' sample: every field marked, then the masks of debris."""
    pseudo = fresh(viewer, app, "artifacts")
    pseudo.method.value = "scorecam"
    settle(app, 0.3)
    assert pseudo.source.value == "fluorescence", pseudo.source.value
    pseudo.cam_input.value = "64"  # the quick first look the tutorial offers (12 s vs 3.5 min)
    n = viewer.layers["fluorescence"].data.shape[0]
    truth = viewer.layers["true artifacts"].data
    for k in range(n):  # a user looks at each field and clicks what they see
        viewer.dims.set_current_step(0, k)
        settle(app, 0.1)
        click(pseudo.weak.has_button if truth[k].any() else pseudo.weak.has_not_button)
    run_and_wait(app, pseudo)
    viewer.dims.set_current_step(0, 1)
    only_visible(viewer, {"fluorescence", "fluorescence pseudo (scorecam)"})
    shot("07_scorecam")


if __name__ == "__main__":
    sys.exit(main())
