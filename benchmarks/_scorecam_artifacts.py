"""Weak-label task on real images: tiles of the HeLa time-lapse with inserted artifacts.

Used by ``bench_scorecam.py --artifacts``. Tiles of 128×128 are cut at random places from the
real frames; half of them get one artifact drawn in (a curved autofluorescent fibre or an
irregular debris clump with speckled texture, the footprints of
:mod:`napari_selfsup_seg.data._synthetic_artifacts`), as bright as the nuclei of its frame and
covering them where it lies on them. Only "has / has not" goes to the classifier; the drawn
footprint is the truth its masks are scored against.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import tifffile
from scipy import ndimage as ndi

from napari_selfsup_seg.data._synthetic import _smooth_noise
from napari_selfsup_seg.data._synthetic_artifacts import _draw_clump, _draw_fibre

TILE = 128


def insert_artifact(tile: np.ndarray, rng: np.random.Generator, bg: float, signal: float):
    """``tile`` with one artifact drawn in, and its footprint (bool)."""
    shape = tile.shape
    draw = _draw_fibre if rng.random() < 0.5 else _draw_clump
    fg = np.zeros(shape, bool)
    while fg.sum() < 150:  # a fibre leaving the tile early can be too short to see
        fg = draw(rng, shape)
    speckle = np.clip(1.0 + 0.35 * _smooth_noise(rng, shape, 1.5), 0.2, None)
    shade = ndi.gaussian_filter(fg.astype(np.float32), 1.2)
    glow = ndi.gaussian_filter(fg * speckle, 1.2) * rng.uniform(0.6, 1.2) * signal
    out = bg + (tile.astype(np.float32) - bg) * (1 - 0.6 * shade) + glow
    out += rng.normal(0, 1, shape) * np.sqrt(np.maximum(glow, 0) * signal) * 0.05
    return out.astype(np.float32), fg


def make_task(folder: Path, n: int = 40, seed: int = 0, shuffle: bool = False):
    """``n`` tiles (half with an artifact): images, weak labels, true artifact masks."""
    rng = np.random.default_rng(seed)
    frames = [tifffile.imread(p).astype(np.float32) for p in sorted(folder.glob("t*_image.tif"))]
    images, labels, truth = [], [], []
    for i in range(n):
        frame = frames[i % len(frames)]
        bg = float(np.median(frame))
        signal = float(np.percentile(frame, 99.5)) - bg
        y = int(rng.integers(0, frame.shape[0] - TILE + 1))
        x = int(rng.integers(0, frame.shape[1] - TILE + 1))
        tile = frame[y : y + TILE, x : x + TILE]
        if i % 2:
            tile, fg = insert_artifact(tile, rng, bg, signal)
        else:
            fg = np.zeros(tile.shape, bool)
        images.append(tile.astype(np.float32))
        labels.append(i % 2)
        truth.append(fg)
    if shuffle:
        labels = list(np.random.default_rng(seed + 1).permutation(labels))
    return images, labels, truth


VARIANTS = {
    "stride 8, intensity sweep (before)": ("stride8", "none", "sweep"),
    "stride 8, map cut": ("stride8", "none", "map"),
    "stride 8 + guided filter, intensity sweep": ("stride8", "guided", "sweep"),
    "stride 4, map cut": ("stride4", "none", "map"),
    "fused strides 2+4+8, map cut": ("fused", "none", "map"),
    "stride 2, intensity sweep": ("stride2", "none", "sweep"),
    "stride 2, map cut": ("stride2", "none", "map"),
    "stride 2 + superpixels, map cut": ("stride2", "superpixels", "map"),
    "stride 2 + guided filter, intensity sweep": ("stride2", "guided", "sweep"),
    "stride 2 + guided filter, map cut": ("stride2", "guided", "map"),
    "stride 2 + objects, intensity sweep": ("stride2", "objects", "sweep"),
    "stride 2 + objects, map cut": ("stride2", "objects", "map"),
    "stride 2 + auto (objects or guided), map cut (default)": ("stride2", "auto", "map"),
}
"""Rows of the map comparison: name -> ``cam_layers``, ``refine``, ``auto_cut`` of the config."""


def pixel_f1(preds, truths) -> float:
    """Pixel F1 pooled over tiles."""
    inter = sum(int((p & t).sum()) for p, t in zip(preds, truths))
    total = sum(int(p.sum() + t.sum()) for p, t in zip(preds, truths))
    return 2 * inter / max(total, 1)


def variant_maps(fit, planes, variants=VARIANTS) -> dict:
    """Score-CAM maps of ``planes`` for each variant, through the pipeline's ``scorecam_map``.

    The raw map of each layer choice is made once (``refine="none"``) and refined with the
    same :func:`refine_map` call the pipeline makes.
    """
    from napari_selfsup_seg.pseudo._refine import polarity_evidence, refine_map
    from napari_selfsup_seg.pseudo._refine_auto import decide, plane_votes
    from napari_selfsup_seg.pseudo._scorecam import ScoreCAMConfig, scorecam_map

    raw: dict[str, list] = {}
    out = {}
    for name, (layers, refine, _cut) in variants.items():
        if layers not in raw:
            cfg = ScoreCAMConfig(cam_layers=layers, refine="none")
            raw[layers] = [scorecam_map(fit.net, p, fit.size, fit.scale, cfg) for p in planes]
        stride = fit.net.cam_layers(layers)[1]
        # One polarity for the set, as scorecam_map_iter decides it.
        bright = sum(polarity_evidence(m, p) for m, p in zip(raw[layers], planes)) >= 0
        cells = [stride * float(np.mean(p.shape)) / fit.size for p in planes]
        how = [refine] * len(planes)
        if refine == "auto":  # as scorecam_map_iter chooses
            how, CHOSEN[name] = decide(
                plane_votes(fit.net, fit.size, fit.scale, raw[layers], planes, cells, bright)
            )
        out[name] = [
            refine_map(m, p, h, c, bright) for m, p, h, c in zip(raw[layers], planes, how, cells)
        ]
    return out


CHOSEN: dict = {}
"""Variant name -> the record of ``refine="auto"``'s choice in the last :func:`variant_maps`."""


