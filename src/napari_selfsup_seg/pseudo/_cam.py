"""The bare class-activation maps: Score-CAM (chunked over channels) and Grad-CAM.

Re-exported by :mod:`napari_selfsup_seg.pseudo._scorecam`; torch is imported inside the
functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .._errors import InputError

if TYPE_CHECKING:
    import torch

WEIGHTINGS = ("probability", "softmax")

CAM_LAYERS = ("stride2", "stride4", "stride8", "fused")
"""Layers of the weak-label classifier a Score-CAM map can be read from (its ``cam_layers``)."""


def _as_batch(inputs) -> torch.Tensor:
    import torch

    x = torch.as_tensor(np.asarray(inputs) if not torch.is_tensor(inputs) else inputs)
    x = x.float()
    if x.ndim == 2:
        x = x[None, None]
    elif x.ndim == 3:
        x = x[None]
    if x.ndim != 4:
        raise InputError(f"expected inputs (B, C, H, W), got shape {tuple(x.shape)}")
    return x


def _capture(model, layer, x):
    """Run ``model(x)`` once and return (logits, activations of ``layer``).

    ``layer`` may be a sequence of modules: their activations are then upsampled to the
    largest one's size and stacked along the channels (one map per channel of every layer).
    """
    import torch
    import torch.nn.functional as F

    layers = list(layer) if isinstance(layer, (list, tuple)) else [layer]
    store: dict[int, torch.Tensor] = {}
    handles = [
        m.register_forward_hook(lambda _m, _i, out, k=k: store.__setitem__(k, out))
        for k, m in enumerate(layers)
    ]
    try:
        logits = model(x)
    finally:
        for handle in handles:
            handle.remove()
    acts = [store[k] for k in range(len(layers))]
    if len(acts) == 1:
        return logits, acts[0]
    size = max((a.shape[-2:] for a in acts), key=lambda s: s[0] * s[1])
    acts = [
        a if a.shape[-2:] == size else F.interpolate(a, size=tuple(size), mode="bilinear")
        for a in acts
    ]
    return logits, torch.cat(acts, 1)


def _channels_last(model: torch.nn.Module, x: torch.Tensor) -> torch.nn.Module:
    """A copy of ``model`` with its weights in channels-last layout, for the masked inputs.

    On the CPU, convolutions in that layout ran 1.3-1.4× faster (one thread; the weak-label
    classifier and the 512-channel probe of ``benchmarks/bench_scorecam.py``), with logits equal
    to about 1e-6. The caller's model is left as it is; on other devices, or when the model
    cannot be copied, it is used unchanged.
    """
    import copy

    import torch

    if x.device.type != "cpu":
        return model
    try:
        return copy.deepcopy(model).to(memory_format=torch.channels_last)
    except (TypeError, RuntimeError, copy.Error):  # a model that cannot be copied runs as it is
        return model


def _minmax_channels(t: torch.Tensor) -> torch.Tensor:
    """Min-max normalise each map of ``(K, H, W)`` (maps must not be constant)."""
    lo = t.amin((1, 2), keepdim=True)
    hi = t.amax((1, 2), keepdim=True)
    return (t - lo) / (hi - lo)


def scorecam(
    model: torch.nn.Module,
    layer: torch.nn.Module,
    inputs,
    target_class: int,
    chunk_size: int = 32,
    top_n: int | None = None,
    weighting: str = "probability",
) -> np.ndarray:
    """Score-CAM saliency maps, chunked over channels.

    For each image and each channel ``k`` of ``layer``'s activation: upsample the map to the
    input size, min-max normalise it (constant maps are skipped), multiply the input by it,
    classify, and take the softmax probability of ``target_class`` as the channel's weight.
    Saliency = ReLU(Σ weight·map), min-max normalised.

    Parameters
    ----------
    model : torch.nn.Module
        Classifier returning logits ``(B, n_classes)``; put in eval mode.
    layer : torch.nn.Module or sequence of torch.nn.Module
        A module of ``model`` whose output ``(B, K, h, w)`` is used; with several modules,
        their outputs are upsampled to the finest one's size and their channels taken together.
    inputs : torch.Tensor or numpy.ndarray
        Shape ``(B, C, H, W)`` (``(H, W)`` and ``(C, H, W)`` are promoted).
    target_class : int
        Class whose probability weights the channels.
    chunk_size : int
        Masked inputs classified per forward pass; peak memory is about
        ``chunk_size × C × H × W`` floats whatever ``K`` is. It does not change the result.
    top_n : int, optional
        Keep only the ``top_n`` channels with the largest spatial variance of activation
        (per image); ``None`` uses every non-constant channel.
    weighting : str
        ``"probability"`` (the recipe: the class probability of the masked input),
        or ``"softmax"`` (softmax over channels of the
        class logits of the masked inputs, as pytorch-grad-cam does). Chunking is exact for
        all three: ``"softmax"`` keeps a running maximum of the logits.

    Returns
    -------
    numpy.ndarray of float32
        Shape ``(B, H, W)`` in [0, 1] (all zeros when no channel contributes).
    """
    import torch
    import torch.nn.functional as F

    if chunk_size < 1:
        raise InputError(f"chunk_size must be >= 1, got {chunk_size}")
    if weighting not in WEIGHTINGS:
        raise InputError(f"weighting must be one of {', '.join(WEIGHTINGS)}, got {weighting!r}")
    if top_n is not None and top_n < 1:
        raise InputError(f"top_n must be >= 1 or None, got {top_n}")
    x = _as_batch(inputs)
    b, _, h, w = x.shape
    model.eval()
    out = np.zeros((b, h, w), np.float32)
    fast = _channels_last(model, x)
    with torch.inference_mode():
        logits, acts = _capture(model, layer, x)
        if not 0 <= target_class < logits.shape[1]:
            raise InputError(f"target_class {target_class} out of range ({logits.shape[1]})")
        for i in range(b):
            a = acts[i]
            span = a.amax((1, 2)) - a.amin((1, 2))
            idx = torch.nonzero(span > 0).flatten()
            if top_n is not None and idx.numel() > top_n:
                var = a[idx].flatten(1).var(1)
                idx = idx[torch.argsort(var, descending=True)[:top_n]]
            sal = torch.zeros((h, w))
            run_max = -float("inf")
            for start in range(0, idx.numel(), chunk_size):
                sel = idx[start : start + chunk_size]
                up = F.interpolate(a[sel][None], size=(h, w), mode="bilinear", align_corners=False)
                up = _minmax_channels(up[0])
                out_c = fast(x[i][None] * up[:, None])
                if weighting == "softmax":
                    # exp(z - max) summed chunk by chunk, rescaled when the max grows; the
                    # common factor cancels in the final normalisation.
                    z = out_c[:, target_class]
                    new_max = max(run_max, float(z.max()))
                    if run_max > -float("inf"):
                        sal *= float(np.exp(run_max - new_max))
                    run_max = new_max
                    weight = torch.exp(z - new_max)
                else:
                    weight = torch.softmax(out_c, 1)[:, target_class]
                sal += torch.einsum("k,khw->hw", weight, up)
            sal = torch.relu(sal)
            lo, hi = sal.min(), sal.max()
            if float(hi - lo) > 0:
                out[i] = ((sal - lo) / (hi - lo)).numpy()
    return out


def gradcam(model: torch.nn.Module, layer: torch.nn.Module, inputs, target_class: int):
    """Grad-CAM maps: one forward and one backward pass, a cheap preview of Score-CAM.

    Parameters
    ----------
    model, layer, inputs, target_class
        As for :func:`scorecam`.

    Returns
    -------
    numpy.ndarray of float32
        Shape ``(B, H, W)`` in [0, 1]: ReLU(Σ_k mean(∂logit_c/∂A_k)·A_k), upsampled, normalised.
    """
    import torch
    import torch.nn.functional as F

    x = _as_batch(inputs)
    h, w = x.shape[-2:]
    model.eval()
    with torch.enable_grad():
        logits, acts = _capture(model, layer, x)
        (grad,) = torch.autograd.grad(logits[:, target_class].sum(), acts)
    cam = torch.relu((grad.mean((2, 3), keepdim=True) * acts).sum(1, keepdim=True)).detach()
    cam = F.interpolate(cam, size=(h, w), mode="bilinear", align_corners=False)[:, 0]
    lo = cam.amin((1, 2), keepdim=True)
    hi = cam.amax((1, 2), keepdim=True)
    cam = torch.where(hi > lo, (cam - lo) / (hi - lo).clamp_min(1e-12), torch.zeros_like(cam))
    return cam.numpy().astype(np.float32)
