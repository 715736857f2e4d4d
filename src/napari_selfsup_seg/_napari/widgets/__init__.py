"""Dock widgets for napari: thin Qt views over the headless core (one widget per module).

Nothing here is imported by the core; the napari manifest points at the widget classes.

Importing Triton (which torch does lazily, the first time an optimiser is made) after an OpenGL
context exists crashes the process when OpenGL is Mesa's llvmpipe: both bring their own LLVM.
The widgets never use ``torch.compile``, so inside napari Triton is kept out unless it was
already imported before the viewer.
"""

import sys

sys.modules.setdefault("triton", None)  # type: ignore[arg-type]
