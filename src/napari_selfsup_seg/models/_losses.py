"""Loss of the instance U-Net: cross-entropy plus soft Dice, both blind to ignored pixels."""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE_INDEX = 255


def segmentation_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    dice_weight: float = 1.0,
    class_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Cross-entropy (``ignore_index=255``) plus soft Dice over the classes.

    Parameters
    ----------
    logits : torch.Tensor
        Shape ``(B, K, H, W)`` raw network outputs.
    target : torch.Tensor of int64
        Shape ``(B, H, W)`` class indices in ``[0, K)`` or 255 for pixels that add nothing to the
        loss (neither to its value nor to its gradient).
    dice_weight : float
        Weight of the Dice term.
    class_weights : torch.Tensor, optional
        Shape ``(K,)`` cross-entropy class weights.

    Returns
    -------
    torch.Tensor
        Scalar loss (0 when every pixel is ignored).
    """
    logits = logits.float()
    valid = target != IGNORE_INDEX
    n_valid = valid.sum()
    if int(n_valid) == 0:
        return logits.sum() * 0.0
    ce = F.cross_entropy(
        logits, target, weight=class_weights, ignore_index=IGNORE_INDEX, reduction="mean"
    )
    if dice_weight <= 0:
        return ce
    k = logits.shape[1]
    prob = torch.softmax(logits, dim=1)
    validf = valid.unsqueeze(1).to(prob.dtype)
    safe = torch.where(valid, target, torch.zeros_like(target))
    onehot = F.one_hot(safe, k).permute(0, 3, 1, 2).to(prob.dtype) * validf
    # torch.where rather than a product: ignored pixels get an exactly zero gradient even where
    # the softmax is not finite.
    prob = torch.where(valid.unsqueeze(1), prob, torch.zeros_like(prob))
    dims = (0, 2, 3)
    inter = (prob * onehot).sum(dims)
    denom = prob.sum(dims) + onehot.sum(dims)
    dice = (2.0 * inter + 1.0) / (denom + 1.0)
    return ce + dice_weight * (1.0 - dice.mean())
