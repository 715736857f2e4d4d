"""Inference overhead: megapixels/s of tiled ``segment`` ÷ a bare forward pass over the pixels.

The reference is the network run on the same image cut into non-overlapping tiles, with no
normalisation, blending or post-processing. Ours normalises the image, cuts overlapping tiles,
blends them with a smooth window (excluding post-processing) and then also turns the
probabilities into instances by seeded watershed (including post-processing). Reference and ours
run alternately, several rounds, so that load from other processes hits both alike.

Usage: python benchmarks/bench_inference_overhead.py [IMAGE] [--model MODEL_DIR] [--rounds N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import DEFAULT_IMAGE, command_line, report


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", nargs="?", default=str(DEFAULT_IMAGE))
    parser.add_argument("--model", default=None, help="MODEL_DIR (default: a briefly trained one)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tile-size", type=int, default=None, help="default: PredictConfig's")
    parser.add_argument("--repeat", type=int, default=4, help="image tiled N×N times")
    parser.add_argument("--no-report", action="store_true")
    args = parser.parse_args(argv)

    import torch

    from napari_selfsup_seg._config import ModelConfig, PredictConfig
    from napari_selfsup_seg.inference._postprocess import probabilities_to_instances
    from napari_selfsup_seg.inference._predict import predict_probabilities
    from napari_selfsup_seg.inference._tiling import tile_grid
    from napari_selfsup_seg.io._image import read_image
    from napari_selfsup_seg.models._factory import load_model
    from napari_selfsup_seg.pseudo._threshold import threshold_pseudo_mask
    from napari_selfsup_seg.train._supervised import train

    base = read_image(args.image).data
    if args.model:
        model = load_model(args.model, device="cpu")
    else:
        masks, _ = threshold_pseudo_mask(base)
        model = train(
            [base], [masks], steps=20, batch_size=4, model_config=ModelConfig.tiny(), device="cpu"
        )
    image = np.tile(base, (args.repeat, args.repeat))
    cfg = PredictConfig(device="cpu")
    if args.tile_size:
        cfg = PredictConfig(device="cpu", tile_size=args.tile_size)
    mp = image.size / 1e6
    net = model.net.eval()
    t = cfg.tile_size
    x = np.zeros((1, *image.shape), np.float32) + image.astype(np.float32) / 255
    ph, pw = -(-image.shape[0] // 32) * 32, -(-image.shape[1] // 32) * 32
    x = np.pad(x, ((0, 0), (0, ph - image.shape[0]), (0, pw - image.shape[1])))
    tiles = [x[:, r : r + t, c : c + t] for r in range(0, ph, t) for c in range(0, pw, t)]
    # The exact tiles the tiled prediction runs, for the second reference.
    depth = model.config.model.encoder_depth
    _, grid = tile_grid(image.shape, cfg.tile_size, cfg.overlap, 2**depth)
    ty, tx = grid[0][2].shape
    same = [x[:, r : r + ty, c : c + tx] for r, c, _ in grid]

    def bare(tiles) -> None:
        with torch.inference_mode():
            for i in range(0, len(tiles), cfg.batch_size):
                chunk = tiles[i : i + cfg.batch_size]
                for shape in {c.shape for c in chunk}:  # edge tiles may be smaller
                    net(torch.from_numpy(np.stack([c for c in chunk if c.shape == shape])))

    times = {"bare": [], "bare_same_tiles": [], "probs": [], "labels": []}
    for _ in range(args.rounds):
        ts = time.perf_counter()
        bare(same)
        t0 = time.perf_counter()
        times["bare_same_tiles"].append(t0 - ts)
        bare(tiles)
        t1 = time.perf_counter()
        probs = predict_probabilities(model, image, cfg)
        t2 = time.perf_counter()
        probabilities_to_instances(probs, cfg)
        t3 = time.perf_counter()
        times["bare"].append(t1 - t0)
        times["probs"].append(t2 - t1)
        times["labels"].append(t3 - t1)
    rate = {k: mp * len(v) / sum(v) for k, v in times.items()}
    result = {
        "ratio_excluding_postprocessing": rate["probs"] / rate["bare"],
        "ratio_including_postprocessing": rate["labels"] / rate["bare"],
        "ratio_excluding_postprocessing_same_tiles": rate["probs"] / rate["bare_same_tiles"],
        "tile_area_factor": len(same) * ty * tx / image.size,
        "megapixels_per_s": rate,
        "image_shape": list(image.shape),
        "tile_size": cfg.tile_size,
        "overlap": cfg.overlap,
        "batch_size": cfg.batch_size,
        "rounds": args.rounds,
        "model": f"{model.config.model.encoder} depth {model.config.model.encoder_depth}",
        "target": 0.80,
    }
    result["passed"] = result["ratio_excluding_postprocessing"] >= 0.80
    r_probs = result["ratio_excluding_postprocessing"]
    r_labels = result["ratio_including_postprocessing"]
    r_same = rate["bare_same_tiles"] / rate["bare"]
    md = f"""
Image: {image.shape[0]}×{image.shape[1]} ({args.image} tiled {args.repeat}×{args.repeat});
network U-Net {result["model"]}; tiles {cfg.tile_size}² with {cfg.overlap} px overlap, batch
{cfg.batch_size}; CPU; {args.rounds} alternating rounds.

| run | megapixels/s | ratio to bare |
|---|---|---|
| bare forward pass, non-overlapping {t}² tiles | {rate["bare"]:.3f} | 1 |
| bare forward pass over the same overlapping tiles | {rate["bare_same_tiles"]:.3f} | {r_same:.3f} |
| `predict_probabilities` (normalise, tile, blend) | {rate["probs"]:.3f} | **{r_probs:.3f}** |
| + `probabilities_to_instances` (seeded watershed) | {rate["labels"]:.3f} | {r_labels:.3f} |

Target ≥ 0.80 excluding post-processing. The overlapping tiles cover
{result["tile_area_factor"]:.2f}× the image's area, which is compute the reference does not
spend; against a bare pass over exactly those tiles, normalising, blending and accumulating
keep {result["ratio_excluding_postprocessing_same_tiles"]:.3f} of the speed.
"""
    if args.no_report:
        print(result)
    else:
        report("inference_overhead", "Inference overhead", command_line(), md, result)
    return result


if __name__ == "__main__":
    main()
