"""The whole loop on generated sample data, as one generator: ``napari-selfsup-seg demo``.

1. Generate paired brightfield/fluorescence fields of nuclei with known masks.
2. Make pseudo-masks from the *fluorescent* channel (threshold + watershed), no drawing.
3. Train a U-Net whose input is the *brightfield* channel on those pseudo-masks.
4. Segment held-out brightfield fields and score them against the true masks.
5. Write the images, labels, metrics JSON and a PNG figure a person can look at.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._config import (
    ConfigBase,
    ModelConfig,
    TrainConfig,
    _check_range,
    check_device,
    device_setting,
    setting,
)
from .._progress import Progress, Stage
from ..data._synthetic import BRIGHTFIELD_CHANNEL, FLUORESCENCE_CHANNEL, make_sample_stack
from ..io._tiff_write import write_image, write_labels
from ..pseudo._threshold import threshold_pseudo_mask


@dataclass
class DemoResult:
    """What the demo produced.

    Attributes
    ----------
    out_dir : pathlib.Path
        Folder with every output.
    metrics : dict
        ``teacher`` (threshold of the fluorescence vs truth) and ``model`` (brightfield U-Net vs
        truth) scores on the held-out fields, from
        :func:`napari_selfsup_seg.evaluation._metrics.evaluate`.
    files : dict of str to str
        Name of each output and its path.
    seconds : float
        Wall time of the whole run.
    """

    out_dir: Path
    metrics: dict
    files: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def _demo_model() -> ModelConfig:
    return ModelConfig(encoder="resnet18", encoder_depth=4)


@dataclass
class DemoConfig(ConfigBase):
    """What the demo generates and trains.

    Attributes
    ----------
    steps : int
        Training steps.
    size : int
        Side of each generated field in pixels.
    n_train : int
        Generated fields used for training.
    n_test : int
        Generated fields used for scoring.
    seed : int
        Seed of the data and the training run.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"mps"``.
    model : ModelConfig
        The network: a ResNet-18 U-Net with four stages, one more than the package default
        (:class:`~napari_selfsup_seg._config.ModelConfig`), which is what the demo's figures in
        the README (time and AP@0.5) are measured with.
    """

    steps: int = setting(250, "training steps")
    size: int = setting(256, "side of each generated field")
    n_train: int = 4
    n_test: int = 2
    seed: int = setting(0, "random seed")
    device: str = device_setting()
    model: ModelConfig = field(default_factory=_demo_model)

    def __post_init__(self) -> None:
        _check_range("steps", self.steps, 1, 1_000_000)
        _check_range("size", self.size, 64, 4096)
        _check_range("n_train", self.n_train, 1, 1000)
        _check_range("n_test", self.n_test, 1, 1000)
        check_device(self.device)


def run_demo_iter(
    out_dir: str | Path,
    config: DemoConfig | None = None,
    stop: Callable[[], bool] | None = None,
) -> Generator[Progress, None, DemoResult]:
    """Run the demo loop, yielding progress; returns a :class:`DemoResult`.

    Parameters
    ----------
    out_dir : path-like
        Output folder (created).
    config : DemoConfig, optional
        Sizes, steps, seed, device and network (defaults: :class:`DemoConfig`).
    stop : callable, optional
        Return True to end training early (the model trained so far is used).
    """
    from ..evaluation._metrics import evaluate
    from ..inference._predict import predict_labels
    from ..models._factory import save_model
    from ..train._supervised import train_iter

    config = config or DemoConfig()
    steps, size, seed = config.steps, config.size, config.seed
    n_train, n_test = config.n_train, config.n_test
    t0 = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}

    yield Progress(Stage.DEMO, 0, 4, "generating sample data")
    image, truth = make_sample_stack(n_train + n_test, (size, size), seed=seed)
    files["images"] = str(write_image(out / "sample_images.tif", image, axes="ZCYX"))
    files["truth"] = str(write_labels(out / "sample_truth.tif", truth, axes="ZYX"))

    yield Progress(Stage.DEMO, 1, 4, "pseudo-masks from the fluorescent channel")
    pseudo = np.stack([threshold_pseudo_mask(p)[0] for p in image[:, FLUORESCENCE_CHANNEL]])
    files["pseudo_masks"] = str(write_labels(out / "sample_pseudo.tif", pseudo, axes="ZYX"))

    yield Progress(Stage.DEMO, 2, 4, "training on the brightfield channel")
    train_config = TrainConfig(steps=steps, seed=seed, device=config.device)
    bf = image[:, BRIGHTFIELD_CHANNEL]
    model = yield from train_iter(
        list(bf[:n_train]),
        list(pseudo[:n_train]),
        train_config=train_config,
        model_config=config.model,
        provenance={
            "method": "threshold",
            "source": "fluorescence channel of generated sample data",
            "channel": FLUORESCENCE_CHANNEL,
        },
        stop=stop,
    )
    save_model(out / "model", model.net, model.config, model.log)
    files["model"] = str(out / "model")

    yield Progress(Stage.DEMO, 3, 4, "segmenting held-out brightfield fields")
    pred = np.stack([predict_labels(model, p) for p in bf[n_train:]])
    files["predictions"] = str(write_labels(out / "test_predictions.tif", pred, axes="ZYX"))
    test_truth = list(truth[n_train:])
    metrics = {
        "teacher_fluorescence_threshold": evaluate(list(pseudo[n_train:]), test_truth),
        "model_brightfield": evaluate(list(pred), test_truth),
        "n_train_fields": n_train,
        "n_test_fields": n_test,
        "steps": steps,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    files["metrics"] = str(out / "metrics.json")
    files["figure"] = str(
        _figure(
            out / "demo.png",
            bf[n_train],
            image[n_train, FLUORESCENCE_CHANNEL],
            pseudo[n_train],
            pred[0],
            truth[n_train],
            model.log,
            metrics,
        )
    )
    yield Progress(Stage.DEMO, 4, 4, "done")
    return DemoResult(out, metrics, files, time.perf_counter() - t0)


def _figure(path, bf, fluo, pseudo, pred, truth, log, metrics) -> Path:
    """A 2×3 panel: inputs, pseudo-mask, prediction, truth, loss curve."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from skimage.segmentation import find_boundaries

    def overlay(ax, img, labels, title):
        ax.imshow(img, cmap="gray")
        edges = np.ma.masked_where(~find_boundaries(labels), np.ones_like(labels))
        ax.imshow(edges, cmap="autumn", interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.axis("off")

    t = metrics["teacher_fluorescence_threshold"]
    m = metrics["model_brightfield"]
    fig, axes = plt.subplots(2, 3, figsize=(11, 7.5))
    axes[0, 0].imshow(bf, cmap="gray")
    axes[0, 0].set_title("brightfield (network input)", fontsize=9)
    axes[0, 0].axis("off")
    axes[0, 1].imshow(fluo, cmap="magma")
    axes[0, 1].set_title("fluorescence (source of pseudo-masks)", fontsize=9)
    axes[0, 1].axis("off")
    overlay(axes[0, 2], fluo, pseudo, f"pseudo-mask (threshold), AP@0.5 {t['ap']['0.5']:.2f}")
    overlay(axes[1, 0], bf, pred, f"U-Net on brightfield, AP@0.5 {m['ap']['0.5']:.2f}")
    overlay(axes[1, 1], bf, truth, "true masks (never used for training)")
    ax = axes[1, 2]
    steps = [r["step"] for r in log]
    losses = [r["loss"] for r in log]
    if losses:
        ax.plot(steps, losses, lw=0.8, color="0.6", label="loss")
        k = max(1, len(losses) // 20)
        smooth = np.convolve(losses, np.ones(k) / k, mode="valid")
        ax.plot(steps[k - 1 :], smooth, lw=1.5, color="C0", label="moving average")
        ax.legend(fontsize=8)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_title("training", fontsize=9)
    fig.suptitle("napari-selfsup-seg demo: no hand-drawn masks", fontsize=11)
    fig.tight_layout()
    tmp = path.with_suffix(".part.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(path)
    return path
