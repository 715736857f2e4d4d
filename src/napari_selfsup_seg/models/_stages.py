"""Encoder stages a shallow U-Net never runs, and removing them so they are not trained or saved.

segmentation-models-pytorch builds every stage of an encoder and only stops early in
``forward``: a depth-3 ResNet-18 would otherwise carry (and save) about 11 M unused parameters.
Known encoders: the ResNets, MobileNetV2 and the EfficientNets of segmentation-models-pytorch
(every encoder the Train widget offers). For any other encoder nothing is removed.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class SkippedBlock(nn.Module):
    """Stands in for an encoder block whose output the encoder computes but never returns.

    It keeps the block's place (and the length of its list), returns its input unchanged and
    holds no weights.
    """

    def forward(self, x: torch.Tensor, *args: Any) -> torch.Tensor:
        """Return ``x``."""
        return x


def _encoder_classes() -> dict[str, type]:
    """The smp encoder classes this module knows, by kind (those that cannot be imported are
    left out)."""
    classes: dict[str, type] = {}
    try:
        from segmentation_models_pytorch.encoders.resnet import ResNetEncoder

        classes["resnet"] = ResNetEncoder
    except ImportError:
        pass
    try:
        from segmentation_models_pytorch.encoders.mobilenet import MobileNetV2Encoder

        classes["mobilenet"] = MobileNetV2Encoder
    except ImportError:
        pass
    try:
        from segmentation_models_pytorch.encoders.efficientnet import EfficientNetEncoder

        classes["efficientnet"] = EfficientNetEncoder
    except ImportError:
        pass
    return classes


def unused_stages(encoder: Any, depth: int) -> list[str]:
    """Names (relative to ``encoder``) of the submodules an encoder of ``depth`` never uses.

    Parameters
    ----------
    encoder : torch.nn.Module
        An smp encoder, as built (before or after :func:`drop_unused_stages`).
    depth : int
        Its ``encoder_depth`` (1 to 5).

    Returns
    -------
    list of str
        Empty for an encoder this module does not know.
    """
    kinds = {kind for kind, cls in _encoder_classes().items() if isinstance(encoder, cls)}
    if "resnet" in kinds:
        return [name for stage, name in ((4, "layer3"), (5, "layer4")) if depth < stage]
    if "mobilenet" in kinds:
        # features[i] for i in _out_indexes are the outputs of stages 1..5.
        last = encoder._out_indexes[depth - 1]
        return [f"features.{i}" for i in range(last + 1, len(encoder.features))]
    if "efficientnet" in kinds:
        # The stem is stage 1; _blocks[i] for i in _out_indexes end stages 2..5. The head conv
        # of the classifier is never used by the encoder.
        names = ["_conv_head", "_bn1"]
        last = encoder._out_indexes[depth - 2] if depth >= 2 else -1
        return names + [f"_blocks.{i}" for i in range(last + 1, len(encoder._blocks))]
    return []


def drop_unused_stages(encoder: Any, depth: int) -> list[str]:
    """Remove the submodules :func:`unused_stages` names; the encoder's outputs stay the same.

    ResNet stages and the EfficientNet head become ``None``; MobileNetV2 and EfficientNet
    blocks become :class:`SkippedBlock` (their lists keep their length, which EfficientNet's
    drop-connect rate depends on).

    Returns
    -------
    list of str
        The names removed.
    """
    names = unused_stages(encoder, depth)
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent: Any = encoder.get_submodule(parent_name) if parent_name else encoder
        if child.isdigit():
            parent[int(child)] = SkippedBlock()
        elif isinstance(getattr(parent, child, None), nn.Module):
            setattr(parent, child, None)
    return names
