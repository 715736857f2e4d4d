"""Make the tutorial's screenshots: a real napari window running the whole loop on sample data.

Run under a display (``xvfb-run -a python scripts/make_screenshots.py``); images are written to
``docs/images/``. Every step uses the widgets the way a user would (values set, buttons' methods
called) and waits for the thread workers to finish.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def wait(app, condition, timeout: float = 600.0) -> None:
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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "images"))
    parser.add_argument("--steps", type=int, default=150, help="training steps")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    import napari
    import numpy as np

    from napari_selfsup_seg._widgets.correct import CorrectWidget
    from napari_selfsup_seg._widgets.data import DataWidget
    from napari_selfsup_seg._widgets.pseudo_masks import PseudoMasksWidget
    from napari_selfsup_seg._widgets.segment_folder import SegmentFolderWidget
    from napari_selfsup_seg._widgets.train import TrainWidget
    from napari_selfsup_seg.io import write_image
    from napari_selfsup_seg.synthetic import make_sample

    viewer = napari.Viewer(show=True, title="napari-selfsup-seg")
    app = napari.qt.get_qapp()
    viewer.window._qt_window.resize(1500, 980)
    settle(app)

    def shot(name: str) -> None:
        from napari._qt.dialogs.qt_notification import NapariQtNotification

        for toast in viewer.window._qt_window.findChildren(NapariQtNotification):
            toast.close()
        settle(app, 0.8)
        path = out / f"{name}.png"
        viewer.screenshot(str(path), canvas_only=False)
        print("wrote", path)

    docks = []

    def dock(widget, name: str):
        for d in docks:
            viewer.window.remove_dock_widget(d)
        docks.clear()
        d = viewer.window.add_dock_widget(widget, name=name, area="right")
        docks.append(d)
        return widget

    # 1. Data: sample data (brightfield + fluorescence + true labels), roles.
    viewer.open_sample("napari-selfsup-seg", "stack")
    viewer.layers["true labels"].visible = False
    data = dock(DataWidget(viewer), "Data")
    data.brightfield.value = "brightfield"
    data.fluorescent.value = "fluorescence"
    data.planes.value = "all"
    data.apply()
    shot("01_data")

    # 2. Pseudo-masks from the fluorescent channel, threshold chosen by the sweep.
    pseudo = dock(PseudoMasksWidget(viewer), "Pseudo-masks")
    pseudo.method.value = "threshold"
    pseudo.source.value = "fluorescence"
    pseudo.run()
    wait(app, lambda: not pseudo.controls.running)
    viewer.layers["brightfield"].visible = False
    viewer.layers["fluorescence"].visible = True
    shot("02_pseudo_masks")

    # 3. Correct: delete a wrong object, accept frames; autosaved to a project folder.
    project = Path(tempfile.mkdtemp(prefix="selfsup_shots_"))
    correct = dock(CorrectWidget(viewer), "Correct")
    correct.labels_layer.value = "fluorescence pseudo"
    correct.project_dir.value = project / "stack.selfsup"
    layer = viewer.layers["fluorescence pseudo"]
    for k in range(layer.data.shape[0]):
        viewer.dims.set_current_step(0, k)
        if k == 0:
            ys, xs = np.nonzero(layer.data[0] == 1)
            correct.delete_object_at((0, ys.mean(), xs.mean()))
        correct.accept_frame()
    viewer.dims.set_current_step(0, 0)
    correct.save_now()
    viewer.layers.selection.active = layer
    shot("03_correct")

    # 4. Train a brightfield U-Net on the corrected masks, with a held-out frame.
    viewer.layers["fluorescence"].visible = False
    viewer.layers["brightfield"].visible = True
    layer.visible = False
    train = dock(TrainWidget(viewer), "Train")
    train.image.value = "brightfield"
    train.masks.value = "fluorescence pseudo"
    train.small.value = True
    train.steps.value = args.steps
    train.tile_size.value = 128
    train.batch_size.value = 8
    train.preview_every.value = 25
    train.hold_out.value = True
    train.save_dir.value = project / "model"
    train.start()
    wait(app, lambda: not train.controls.running)
    shot("04_train")

    # 5. Segment a folder of new brightfield images with the saved model.
    in_dir = project / "new_images"
    in_dir.mkdir()
    for s in range(4):
        write_image(
            in_dir / f"well_{s + 1:02d}.tif", make_sample((256, 256), seed=100 + s).brightfield
        )
    (in_dir / "well_05.tif").write_bytes(b"truncated file")
    seg = dock(SegmentFolderWidget(viewer), "Segment folder")
    seg.model_dir.value = project / "model"
    seg.in_dir.value = in_dir
    seg.out_dir.value = project / "results"
    seg.run()
    wait(app, lambda: seg.summary is not None or not seg.controls.running)
    for name in [ly.name for ly in viewer.layers]:
        viewer.layers[name].visible = False
    seg.open_result(0)
    shot("05_segment_folder")

    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
