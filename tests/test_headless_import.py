"""The core imports and runs with Qt, magicgui and napari unavailable."""

from __future__ import annotations

import subprocess
import sys
import textwrap

CODE = textwrap.dedent(
    """
    import sys
    for name in ("qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "magicgui", "napari", "vispy"):
        sys.modules[name] = None  # any import of them now raises ImportError
    import importlib
    from napari_selfsup_seg import api
    import importlib.util
    for name, module in api._EXPORTS.items():
        # Names of modules not in this checkout are checked by the API tests, not here.
        if importlib.util.find_spec("napari_selfsup_seg." + module) is not None:
            getattr(api, name)
    import pkgutil
    import napari_selfsup_seg
    core = [
        m.name
        for m in pkgutil.walk_packages(napari_selfsup_seg.__path__, "napari_selfsup_seg.")
        if not m.name.startswith("napari_selfsup_seg._napari")
    ]
    assert len(core) > 40, core
    for name in core:  # every module of the core, not only those behind the API
        importlib.import_module(name)
    sample = api.make_sample((64, 64), seed=0)
    labels, prob = api.threshold_pseudo_mask(sample.fluorescence)
    assert labels.max() > 0
    loaded = [m for m in sys.modules if m.split(".")[0] in ("qtpy", "PyQt6", "napari", "magicgui")]
    assert not [m for m in loaded if sys.modules[m] is not None], loaded
    print("headless ok")
    """
)


def test_core_imports_without_qt():
    proc = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "headless ok" in proc.stdout


def test_widgets_are_not_imported_by_the_api():
    code = (
        "import sys; from napari_selfsup_seg import api; api.read_image; api.train_iter; "
        "print(sorted(m for m in sys.modules if m.startswith(('qtpy', 'napari.', 'magicgui'))))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"
