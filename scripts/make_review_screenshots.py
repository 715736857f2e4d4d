"""Make the tutorial's screenshots of the review round (Correct widget, after a first training).

Run under a 1000-px-high display, from the repository root::

    xvfb-run -a -s "-screen 0 1600x1000x24" python scripts/make_review_screenshots.py

It runs steps 1-4 of ``make_screenshots.py`` the way a user does (sample stack, threshold
pseudo-masks, one object clicked away and every frame accepted, a brightfield model trained),
without writing their screenshots, then the review round in the Correct widget: "Next tile to
review" (``03b_review_tile.png``), the tile's nuclei redrawn with the labels layer's own
(undoable) painting, "Accepted with edits" and the fine-tuning burst (``03c_review_burst.png``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_screenshots import (
    ROOT,
    arrange,
    click,
    loop,
    only_visible,
    open_window,
    shooter,
    wait,
)


def dock_widget(viewer, title: str):
    """The open dock widget whose menu title starts with ``title``."""
    return next(w for n, w in viewer.window.dock_widgets.items() if n.startswith(title))


def show_review_section(correct) -> None:
    """Scroll the Correct dock to its bottom, where the review round is."""
    bar = correct.native.verticalScrollBar()
    bar.setValue(bar.maximum())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "images"))
    parser.add_argument("--steps", type=int, default=150, help="training steps")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="selfsup_review_"))
    os.environ["NAPARI_SELFSUP_SEG_HOME"] = str(work / "napari-selfsup-seg")

    import numpy as np

    viewer, app = open_window()
    shot = shooter(viewer, app, out)

    loop(viewer, app, lambda name: None, work, args.steps, last=3)  # steps 1-4, no shots
    assert "brightfield prediction" in viewer.layers

    # The review round: back to the Correct dock, every default kept.
    correct, data = dock_widget(viewer, "3. Correct"), dock_widget(viewer, "1. Data")
    arrange(viewer, correct, first=data)
    review = correct.review
    masks = viewer.layers[correct.labels_layer.value]
    assert review.image.value == "brightfield", review.image.value
    assert review.prob_map.value == "fluorescence threshold map", review.prob_map.value
    assert str(review.model_dir.value).endswith("model"), review.model_dir.value
    viewer.dims.set_current_step(0, 0)
    only_visible(viewer, {"brightfield", masks.name})
    click(review.next_button)
    wait(app, lambda: review.tile is not None and not review.controls.running, timeout=600)
    show_review_section(correct)
    shot("03b_review_tile")

    # The user redraws the tile's nuclei (here: the true ones, with the layer's own painting).
    plane, tile = review.tile
    y0, x0, y1, x1 = tile.box
    truth = viewer.layers["true labels"].data[plane, y0:y1, x0:x1]
    ys, xs = np.nonzero(masks.data[plane, y0:y1, x0:x1])
    masks.data_setitem((np.full(ys.shape, plane), ys + y0, xs + x0), 0)
    start = int(masks.data.max()) + 1
    for k, value in enumerate(np.unique(truth[truth > 0])):
        ys, xs = np.nonzero(truth == value)
        masks.data_setitem((np.full(ys.shape, plane), ys + y0, xs + x0), start + k)
    click(review.edited_button)
    wait(app, lambda: review.last_burst is not None and not review.controls.running)
    only_visible(viewer, {"brightfield", "brightfield prediction", "review tile"})
    show_review_section(correct)
    print("burst:", review.last_burst.record, flush=True)
    print("status:", review.controls.status.value, flush=True)
    shot("03c_review_burst")
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
