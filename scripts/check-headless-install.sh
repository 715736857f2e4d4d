#!/usr/bin/env bash
# The headless install: `pip install napari-selfsup-seg` with no extras, in a fresh virtual
# environment, must run the command line (pseudo-masks, training, segmentation on a small
# generated image) and must not bring in the viewer stack (napari, magicgui, qtpy, npe2, a Qt
# binding). Run from anywhere; pip's cache is reused, so torch is not fetched again.
#   PYTHON=python3.11 bash scripts/check-headless-install.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$(pwd)
PYTHON=${PYTHON:-python3}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
start=$SECONDS
step() { echo "headless install: $* ($((SECONDS - start)) s)"; }

step "creating a virtual environment in $WORK"
"$PYTHON" -m venv "$WORK/venv"
BIN="$WORK/venv/bin"
"$BIN/python" -m pip install -qq --disable-pip-version-check "$SRC"
step "installed without extras"

fail=0
for module in napari magicgui qtpy npe2 PyQt6 PySide6 bioio; do
    if "$BIN/python" -c "import $module" 2>/dev/null; then
        echo "headless install: 'import $module' works but must fail without extras" >&2
        fail=1
    fi
done
[ "$fail" = 0 ] || exit 1
step "napari, magicgui, qtpy, npe2, Qt and bioio are absent"

cd "$WORK"  # away from the source tree: the installed package is what runs
cli="$BIN/napari-selfsup-seg"
"$cli" --help >/dev/null
"$BIN/python" - <<'EOF'
import numpy as np
from napari_selfsup_seg import api

sample = api.make_sample((128, 128), seed=0)
api.write_image("cells.tif", (sample.fluorescence * 1000).astype(np.uint16))
EOF
"$cli" pseudo-mask --method threshold cells.tif --out masks --quiet
"$cli" train --images cells.tif --masks masks/cells_pseudo.tif --out model --steps 4 \
    --tile-size 64 --batch-size 2 --device cpu --quiet
"$cli" segment --model model cells.tif --out labels --device cpu --tile-size 64 --quiet
"$BIN/python" -c "
import sys
from napari_selfsup_seg import api
labels = api.read_image('labels/cells_labels.tif')
assert labels.shape == (128, 128), labels.shape
bad = [m for m in ('napari', 'magicgui', 'qtpy', 'PyQt6') if m in sys.modules]
assert not bad, bad
"
# A microscope format without the formats extra: one line with the install command.
printf 'not really a CZI' > scan.czi
if "$cli" segment --model model scan.czi --out labels 2>err.txt; then
    echo "headless install: a CZI file was read without bioio" >&2
    exit 1
fi
grep -q 'pip install "napari-selfsup-seg\[formats\]"' err.txt || { cat err.txt >&2; exit 1; }
step "--help, pseudo-mask, train, segment and the formats hint work"
