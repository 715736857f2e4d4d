"""A simulated user of the correction loop: AP@0.5 against corrected tiles and seconds.

Start: the label-free pipeline (threshold pseudo-masks → U-Net → self-training, default
settings) on the image; its model is the round-0 student, its threshold pseudo-masks and their
map are the masks the user corrects. At each round the simulated user corrects one tile by
copying the true labels into it, and the model is fine-tuned (``api.fine_tune``, a burst that
stops on a plateau) on the corrected masks; AP@0.5 is recorded after 0, 1, 2, 4 and 8
corrected tiles, with the wall-clock seconds of each round (choosing the tile + the burst, not
the scoring). Arms:

``ranked``
    The tile is the top of ``api.correction_queue`` (reviewed tiles excluded); outside the
    corrected tiles the pseudo-masks train (``outside="pseudo"``).
``random``
    Tiles of the same size drawn at random (no more overlap with corrected tiles than the
    queue allows), one run per seed.
``labels_only`` / ``labels_only_pretrained``
    The ranked arm's tiles, true labels only in them (``outside="ignore"``, no pseudo-mask),
    from a fresh network (``labels_only``) or from a network pretrained without labels on the
    image (``api.pretrain``).

Scoring: ``score_instances.py``'s matching (Hungarian, IoU >= 0.5; AP = TP/(TP+FP+FN)) on the
part of the image no arm ever corrected: every true and predicted object with a pixel in the
union of all arms' tiles is dropped before matching, so every arm and every tile count is
scored on the same objects.

Usage: python benchmarks/bench_corrections.py [--image IMG.tif --truth LABELS.tif] [--out DIR]
       [--seeds N] [--rounds N] [--suite] [--quick] [--no-report]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _corrections import (
    COUNTS,
    cached_arm,
    grid_boxes,
    load_pair,
    log,
    pretrained_model,
    run_arm,
    score_outside,
    start_model,
)
from _report import DEFAULT_IMAGE, DEFAULT_MASK, ROOT, command_line, report
from bench_teacher import _match


def run_image(name: str, image: np.ndarray, truth: np.ndarray, args, arms: list[str]) -> dict:
    """All arms on one image; scores on the right half (never corrected)."""
    import hashlib

    from napari_selfsup_seg.workflows._fine_tune import FineTuneConfig

    # The cache is keyed by the pixels too, so another crop or file never reads stale models.
    digest = hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest()[:8]
    cache = Path(args.out) / f"{name}_{digest}"
    match = _match()
    t_start = time.perf_counter()
    model, teacher, tmap, start_s = start_model(image, cache, args.rounds, args.steps)
    side = min(args.tile, *image.shape)
    setup = {
        "image": image,
        "truth": truth,
        "model": model,
        "teacher": teacher,
        "map": tmap,
        "side": side,
        "grid": grid_boxes(image.shape, side),
        "burst": FineTuneConfig()
        if args.burst_steps is None
        else FineTuneConfig(max_steps=args.burst_steps),
    }
    tiles = min(args.tiles, len(setup["grid"]))
    excluded = np.zeros(image.shape, bool)
    excluded[:, : image.shape[1] // 2] = True  # the half where tiles are corrected
    results: dict[str, dict] = {}
    deadline = t_start + 60 * args.budget_min if args.budget_min is not None else None

    def want(key: str) -> bool:
        over = deadline is not None and time.perf_counter() > deadline
        done = (cache / "arms" / f"{key}.json").exists()
        if over and not done:
            log(f"{key}: skipped (time budget of {args.budget_min} min spent)")
        return done or not over

    # Arms are cached under their settings: tile side, tiles, burst steps.
    tag = f"{side}px_t{tiles}_b{args.burst_steps or 'default'}"
    # The ranked tiles (and the labels-only arms that reuse them) depend on the queue's weights.
    from dataclasses import asdict

    from napari_selfsup_seg.workflows._queue import QueueConfig

    weights = {k: v for k, v in asdict(QueueConfig()).items() if k != "device"}
    queue_tag = hashlib.sha1(json.dumps(weights, sort_keys=True).encode()).hexdigest()[:6]
    ranked_key = f"ranked_{tag}_q{queue_tag}"
    if "ranked" in arms and want(ranked_key):
        results["ranked"] = cached_arm(cache, ranked_key, lambda: run_arm("ranked", setup, tiles))
    seeds = range(args.first_seed, args.first_seed + args.seeds) if "random" in arms else []
    for seed in seeds:
        key = f"random_s{seed}_{tag}"
        if want(key):
            results[f"random_s{seed}"] = cached_arm(
                cache, key, lambda seed=seed: run_arm("random", setup, tiles, seed=seed)
            )
    plan = results.get("ranked", {}).get("boxes")
    ranked_meta = cache / "arms" / f"{ranked_key}.json"
    waited = time.perf_counter()
    while plan is None and any(a.startswith("labels_only") for a in arms):
        # Another process may be running the ranked arm whose tiles the labels-only arms use.
        if ranked_meta.exists() and (cache / "arms" / f"{ranked_key}.npz").exists():
            plan = [tuple(b) for b in json.loads(ranked_meta.read_text())["boxes"]]
        elif time.perf_counter() - waited > 60 * args.wait_min:
            log("labels-only arms skipped: no ranked arm to take the tiles from")
            break
        else:
            time.sleep(20)
    for arm in ("labels_only", "labels_only_pretrained"):
        if arm in arms and plan and want(f"{arm}_{tag}_q{queue_tag}"):
            if arm.endswith("pretrained"):
                setup["pretrained"] = pretrained_model(image, cache, args.steps)
            results[arm] = cached_arm(
                cache,
                f"{arm}_{tag}_q{queue_tag}",
                lambda arm=arm: run_arm(arm, setup, tiles, plan=plan),
            )
    figures: dict[str, dict] = {}
    for arm, out in results.items():
        scores = {
            str(k): None if p is None else score_outside(p, truth, excluded, match)
            for k, p in sorted(out["preds"].items())
        }
        cumulative = np.cumsum([0.0, *out["round_seconds"]])
        figures[arm] = {
            "ap50_by_tiles": {k: None if s is None else s["ap50"] for k, s in scores.items()},
            "counts_by_tiles": scores,
            "seconds_by_tiles": {k: round(float(cumulative[int(k)]), 1) for k in scores},
            "round_seconds": out["round_seconds"],
            "queue_seconds": out["queue_seconds"],
            "bursts": out["bursts"],
            "boxes": [list(b) for b in out["boxes"]],
        }
    # Errors of the start model and of the pseudo-masks in every candidate tile (against the
    # truth, IoU >= 0.5), to read what a tile choice could teach.
    start = next((o["preds"][0] for o in results.values() if o["preds"].get(0) is not None), None)
    order = results.get("ranked", {}).get("boxes", [])
    grid_errors = []
    for box in setup["grid"]:
        y0, x0, y1, x1 = box
        cut = (slice(y0, y1), slice(x0, x1))
        grid_errors.append(
            {
                "box": list(box),
                "ranked_order": order.index(box) + 1 if box in order else None,
                "start_tp_fp_fn": None
                if start is None
                else list(match(truth[cut], start[cut], 0.5)),
                "teacher_tp_fp_fn": list(match(truth[cut], teacher[cut], 0.5)),
            }
        )
    n_gt = len(np.unique(truth[:, image.shape[1] // 2 :])) - 1
    return {
        "arms": figures,
        "grid_errors": grid_errors,
        "burst_max_steps": args.burst_steps,
        "start_seconds": start_s,
        "tile": side,
        "tiles": tiles,
        "scored_region": f"columns {image.shape[1] // 2}-{image.shape[1]}",
        "true_objects_scored": int(
            len(np.unique(np.where(np.isin(truth, np.unique(truth[excluded])), 0, truth))) - 1
        ),
        "true_objects_right_half": int(n_gt),
        "seconds": round(time.perf_counter() - t_start, 1),
    }


def summarise(fig: dict) -> dict:
    """The ranked and mean random curves, the ranked-minus-random gap and the median round."""
    arms = fig["arms"]
    keys = [str(c) for c in COUNTS if c <= fig["tiles"]]

    def curve(arm: str) -> dict:
        return arms[arm]["ap50_by_tiles"] if arm in arms else {}

    randoms = [a for a in arms if a.startswith("random")]
    rand = {}
    for k in keys:
        vals = [arms[a]["ap50_by_tiles"].get(k) for a in randoms]
        vals = [v for v in vals if v is not None]
        rand[k] = round(float(np.mean(vals)), 4) if vals else None
    gaps = [
        curve("ranked")[k] - rand[k]
        for k in ("1", "2", "4")
        if curve("ranked").get(k) is not None and rand.get(k) is not None
    ]
    seconds = [s for a in arms.values() for s in a["round_seconds"]]
    ranked_s = arms.get("ranked", {}).get("round_seconds", [])
    return {
        "ap50_by_tiles": curve("ranked"),
        "random_ap50_by_tiles": rand,
        "random_seeds": len(randoms),
        "ranked_minus_random_1_4": round(float(np.mean(gaps)), 4) if gaps else None,
        "round_seconds_median": round(float(np.median(ranked_s)), 1) if ranked_s else None,
        "round_seconds_median_all_arms": round(float(np.median(seconds)), 1) if seconds else None,
    }


def plot(figures: dict, path: Path) -> None:
    """AP@0.5 against corrected tiles and against seconds, one panel pair per image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(figures)
    fig, axes = plt.subplots(len(names), 2, figsize=(10, 3.6 * len(names)), squeeze=False)
    styles = {
        "ranked": ("C0", "o-"),
        "labels_only": ("C2", "s--"),
        "labels_only_pretrained": ("C3", "^--"),
    }
    for row, name in zip(axes, names):
        for arm, f in figures[name]["arms"].items():
            color, style = styles.get(arm, ("0.55", ".:"))
            label = "random" if arm == "random_s0" else None if arm.startswith("random") else arm
            pts = [
                (int(k), f["seconds_by_tiles"][k], v)
                for k, v in f["ap50_by_tiles"].items()
                if v is not None
            ]
            if not pts:
                continue
            n, s, ap = zip(*pts)
            row[0].plot(n, ap, style, color=color, label=label)
            row[1].plot(s, ap, style, color=color, label=label)
        mean = figures[name].get("random_ap50_by_tiles", {})
        rand = [(int(k), v) for k, v in mean.items() if v is not None]
        if figures[name].get("random_seeds", 0) > 1 and rand:
            row[0].plot(*zip(*rand), "-", color="0.3", lw=2, label="random (mean)")
        for ax, xlabel in zip(row, ("corrected tiles", "seconds (choose tile + fine-tune)")):
            ax.set_xlabel(xlabel)
            ax.set_ylabel("AP@0.5, never-corrected half")
            ax.set_title(name)
            ax.grid(alpha=0.3)
        row[0].set_xticks([c for c in COUNTS if c <= figures[name]["tiles"]])
        row[0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def table(name: str, fig: dict) -> str:
    keys = [str(c) for c in COUNTS if c <= fig["tiles"]]
    rows = [
        f"**{name}** (tile {fig['tile']}², scored on {fig['scored_region']}: "
        f"{fig['true_objects_scored']} true objects; label-free start "
        f"{fig['start_seconds']:.0f} s)",
        "",
        "| arm | "
        + " | ".join(f"AP@0.5 after {k}" for k in keys)
        + " | s per round (median) | burst steps |",
        "|---|" + "---|" * (len(keys) + 2),
    ]
    for arm, f in fig["arms"].items():
        aps = " | ".join(
            "n/a" if f["ap50_by_tiles"].get(k) is None else f"{f['ap50_by_tiles'][k]:.3f}"
            for k in keys
        )
        steps = ", ".join(str(b["steps"]) for b in f["bursts"])
        med = np.median(f["round_seconds"]) if f["round_seconds"] else float("nan")
        rows.append(f"| {arm} | {aps} | {med:.0f} | {steps} |")
    return "\n".join(rows)


def notes(figures: dict, image_path: Path) -> str:
    """The report section: method, targets, tables and the plot."""
    from napari_selfsup_seg.workflows._fine_tune import FineTuneConfig

    first = figures[next(iter(figures))]
    burst = first["arms"].get("ranked", {}).get("bursts", [])
    parts = [
        "A simulated user of the correction loop. Start: the label-free pipeline with default "
        "settings (threshold pseudo-masks → U-Net → self-training) on the image. Each round "
        "the user corrects one tile (true labels copied into it) and the model is fine-tuned "
        "with `api.fine_tune` (default `FineTuneConfig`, a burst stopped on a plateau). Tiles "
        "are chosen in the left half of the image only, on a grid of non-overlapping tiles "
        "(`QueueConfig(tile_size=128, stride=1.0)` for the ranked queue, the right half passed "
        "as reviewed); AP@0.5 (`score_instances.py` matching) is scored on the right half, "
        "never corrected by any arm: true objects touching the left half are dropped, and "
        "predicted objects with half their area or more in the left half or in a dropped true "
        "object. The region is the same for every arm and tile count. Seconds: choosing the "
        "tile (the queue's prediction with 4 flips, ranked arm) + the fine-tuning burst, on "
        "the CPU with 1 torch thread on a shared machine (other jobs were running). Arms "
        "may run in separate processes (`--arms`, `--first-seed`) and are assembled from the "
        "cache; the command shown runs them all in one.",
        "",
        "Arms: **ranked** = top tile of `api.correction_queue`, pseudo-masks train outside the "
        'corrected tiles (`outside="pseudo"`); **random_sN** = random tiles of the grid '
        "(seed N), same training; **labels_only** = the ranked arm's tiles, true labels only "
        'in them (`outside="ignore"`), from a fresh network; **labels_only_pretrained** = '
        "the same from a network pretrained without labels on the image (`api.pretrain` "
        "defaults). The labels-only arms have no model before the first tile (n/a at 0). "
        "A burst draws `FineTuneConfig().batch_size` tiles a step (4) and otherwise trains "
        "with the recipe recorded in the model it starts from: the label-free model's "
        "(128² tiles, lr 2e-3 × 0.5) for every arm but the pretrained one, which inherits "
        "the pretraining recipe (96² tiles, lr 1e-3 × 0.5).",
        "",
    ]
    for name, fig in figures.items():
        if fig["burst_max_steps"] is not None:
            parts += [
                f"Bursts capped at {fig['burst_max_steps']} steps (`--burst-steps`; the "
                f"default `FineTuneConfig().max_steps` is {FineTuneConfig().max_steps}) to fit "
                "the time of a shared CPU.",
                "",
            ]
        if fig["tiles"] < max(COUNTS):
            parts += [f"Only {fig['tiles']} tiles per arm were run (`--tiles`).", ""]
        parts += [table(name, fig), ""]
        r, q = fig["ap50_by_tiles"], fig["random_ap50_by_tiles"]
        parts.append(
            f"Ranked vs mean of {fig['random_seeds']} random runs, AP@0.5 after 1 / 2 / 4 "
            "tiles: "
            + " / ".join(f"{r.get(k)} vs {q.get(k)}" for k in ("1", "2", "4"))
            + f"; mean gap {fig['ranked_minus_random_1_4']}. Median round: "
            f"{fig['round_seconds_median']} s (ranked)."
        )
        parts.append("")
    if "nuclei2d" in figures:
        r = figures["nuclei2d"]["ap50_by_tiles"]
        one, four = r.get("1"), r.get("4")
        gap = figures["nuclei2d"]["ranked_minus_random_1_4"]

        def verdict(ok: bool | None) -> str:
            return "not measured" if ok is None else "**met**" if ok else "**missed**"

        parts.append(
            f"Targets (nuclei2d): AP@0.5 ≥ 0.85 after 1 tile: "
            f"{verdict(None if one is None else one >= 0.85)} ({one}); ≥ 0.88 after 4 tiles: "
            f"{verdict(None if four is None else four >= 0.88)} ({four}); ranked beats random "
            f"by ≥ 0.03 over 1-4 tiles: {verdict(None if gap is None else gap >= 0.03)} ({gap})."
        )
    for name, fig in figures.items():
        rows = [
            f"Errors in each tile of the left half ({name}) before any correction, against "
            "the truth (TP / FP / FN at IoU 0.5), and the order the ranked arm took them in:",
            "",
            "| tile (y0, x0, y1, x1) | ranked order | start model | pseudo-masks |",
            "|---|---|---|---|",
        ]
        for g in fig.get("grid_errors", []):
            start = (
                "n/a" if g["start_tp_fp_fn"] is None else " / ".join(map(str, g["start_tp_fp_fn"]))
            )
            rows.append(
                f"| {tuple(g['box'])} | {g['ranked_order'] or '-'} | {start} | "
                f"{' / '.join(map(str, g['teacher_tp_fp_fn']))} |"
            )
        parts += ["", *rows]
    if burst:
        parts.append("")
        parts.append(
            "Ranked bursts (steps, reason): "
            + ", ".join(f"{b['steps']} {b['reason']}" for b in burst)
        )
    rel = image_path.relative_to(ROOT / "docs")
    parts += ["", f"![AP@0.5 against corrected tiles and seconds]({rel})"]
    return "\n".join(parts)


SCHEDULING = ("--budget-min", "--first-seed", "--wait-min")
SUITE = {  # name: (image, labels) of one frame, relative to the data folder
    "scratch_hoechst": ("scratch_assay/hoechst_TYX.tif", "scratch_assay/nuclei_labels_TYX.tif"),
    "hela_ctc": ("hela_ctc/t19_image.tif", "hela_ctc/t19_mask.tif"),
    "bacteria_phase": ("bacteria_phase/t19_image.tif", "bacteria_phase/t19_mask.tif"),
}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default=None, help="one image (default: nuclei2d)")
    parser.add_argument("--truth", default=None, help="its true labels")
    parser.add_argument(
        "--out",
        default=str(ROOT / "bench_out" / "corrections"),
        help="cache of start models and arms",
    )
    parser.add_argument("--seeds", type=int, default=3, help="random-tile runs")
    parser.add_argument("--first-seed", type=int, default=0, help="seed of the first random run")
    parser.add_argument(
        "--wait-min", type=float, default=0, help="wait for a ranked arm run by another process"
    )
    parser.add_argument("--tiles", type=int, default=8, help="corrected tiles per arm")
    parser.add_argument("--tile", type=int, default=128, help="tile side (px)")
    parser.add_argument("--rounds", type=int, default=None, help="label-free self-training rounds")
    parser.add_argument("--arms", default="ranked,random,labels_only,labels_only_pretrained")
    parser.add_argument("--suite", action="store_true", help="the other sets: ranked vs random")
    parser.add_argument("--crop", type=int, default=512, help="suite frames: central crop side")
    parser.add_argument(
        "--budget-min", type=float, default=None, help="start no new arm after this many minutes"
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="steps of the label-free training and pretraining (default: theirs)",
    )
    parser.add_argument(
        "--burst-steps",
        type=int,
        default=None,
        help="most steps of a burst (default: FineTuneConfig's)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 256² crop, 2 tiles, 1 seed, short trainings",
    )
    parser.add_argument("--no-report", action="store_true")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    arms = args.arms.split(",")
    data = DEFAULT_IMAGE.parent
    if args.quick:
        args.tiles, args.seeds, args.rounds, args.crop = 2, 1, 0, 256
        args.steps, args.burst_steps = 20, 5
        args.out = str(Path(args.out) / "quick")
    jobs: dict[str, tuple[Path, Path, int | None]] = {}
    if args.suite:
        arms = [a for a in arms if a in ("ranked", "random")]
        jobs = {n: (data / i, data / t, args.crop) for n, (i, t) in SUITE.items()}
    elif args.image:
        if not args.truth:
            parser.error("--image needs --truth")
        jobs = {
            Path(args.image).stem: (
                Path(args.image),
                Path(args.truth),
                args.crop if args.quick else None,
            )
        }
    else:
        jobs = {"nuclei2d": (DEFAULT_IMAGE, DEFAULT_MASK, args.crop if args.quick else None)}
    t0 = time.perf_counter()
    figures = {}
    for name, (image_path, truth_path, crop) in jobs.items():
        image, truth = load_pair(image_path, truth_path, crop)
        log(f"{name}: {image.shape}")
        figures[name] = run_image(name, image, truth, args, arms)
        figures[name].update(summarise(figures[name]))
    result = {
        **(figures[next(iter(figures))] if len(figures) == 1 else {"sets": figures}),
        "total_seconds": round(time.perf_counter() - t0, 1),
    }
    if len(figures) > 1:
        result["ranked_minus_random_1_4_mean"] = round(
            float(
                np.mean(
                    [
                        f["ranked_minus_random_1_4"]
                        for f in figures.values()
                        if f["ranked_minus_random_1_4"] is not None
                    ]
                    or [np.nan]
                )
            ),
            4,
        )
    if args.no_report or args.quick or args.image:
        print(json.dumps({"benchmark": "corrections", **result}, default=float))
        return result
    key = "corrections_suite" if args.suite else "corrections"
    image_path = ROOT / "docs" / "images" / f"bench_{key}.png"
    plot(figures, image_path)
    markdown = notes(figures, image_path)
    # Scheduling flags (which process runs which arm) change no figure: the command shown reruns
    # every arm in one process.
    words = command_line().split()
    command = " ".join(
        w
        for i, w in enumerate(words)
        if w not in SCHEDULING and (i == 0 or words[i - 1] not in SCHEDULING)
    )
    report(key, "Correction loop: a simulated user", command, markdown, result)
    return result


if __name__ == "__main__":
    main()