def _chosen(scores: dict) -> str:
    """How ``refine="auto"`` chose in the rows of ``scores``, for the text."""
    for row in scores.values():
        if "refine_chosen" in row:
            v = row["refine_chosen"]["votes"]
            return (
                f'The default (`refine="auto"`): {v["objects"]} plane(s) voted objects, '
                f"{v['guided']} guided, {v['none']} did not vote and took the majority "
                f"({row['refine_chosen']['refine']})."
            )
    return ""


def score_variants(fit, planes, truths, variants=VARIANTS) -> dict:
    """Pixel F1 of the masks (fixed cut 0.5 and the variant's automatic cut), map contrast."""
    from napari_selfsup_seg.pseudo._result import cut_plane
    from napari_selfsup_seg.pseudo._scorecam import ScoreCAMConfig, auto_cut
    from napari_selfsup_seg.pseudo._threshold import split_recut

    scores = {}
    for name, maps in variant_maps(fit, planes, variants).items():
        cfg = ScoreCAMConfig(auto_cut=variants[name][2])
        masks = {}
        for key, cut in (("cut_0.5", 0.5), ("auto", None)):
            masks[key] = [
                cut_plane(m, p, cut, split_recut, cfg, "tile", choose=auto_cut(cfg))[0] > 0
                for m, p in zip(maps, planes)
            ]
        scores[name] = {
            "pixel_f1_cut_0.5": pixel_f1(masks["cut_0.5"], truths),
            "pixel_f1_auto": pixel_f1(masks["auto"], truths),
            "mean_map_inside": float(np.mean([m[t].mean() for m, t in zip(maps, truths)])),
            "mean_map_outside": float(np.mean([m[~t].mean() for m, t in zip(maps, truths)])),
        }
        if name in CHOSEN:
            scores[name]["refine_chosen"] = CHOSEN.pop(name)
    return scores


