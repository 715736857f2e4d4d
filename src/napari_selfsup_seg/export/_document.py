"""What a bioimage.io package says about its model: the provenance of its training labels, its
README (the package's documentation) and its cover image.

The provenance is read from the model's ``config.json`` (``provenance``, written by training):
the pseudo-mask method and its parameters, how many planes were reviewed (corrected) by hand,
the self-training rounds and the model fine-tuned from. What a model does not record is shown
as "not recorded", never guessed.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .._config import ModelBundleConfig

NOT_RECORDED = "not recorded"

#: Keys that name the pseudo-mask method, at the top of the provenance or under ``pseudo``.
_METHOD_KEYS = ("method",)
#: Keys holding the list (or count) of planes reviewed or corrected by hand.
_REVIEWED_KEYS = ("reviewed", "corrected", "corrected_tiles", "n_corrected")
#: Keys holding the number of self-training rounds.
_ROUND_KEYS = ("self_training_rounds", "rounds")
#: Keys that are bookkeeping rather than pseudo-mask parameters.
_NOT_PARAMETERS = {
    *_METHOD_KEYS,
    *_REVIEWED_KEYS,
    *_ROUND_KEYS,
    "init",
    "images",
    "masks",
    "frames",
    "held_out",
    "masks_layer",
    "pseudo",
}


def _short(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def pseudo_of(prov: dict[str, Any]) -> dict[str, Any]:
    """The pseudo-mask record nested in a provenance (the Train widget's ``pseudo``), or ``{}``."""
    pseudo = prov.get("pseudo")
    return pseudo if isinstance(pseudo, dict) else {}


def method_of(prov: dict[str, Any]) -> str | None:
    """The pseudo-mask method a provenance names, if any."""
    method = _first(prov, _METHOD_KEYS)
    return None if method is None else str(method)


def _first(prov: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for source in (prov, pseudo_of(prov)):
        for key in keys:
            if key in source and source[key] not in (None, ""):
                return source[key]
    return None


def provenance_items(config: ModelBundleConfig) -> list[tuple[str, str]]:
    """The provenance of a model's training labels as ``(what, value)`` rows.

    Parameters
    ----------
    config : ModelBundleConfig
        The model's config (its ``provenance`` and ``training`` dicts are read).

    Returns
    -------
    list of (str, str)
        Pseudo-mask method, its parameters, planes corrected by hand, self-training rounds,
        initial model and training steps, each ``"not recorded"`` when the model lacks it.
    """
    prov = dict(config.provenance or {})
    method = method_of(prov)
    params = {k: v for k, v in {**prov, **pseudo_of(prov)}.items() if k not in _NOT_PARAMETERS}
    reviewed = _first(prov, _REVIEWED_KEYS)
    if isinstance(reviewed, (list, tuple)):
        reviewed = f"{len(reviewed)} (planes {_short(list(reviewed), 60)})"
    rounds = _first(prov, _ROUND_KEYS)
    steps = config.training.get("steps")
    return [
        ("pseudo-mask method", method or NOT_RECORDED),
        ("pseudo-mask parameters", _short(params, 600) if params else NOT_RECORDED),
        ("planes corrected by hand", NOT_RECORDED if reviewed is None else str(reviewed)),
        ("self-training rounds", NOT_RECORDED if rounds is None else str(rounds)),
        ("fine-tuned from", str(prov["init"]) if prov.get("init") else "none recorded"),
        ("training steps", NOT_RECORDED if steps is None else str(steps)),
    ]


def provenance_summary(config: ModelBundleConfig) -> str:
    """One sentence on where the training labels came from (for the package's description)."""
    rows = dict(provenance_items(config))
    return (
        f"Trained on pseudo-masks (method: {rows['pseudo-mask method']}; planes corrected by "
        f"hand: {rows['planes corrected by hand'].split(' (')[0]}; self-training rounds: "
        f"{rows['self-training rounds']})."
    )


def held_out_scores(config: ModelBundleConfig, log: list[dict[str, float]]) -> str:
    """The last held-out validation scores in a training log, as a sentence (or ``""``)."""
    rows = [r for r in log if "val_ap50" in r]
    if not rows:
        return ""
    last = rows[-1]
    frames = (config.provenance or {}).get("held_out")
    where = f" (frames {frames})" if frames else ""
    f1 = f", pixel F1 {last['val_pixel_f1']:.3f}" if "val_pixel_f1" in last else ""
    return (
        f"During training, on held-out reviewed masks{where}: AP@0.5 {last['val_ap50']:.3f}{f1} "
        f"at step {int(last.get('step', 0))}. "
    )


def readme_text(
    name: str,
    config: ModelBundleConfig,
    weight_formats: list[str],
    test_shape: tuple[int, ...],
    channel_names: list[str],
    class_names: list[str],
    log: list[dict[str, float]],
) -> str:
    """The package's ``README.md``: the model, its input, its output, the provenance of its
    training labels, how to run it and how to validate it.
    """
    norm = config.normalization
    clip = f", clipped to [{-norm.clip_margin:g}, {1 + norm.clip_margin:g}]" if norm.clip else ""
    step = 2**config.model.encoder_depth
    rows = "\n".join(f"| {k} | {v} |" for k, v in provenance_items(config))
    extra = {k: _short(v) for k, v in (config.provenance or {}).items()}
    recorded = "\n".join(f"- `{k}`: {v}" for k, v in extra.items()) or f"- {NOT_RECORDED}"
    log_file = "`training_log.csv` (one row per logged step)" if log else NOT_RECORDED
    return f"""# {name}

A U-Net ({config.model.encoder} encoder, {config.model.encoder_depth} stages) that segments
objects (e.g. nuclei or cells) in 2D microscopy planes, trained with napari-selfsup-seg
{config.package_version or "(version not recorded)"} on pseudo-masks rather than hand-drawn masks.

## Input

`image`: `(batch, channel, y, x)` with channel(s) {", ".join(channel_names)}; y and x are
multiples of {step} (at least {4 * step}). Pre-processing (in the package): per plane and
channel, intensity percentiles {norm.lower_percentile:g} and {norm.upper_percentile:g} are mapped
to 0 and 1{clip}, as in training.

## Output

`probabilities`: `(batch, channel, y, x)`, softmax over the classes {", ".join(class_names)}.
napari-selfsup-seg turns them into instance labels with a seeded watershed
(`napari-selfsup-seg segment --model THIS.zip IMAGE --out DIR`); other tools get the
probabilities.

## Training labels

| what | value |
|---|---|
{rows}

Recorded provenance (`config.json`, key `provenance`):

{recorded}

Training recipe: `config.json` (key `training`); training log: {log_file}.

## Weights

{", ".join(weight_formats)}. The PyTorch state dict loads into
`napari_selfsup_seg.api.build_unet(**kwargs)` with the kwargs in `rdf.yaml`.

## Validation

The test input ({"x".join(map(str, test_shape))}) and its expected output were computed by this
model at export. Check that the package reproduces them with
`bioimageio test THIS.zip` (or in Python, `bioimageio.core.test_model("THIS.zip")`).
{held_out_scores(config, log) or "No held-out validation was recorded. "}To measure the
model on your own reference labels: `napari-selfsup-seg evaluate --pred ... --gt ...`.
"""


def cover_image(image: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """A 2:1 RGB cover: the input (left) and the class probabilities over it (right).

    Parameters
    ----------
    image : numpy.ndarray of float
        Shape ``(Y, X)``, normalised to about [0, 1].
    probabilities : numpy.ndarray of float
        Shape ``(classes, Y, X)``; class 1 (interior) is drawn green, class 2 (boundary) magenta.

    Returns
    -------
    numpy.ndarray of uint8
        Shape ``(Y, 2 * X, 3)``.
    """
    grey = np.clip(image, 0.0, 1.0)
    left = np.repeat(grey[..., None], 3, axis=-1)
    inner = probabilities[1] if len(probabilities) > 1 else probabilities[0]
    edge = probabilities[2] if len(probabilities) > 2 else np.zeros_like(inner)
    tint = np.stack([edge, inner, edge], axis=-1)
    right = 0.5 * left + 0.5 * np.clip(tint, 0.0, 1.0)
    return (np.concatenate([left, right], axis=1) * 255).round().astype(np.uint8)
