"""PSM where intensity is not enough: brightfield-type images, ablations and plain baselines.

Used by ``bench_psm.py``. Three sets, each with its own activation network (trained on that
set's planes only):

* ``scratch``: oblique brightfield of a scratch assay (frames 0, 2, 4, while the wound is
  open), scored against the whole-cell labels (cells are visible there, nuclei hardly);
* ``bacteria``: phase contrast E. coli (dark rods, bright halo, debris), 4 frames;
* ``generated``: the package's generated brightfield (``make_sample``, 3 seeds).

Pixel F1 and AP@0.5 are pooled over each set's planes (AP from the shared scorer's ``match``
when it is there, else the project's ``evaluate``).
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from _report import ROOT, SHARED_DATA
from napari_selfsup_seg.data._normalize import NormalizationConfig, percentile_normalize
from napari_selfsup_seg.pseudo._psm import PSMConfig, psm_pseudo_mask
from napari_selfsup_seg.pseudo._scale import analyse_plane

SCORER = ROOT.parent / "shared" / "tools" / "score_instances.py"

FRAMES = (0, 2, 4)  # later frames are 50-80 % cells: "everything foreground" scores 0.7-0.9

VARIANTS = {
    "psm default (map + intensity + texture, window chosen per plane)": {},
    "psm, fixed texture window 2 px": dict(texture_sigma=2.0),
    "psm, intensity only": dict(map_weight=0, texture_weight=0),
    "psm, map only": dict(intensity_weight=0, texture_weight=0),
    "psm, map + texture + gradient (no intensity)": dict(intensity_weight=0, gradient_weight=1),
    "psm, intensity + texture (no map)": dict(map_weight=0),
    "psm, default + coarse texture": dict(coarse_texture_weight=1),
    "psm, intensity + texture + coarse texture (no map)": dict(
        map_weight=0, coarse_texture_weight=1
    ),
}


def load_sets(data: Path) -> dict[str, tuple[list[np.ndarray], list[np.ndarray]]]:
    """``{name: (planes, labels)}`` of the sets whose files are there (generated always)."""
    import tifffile

    from napari_selfsup_seg.data._synthetic import make_sample

    sets = {}
    sa = data / "scratch_assay"
    if (sa / "oblique_brightfield_TYX.tif").exists():
        im = tifffile.imread(sa / "oblique_brightfield_TYX.tif")
        gt = tifffile.imread(sa / "cyto_labels_TYX.tif")
        sets["scratch"] = ([im[t] for t in FRAMES], [gt[t] for t in FRAMES])
    bp = data / "bacteria_phase"
    frames = sorted(bp.glob("t*_image.tif")) if bp.exists() else []
    if frames:
        sets["bacteria"] = (
            [tifffile.imread(f) for f in frames],
            [tifffile.imread(str(f).replace("_image", "_mask")) for f in frames],
        )
    samples = [make_sample((256, 256), seed=s) for s in range(3)]
    sets["generated"] = ([s.brightfield for s in samples], [s.labels for s in samples])
    return sets


def _match():
    if not SCORER.exists():
        return None
    spec = importlib.util.spec_from_file_location("score_instances", SCORER)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.match


def score(preds: list[np.ndarray], gts: list[np.ndarray]) -> dict:
    """Pooled pixel F1 and AP@0.5 (IoU >= 0.5, one-to-one matching)."""
    match = _match()
    tp = fp = fn = inter = total = 0
    for p, g in zip(preds, gts):
        if match is not None:
            a, b, c = match(g, p)
        else:
            from napari_selfsup_seg.evaluation._metrics import evaluate

            s = evaluate([p], [g])
            a, b, c = s["tp"]["0.5"], s["fp"]["0.5"], s["fn"]["0.5"]
        tp, fp, fn = tp + a, fp + b, fn + c
        inter += int(((g > 0) & (p > 0)).sum())
        total += int((g > 0).sum() + (p > 0).sum())
    return {"pixel_f1": 2 * inter / max(total, 1), "ap50": tp / max(tp + fp + fn, 1)}


def _labels(mask: np.ndarray, min_size: int = 16) -> np.ndarray:
    """Connected components of a filled mask, small ones removed."""
    labels, n = ndi.label(ndi.binary_fill_holes(mask))
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    labels[sizes[labels] < min_size] = 0
    return labels


def baselines(planes: list[np.ndarray], gts: list[np.ndarray]) -> dict[str, list[np.ndarray]]:
    """Plain pipelines, no learning."""
    from skimage.filters import threshold_otsu

    norm = NormalizationConfig(1.0, 99.8, clip=True, clip_margin=0.5)
    xs = [percentile_normalize(p, norm) for p in planes]
    bright, dark, contrast = [], [], []
    for x in xs:
        g = ndi.gaussian_filter(x, 1.0)
        t = threshold_otsu(g)
        bright.append(_labels(g > t))
        dark.append(_labels(g < t))
        d = analyse_plane(x).diameter
        lc = ndi.gaussian_filter(np.abs(x - ndi.gaussian_filter(x, d)), d / 4)
        contrast.append(_labels(lc > threshold_otsu(lc)))
    better = bright if score(bright, gts)["pixel_f1"] >= score(dark, gts)["pixel_f1"] else dark
    return {
        "baseline: Gaussian + Otsu, better polarity (chosen with the truth)": better,
        "baseline: local contrast, abs(x - blur) + Otsu (blur at the estimated diameter)": contrast,
        "floor: everything foreground": [np.ones_like(g, np.int32) for g in gts],
    }


def run(data: Path, steps: int, cache: str) -> dict[str, dict[str, dict]]:
    """``{set: {row: {pixel_f1, ap50, seconds}}}``."""
    out: dict[str, dict[str, dict]] = {}
    for name, (planes, gts) in load_sets(data).items():
        rows: dict[str, dict] = {}
        for row, kw in VARIANTS.items():
            t0 = time.perf_counter()
            res = psm_pseudo_mask(planes, PSMConfig(steps=steps, **kw), cache_dir=cache)
            seconds = time.perf_counter() - t0
            rows[row] = {**score([lab for lab, _ in res], gts), "seconds": seconds}
            print(name, row, rows[row], flush=True)
        t0 = time.perf_counter()
        base = baselines(planes, gts)
        seconds = time.perf_counter() - t0  # all baselines together
        for row, preds in base.items():
            rows[row] = {**score(preds, gts), "seconds": seconds}
        out[name] = rows
    return out


def markdown(results: dict[str, dict[str, dict]], steps: int, load: str = "") -> str:
    """The section's tables: one per set, then who wins (``load``: the machine's load)."""
    parts = [
        "### Where intensity is not enough (brightfield-type images)\n",
        "One activation network per set, trained "
        f"{steps} steps on that set's planes; every row is pooled over the set's planes. "
        "Scratch assay: oblique brightfield frames 0, 2, 4 (cells 27–42 % of a frame) "
        "against the whole-cell labels; "
        "bacteria: phase contrast, 4 frames (cells cover 0.3–2.6 % of a frame, so pixel F1 "
        "punishes every false speck); generated: `make_sample` brightfield, seeds 0–2. "
        "The better-polarity Otsu row chooses its polarity with the truth (an upper bound of "
        "a plain threshold); the floor row calls every pixel foreground. The default chooses "
        "the texture window per plane (`texture_sigma=None`: candidates 1–8 px, at most a "
        "32nd of the plane's long side, each clustered; the mask explaining most of the "
        "plane's texture across scales is kept), and on halo planes (dark and light structure "
        "symmetric around each other, one side enclosed by the other: phase contrast, the "
        "generated brightfield) only the enclosed side's clusters are foreground, so the halo "
        "is left out (`pseudo/_psm_halo.py`; every brightfield PSM row applies it, the "
        "intensity-only and fixed-window rows included). "
        "Seconds: the first row of a set includes training, and rows that cluster texture "
        f"include the window choice; load average at the end {load or 'not recorded'} "
        "on 2 shared cores, so seconds are loose.",
    ]
    for name, rows in results.items():
        head = "| variant | pixel F1 | AP@0.5 | seconds |\n|---|---|---|---|"
        parts.append(f"\n**{name}**\n\n{head}")
        for row, r in rows.items():
            parts.append(f"| {row} | {r['pixel_f1']:.3f} | {r['ap50']:.3f} | {r['seconds']:.1f} |")
    parts.append("\n" + reading(results))
    return "\n".join(parts) + "\n"


def reading(results: dict[str, dict[str, dict]]) -> str:
    """One sentence per set: default PSM against intensity-only clustering and the baselines."""
    lines = []
    for name, rows in results.items():
        psm = [r for r in rows if r.startswith("psm")]
        default, inten = rows[psm[0]]["pixel_f1"], rows["psm, intensity only"]["pixel_f1"]
        best_psm = max(psm, key=lambda r: rows[r]["pixel_f1"])
        plain = [r for r in rows if not r.startswith("psm")]
        best_plain = max(plain, key=lambda r: rows[r]["pixel_f1"])
        lines.append(
            f"- **{name}**: default PSM {default:.3f} "
            f"{'beats' if default > inten else 'loses to'} intensity-only clustering "
            f"({inten:.3f}) and {'beats' if default > rows[best_plain]['pixel_f1'] else 'loses to'}"
            f" the best plain row ({best_plain}, {rows[best_plain]['pixel_f1']:.3f}); "
            f"the best PSM variant here is {best_psm} ({rows[best_psm]['pixel_f1']:.3f})."
        )
    return "Reading (pixel F1):\n\n" + "\n".join(lines)


DEFAULT_DATA = SHARED_DATA
