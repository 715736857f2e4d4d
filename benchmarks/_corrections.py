"""The simulated user of ``bench_corrections.py``: start models, arms of correction rounds, scores.

Each arm corrects one tile per round (true labels copied into it) and fine-tunes the model with
``api.fine_tune``; its predictions after ``COUNTS`` tiles are kept (and cached) for scoring.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

from bench_teacher import stack

COUNTS = (0, 1, 2, 4, 8)
Box = tuple[int, int, int, int]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def start_model(
    image: np.ndarray, cache: Path, rounds: int | None = None, steps: int | None = None
):
    """The label-free model and its threshold pseudo-masks (labels, map), cached in ``cache``.

    Returns
    -------
    model : LoadedModel
    teacher_labels : numpy.ndarray of int, ``(Y, X)``
    teacher_map : numpy.ndarray of float, ``(Y, X)``
    seconds : float
        Of the label-free run (as measured when it was cached).
    """
    from napari_selfsup_seg import api
    from napari_selfsup_seg.workflows._self_training import SelfTrainingConfig

    meta_path = cache / "start.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if (
            meta["shape"] == list(image.shape)
            and meta["rounds"] == rounds
            and meta.get("steps") == steps
        ):
            teacher = np.load(cache / "teacher.npz")
            model = api.load_model(cache / "start", device="cpu")
            return model, teacher["labels"], teacher["map"], meta["seconds"]
    log(f"label-free start model -> {cache}")
    config = SelfTrainingConfig() if rounds is None else SelfTrainingConfig(rounds=rounds)
    t0 = time.perf_counter()
    train = None if steps is None else api.TrainConfig(steps=steps, device="cpu")
    result = api.label_free(
        [image], config=config, train_config=train, callback=_every_minute("label-free")
    )
    seconds = round(time.perf_counter() - t0, 1)
    cache.mkdir(parents=True, exist_ok=True)
    result.model.save(cache / "start")
    teacher = result.teacher
    assert teacher is not None  # label_free sets it
    labels, tmap = teacher.labels[0], teacher.maps[0]
    np.savez_compressed(cache / "teacher.npz", labels=labels, map=tmap)
    meta = {
        "shape": list(image.shape),
        "rounds": rounds,
        "steps": steps,
        "seconds": seconds,
        "self_training": result.rounds,
    }
    meta_path.write_text(json.dumps(meta, default=float))
    return result.model, labels, tmap, seconds


def _every_minute(prefix: str):
    last = [0.0]

    def callback(record) -> None:
        if time.perf_counter() - last[0] > 60:
            last[0] = time.perf_counter()
            log(f"{prefix}: {record.stage} {record.done}/{record.total} {record.message or ''}")

    return callback


def pretrained_model(image: np.ndarray, cache: Path, steps: int | None = None):
    """A U-Net pretrained without labels on ``image`` (``api.pretrain`` defaults), cached."""
    from napari_selfsup_seg import api

    if (cache / "pretrained.done").exists():
        return api.load_model(cache / "pretrained", device="cpu")
    log(f"pretraining -> {cache / 'pretrained'}")
    model = api.pretrain([image], steps=steps, device="cpu", callback=_every_minute("pretrain"))
    cache.mkdir(parents=True, exist_ok=True)
    model.save(cache / "pretrained")
    (cache / "pretrained.done").write_text("")
    return model


def fresh_model(like):
    """An untrained network with the architecture, normalisation and recipe of ``like``."""
    import torch

    from napari_selfsup_seg import api

    torch.manual_seed(0)
    net = api.build_model(like.config.model).to("cpu").eval()
    config = dataclasses.replace(like.config, provenance={"init": "random"}, diameter=None)
    return api.LoadedModel(net=net, config=config, device=torch.device("cpu"))


def grid_boxes(shape: tuple[int, int], side: int) -> list[Box]:
    """Non-overlapping ``side`` tiles ``(y0, x0, y1, x1)`` of the left half of a plane."""
    h, w = shape
    return [
        (y, x, y + side, x + side)
        for y in range(0, h - side + 1, side)
        for x in range(0, w // 2 - side + 1, side)
    ]


def corrected(masks: np.ndarray, truth: np.ndarray, box: Box, offset: int) -> np.ndarray:
    """``masks`` with the true labels copied into ``box`` (ids shifted past the pseudo-masks')."""
    y0, x0, y1, x1 = box
    out = masks.copy()
    t = truth[y0:y1, x0:x1].astype(np.int64)
    out[y0:y1, x0:x1] = np.where(t > 0, t + offset, 0)
    return out


def score_outside(pred: np.ndarray, truth: np.ndarray, excluded: np.ndarray, match) -> dict:
    """AP@0.5 where no tile was ever corrected.

    True objects with a pixel in ``excluded`` are dropped; predicted objects with at least half
    their area in ``excluded`` or in a dropped true object are dropped; the rest are matched
    (``score_instances.match``, IoU >= 0.5).
    """
    gt = truth.astype(np.int64)
    drop_gt = np.unique(gt[excluded & (gt > 0)])
    gt_dropped = np.isin(gt, drop_gt) & (gt > 0)
    gt_kept = np.where(gt_dropped, 0, gt)
    pr = pred.astype(np.int64)
    area = np.bincount(pr.ravel())
    inside = np.bincount(pr.ravel(), weights=(excluded | gt_dropped).ravel(), minlength=area.size)
    drop_pr = np.flatnonzero((inside >= 0.5 * area) & (area > 0))
    pr_kept = np.where(np.isin(pr, drop_pr[drop_pr > 0]), 0, pr)
    tp, fp, fn = match(gt_kept, pr_kept, 0.5)
    return {"ap50": round(tp / max(tp + fp + fn, 1), 4), "tp": tp, "fp": fp, "fn": fn}


def run_arm(arm: str, setup: dict, tiles: int, seed: int = 0, plan: list[Box] | None = None):
    """Correct ``tiles`` tiles one round at a time; predictions after ``COUNTS`` tiles.

    Returns ``{"boxes", "round_seconds", "bursts", "preds": {count: labels}}``.
    """
    from napari_selfsup_seg import api
    from napari_selfsup_seg._config import PredictConfig
    from napari_selfsup_seg.workflows._queue import QueueConfig

    image, truth, side = setup["image"], setup["truth"], setup["side"]
    outside = "ignore" if arm.startswith("labels_only") else "pseudo"
    if arm == "labels_only":
        model = fresh_model(setup["model"])
    elif arm == "labels_only_pretrained":
        model = setup["pretrained"]
    else:
        model = setup["model"]
    masks = setup["teacher"].astype(np.int64)
    offset = int(masks[masks != api.IGNORE_LABEL].max()) + 1
    holdout = (0, image.shape[-1] // 2, image.shape[-2], image.shape[-1])
    queue_config = QueueConfig(tile_size=side, stride=1.0, device="cpu")
    order = list(np.random.default_rng(seed).permutation(len(setup["grid"])))
    predict = PredictConfig(device="cpu")
    boxes: list[Box] = []
    out: dict = {
        "boxes": boxes,
        "round_seconds": [],
        "bursts": [],
        "queue_seconds": [],
        "preds": {},
    }
    if 0 in COUNTS and arm in ("ranked", "random"):
        out["preds"][0] = api.predict_labels(model, image, predict)
    elif 0 in COUNTS:
        out["preds"][0] = None  # an untrained head: nothing to score
    for k in range(1, tiles + 1):
        t0 = time.perf_counter()
        if plan is not None:
            box = plan[k - 1]
        elif arm == "ranked":
            queue = api.correction_queue(
                image,
                masks,
                setup["map"],
                model,
                reviewed=[*boxes, holdout],
                config=queue_config,
                top=1,
            )
            if not queue:
                log(f"{arm}: the queue proposed no tile after {len(boxes)}")
                break
            box = tuple(int(v) for v in queue[0].box)  # type: ignore[assignment]
        else:
            box = setup["grid"][order[k - 1]]
        out["queue_seconds"].append(round(time.perf_counter() - t0, 2))
        boxes.append(box)
        masks = corrected(masks, truth, box, offset)
        model = api.fine_tune(
            model,
            [image],
            [masks.astype(np.uint32)],
            list(boxes),
            maps=[setup["map"]],
            config=dataclasses.replace(setup["burst"], outside=outside),
        )
        seconds = time.perf_counter() - t0
        burst = model.config.provenance["fine_tune"][-1]
        out["round_seconds"].append(round(seconds, 1))
        out["bursts"].append({key: burst[key] for key in ("steps", "reason", "seconds")})
        log(
            f"{arm} seed {seed}: tile {k} {box}, {burst['steps']} steps ({burst['reason']}), "
            f"{seconds:.0f} s"
        )
        if k in COUNTS:
            out["preds"][k] = api.predict_labels(model, image, predict)
    return out


def cached_arm(cache: Path, key: str, run) -> dict:
    """``run()``'s result, read from ``cache/arms/key.*`` when an earlier run saved it."""
    meta, preds = cache / "arms" / f"{key}.json", cache / "arms" / f"{key}.npz"
    if meta.exists() and preds.exists():
        out = json.loads(meta.read_text())
        out["boxes"] = [tuple(b) for b in out["boxes"]]
        with np.load(preds) as data:
            out["preds"] = {int(k[1:]): data[k] for k in data.files}
        out["preds"].update({int(k): None for k in out.pop("unscored", [])})
        return out
    out = run()
    meta.parent.mkdir(parents=True, exist_ok=True)
    kept = {f"n{k}": v for k, v in out["preds"].items() if v is not None}
    np.savez_compressed(preds, **kept)
    unscored = [k for k, v in out["preds"].items() if v is None]
    meta.write_text(
        json.dumps({**{k: v for k, v in out.items() if k != "preds"}, "unscored": unscored})
    )
    return out


def load_pair(image_path: Path, truth_path: Path, crop: int | None) -> tuple[np.ndarray, ...]:
    """First plane of an image and its labels; a ``crop``² region around the objects if larger.

    The crop is centred on the centroid of the true foreground (clipped to the plane).
    """
    image, truth = stack(image_path)[0], stack(truth_path)[0]
    if crop:
        h, w = image.shape
        ys, xs = np.nonzero(truth)
        cy, cx = (int(ys.mean()), int(xs.mean())) if ys.size else (h // 2, w // 2)
        y = int(np.clip(cy - crop // 2, 0, max(0, h - crop)))
        x = int(np.clip(cx - crop // 2, 0, max(0, w - crop)))
        image, truth = image[y : y + crop, x : x + crop], truth[y : y + crop, x : x + crop]
    return image, truth