def _table(scores: dict) -> str:
    rows = [
        f"| {name} | {s['pixel_f1_cut_0.5']:.3f} | {s['pixel_f1_auto']:.3f} | "
        f"{s['mean_map_inside']:.2f} | {s['mean_map_outside']:.2f} |"
        for name, s in scores.items()
    ]
    head = "| map | pixel F1 (cut 0.5) | pixel F1 (auto cut) | mean map inside | outside |\n"
    return head + "|---|---|---|---|---|\n" + "\n".join(rows)


def load() -> str:
    """The 1-minute load average, for the report (the machine is shared)."""
    import os

    return f"{os.getloadavg()[0]:.1f}"


SAMPLE_ROWS = {k: v for k, v in VARIANTS.items() if k.startswith("stride 2 +") and "map cut" in k}
"""Rows for the tutorial's sample: the stride-2 refinements at the map cut."""


def generated_fields(n=16, variants=None, seed=0, modality="fluorescence") -> dict:
    """The variants on generated debris fields (input 64 px, 150 steps); ``n=8, seed=20``
    are the fields of the tutorial's sample (File → Open Sample → Debris in 4 of 8 fields)."""
    from napari_selfsup_seg._progress import drain
    from napari_selfsup_seg.data._synthetic_artifacts import make_artifact_fields
    from napari_selfsup_seg.pseudo._scorecam import ScoreCAMConfig, train_weak_classifier_iter

    f = make_artifact_fields(n, (256, 256), seed=seed)
    images, labels = list(getattr(f, modality)), [int(v) for v in f.has_artifact]
    cfg = ScoreCAMConfig(steps=150, input_size=64, allow_chance=True)
    fit = drain(train_weak_classifier_iter(images, labels, cfg))
    pos = [i for i, y in enumerate(labels) if y]
    truths = [f.artifacts[i] > 0 for i in pos]
    quality = score_variants(fit, [images[i] for i in pos], truths, variants or VARIANTS)
    check = fit.check.summary() if fit.check else "no held-out check"
    return {"fields": n, "check": check, "quality": quality}


def _sample_rows(sample: dict) -> str:
    return "\n".join(
        f"| {m} | {k} | {v['pixel_f1_cut_0.5']:.3f} | {v['pixel_f1_auto']:.3f} |"
        for m, f in sample.items()
        for k, v in f["quality"].items()
    )


def _reading(scores: dict) -> str:
    """What the table shows, from its figures: which maps are higher on the artifact."""
    low = [k for k, v in scores.items() if v["mean_map_inside"] <= v["mean_map_outside"]]
    best = max(scores, key=lambda k: scores[k]["pixel_f1_auto"])
    default = next(k for k in scores if "(default)" in k)
    before = next(k for k in scores if "(before)" in k)
    d, b = scores[default], scores[before]
    lines = [
        f"Maps lower on the artifact than around it, so no cut of them finds it: "
        f"{'; '.join(low) if low else 'none'}.",
        f"Best automatic-cut pixel F1: {best} ({scores[best]['pixel_f1_auto']:.3f}).",
        f"Default against before: {d['pixel_f1_auto']:.3f} against {b['pixel_f1_auto']:.3f}"
        f" (automatic cut), {d['pixel_f1_cut_0.5']:.3f} against {b['pixel_f1_cut_0.5']:.3f}"
        " (cut 0.5).",
    ]
    return " ".join(lines)


def run_artifacts(folder: Path, n: int, steps: int | None) -> tuple[str, dict]:
    """The real-image artifact task: classifier check, maps per variant, shuffled labels.

    Returns the Markdown body and the figures of the ``scorecam-artifacts`` section.
    """
    from napari_selfsup_seg._progress import drain
    from napari_selfsup_seg.pseudo._scorecam import ScoreCAMConfig, train_weak_classifier_iter
    from napari_selfsup_seg.pseudo._weak_check import ChanceClassifierError

    start_load = load()
    cfg = ScoreCAMConfig() if steps is None else ScoreCAMConfig(steps=steps)
    images, labels, truth = make_task(folder, n)
    t0 = time.perf_counter()
    fit = drain(train_weak_classifier_iter(images, labels, cfg))
    train_s = time.perf_counter() - t0
    pos = [i for i, y in enumerate(labels) if y == 1]
    t0 = time.perf_counter()
    scores = score_variants(fit, [images[i] for i in pos], [truth[i] for i in pos])
    maps_s = time.perf_counter() - t0

    fields = generated_fields()
    sample = {m: generated_fields(8, SAMPLE_ROWS, 20, m) for m in ("brightfield", "fluorescence")}

    shuffled_images, shuffled, _ = make_task(folder, n, shuffle=True)
    t0 = time.perf_counter()
    try:
        drain(train_weak_classifier_iter(shuffled_images, shuffled, cfg))
        refusal, refused = "not refused: masks would be written", False
    except ChanceClassifierError as exc:
        refusal, refused = str(exc), True
    shuffle_s = time.perf_counter() - t0
    agree = sum(int(a == b) for a, b in zip(labels, shuffled))
    check = fit.check
    md = f"""
Weak-label task on real images: {n} tiles of {TILE}×{TILE} cut at random places from the four
HeLa frames of `{folder.name}` (H2B-GFP nuclei, real noise and real bright mitotic nuclei); every
other tile has one inserted artifact (a curved autofluorescent fibre or a speckled debris
clump, as bright as the frame's nuclei, covering them where it lies), the other half none.
The classifier sees only "has / has not" (default `ScoreCAMConfig`, {cfg.steps} steps, input
{fit.size} px): training accuracy {fit.accuracy:.3f}; {check.summary() if check else "no check"}
on {check.n if check else 0} tiles held out in {check.folds if check else 0} fold(s)
(majority-class rate 0.50); {train_s:.0f} s for the check and the final training
(load average {start_load} at the start, {load()} at the end; 2 cores shared with other work).
Masks of the {len(pos)} positive tiles against the drawn artifacts, pixel F1 pooled (masks as
the pipeline writes them: cut, split and cleaned), {maps_s:.0f} s for all maps:

{_table(scores)}

The same rows on generated fields with debris (`make_artifact_fields`, the kind of the
tutorial's sample: 16 fields of 256×256, fluorescence, 8 with one or two fibres or clumps;
classifier input 64 px and 150 steps as the tutorial runs it; {fields["check"]}):

{_table(fields["quality"])}

{_reading(fields["quality"])} {_chosen(fields["quality"])}

The tutorial's sample itself (the 8 fields of File → Open Sample → Debris in 4 of 8 fields,
`make_artifact_fields(8, seed=20)`, 4 with debris; input 64 px, 150 steps), the stride-2 rows:

| channel | map | pixel F1 (cut 0.5) | pixel F1 (auto cut) |
|---|---|---|---|
{_sample_rows(sample)}

{" ".join(f"{m}: {_chosen(sample[m]['quality'])}" for m in sample)}

**Label-shuffled task** (the same kind of tiles, labels permuted: {agree}/{n} still agree with
the artifacts): {"refused" if refused else "NOT refused"} after {shuffle_s:.0f} s with:
`{refusal}`

Reading: {_reading(scores)} {_chosen(scores)} The artifacts are drawn into the real frames, so
the figures say how well the masks outline known inserted objects, not how well they would find
real debris.
"""
    result = {
        "tiles": n,
        "steps": cfg.steps,
        "input_size": fit.size,
        "classifier_accuracy": fit.accuracy,
        "held_out": check.as_dict() if check else None,
        "quality": scores,
        "generated_fields": fields,
        "tutorial_sample": sample,
        "shuffled": {"refused": refused, "message": refusal, "labels_agreeing": agree},
        "seconds": {"check_and_training": train_s, "maps": maps_s, "shuffled": shuffle_s},
    }
    return md, result
