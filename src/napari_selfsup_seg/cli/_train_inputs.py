"""What ``train`` reads: the images' planes, their masks and maps, and the channels of a
label-free run (the stain's planes, or whole cells' and nuclei's planes)."""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np

from .._errors import InputError
from ..io._image import read_image


def _load_images(args) -> tuple[list[np.ndarray], list[str], list[list[str]], list]:
    """Planes of every image (a name for each), the images' channel names, their stacks."""
    images, names, channel_names, stacks = [], [], [], []
    for ipath in args.images:
        stack = read_image(ipath, scene=args.scene)
        known = len(stack.channel_names) == stack.n_channels and all(stack.channel_names)
        channel_names.append(list(stack.channel_names) if known else [])
        if args.input_channel is not None:
            c = stack.n_channels
            if not -c <= args.input_channel < c:
                raise InputError(
                    f"{ipath}: channel {args.input_channel} out of range (image has {c} channels)"
                )
        planes = stack.planes()
        for k, plane in enumerate(planes):
            images.append(plane[0] if plane.shape[0] == 1 else plane)
            names.append(f"{ipath}{f' plane {k}' if len(planes) > 1 else ''}")
        stacks.append(stack)
    return images, names, channel_names, stacks


def _mask_planes(path: str, stack, ipath: str, what: str = "mask") -> np.ndarray:
    """The ``(N, Y, X)`` planes of a mask (or map) file that belongs to ``stack``."""
    mask = read_image(path)
    if "C" in mask.axes:
        raise InputError(f"{path}: a {what} must not have a channel axis (axes {mask.axes})")
    want = (*stack.plane_shape, *stack.shape[-2:])
    if mask.shape != want:
        raise InputError(
            f"{path}: {what} shape {mask.shape} does not match image {ipath} "
            f"(expected {want}, the image's planes without channels)"
        )
    if what == "mask" and mask.data.dtype.kind == "f":
        raise InputError(f"{path}: expected an integer label image, got floating point")
    return np.asarray(mask.data).reshape(-1, *mask.shape[-2:])


def load_pairs(args):
    """Planes of every image and mask, the pseudo-masks' maps (``None`` unless every mask has
    its ``<stem>_prob.tif`` beside it), a name pair for each plane (for error messages), and
    the images' channel names when every image names its channels alike (else ``None``)."""
    images, plane_names, channel_names, stacks = _load_images(args)
    same = channel_names[0] and all(n == channel_names[0] for n in channel_names)
    if args.masks is None:
        names = [(name, name) for name in plane_names]
        return images, None, None, names, (channel_names[0] if same else None)
    if len(args.images) != len(args.masks):
        raise InputError(f"{len(args.images)} --images but {len(args.masks)} --masks")
    masks: list[np.ndarray] = []
    maps: list[np.ndarray] = []
    names = []
    probs = [_prob_beside(m) for m in args.masks]
    for ipath, mpath, stack, prob in zip(args.images, args.masks, stacks, probs):
        mplanes = _mask_planes(mpath, stack, ipath)
        if all(probs):
            maps.extend(_mask_planes(str(prob), stack, ipath, "probability map"))
        masks.extend(mplanes)
        for k in range(len(mplanes)):
            where = f" plane {k}" if len(mplanes) > 1 else ""
            names.append((f"{ipath}{where}", f"{mpath}{where}"))
    return (
        images,
        masks,
        (maps if all(probs) else None),
        names,
        (channel_names[0] if same else None),
    )


def _prob_beside(mask_path: str):
    """``<stem>_prob.tif`` beside a ``<stem>_pseudo.tif`` of ``pseudo-mask``, if it is there."""
    from pathlib import Path

    path = Path(mask_path)
    if not path.name.endswith("_pseudo.tif"):
        return None
    prob = path.with_name(path.name[: -len("_pseudo.tif")] + "_prob.tif")
    return prob if prob.exists() else None


def label_free_cells(images, channel_names, tc, s):
    """Cell and nuclear planes, the config without its channel, and the two channels' records
    (label-free whole cells of ``--input-channel`` seeded by ``--seed-channel s``)."""
    c, n = tc.input_channel, images[0].shape[0] if np.ndim(images[0]) == 3 else 1
    if c is None or n < 2 or not -n <= s < n or s % n == c % n:
        raise InputError(
            "--seed-channel without --masks needs multi-channel images, --input-channel (the "
            f"cells' channel) and another channel of the images as seeds, got {s}"
        )
    names = [channel_names[c], channel_names[s]] if channel_names else None
    records = {"input_channels": [c % n, s % n], "input_channel_names": names}
    return (
        [im[c] for im in images],
        [im[s] for im in images],
        replace(tc, input_channel=None),
        records,
    )


def label_free_planes(images, channel_names, tc):
    """(Y, X) planes of the stain, the config without its channel, and the channel records."""
    c = tc.input_channel
    if c is None:
        if any(np.ndim(im) == 3 for im in images):
            raise InputError(
                "training without --masks on multi-channel images needs --input-channel "
                "(the channel whose pseudo-masks train the network)"
            )
        return images, tc, {"input_channel_names": channel_names}
    planes = [im[c] if np.ndim(im) == 3 else im for im in images]
    names = [channel_names[c]] if channel_names else None
    return (
        planes,
        replace(tc, input_channel=None),
        {
            "input_channels": [c % images[0].shape[0]] if np.ndim(images[0]) == 3 else [c],
            "input_channel_names": names,
        },
    )


def seeding(images: list, args: argparse.Namespace) -> dict:
    """``seed_channel`` (a network input) and ``seed_diameter`` (of the nuclei the threshold
    teacher finds in it) of ``--seed-channel`` (``{}`` without one)."""
    from ..data._diameter import diameter_of_labels
    from ..pseudo._cells import nuclei_of

    c = args.seed_channel
    if c is None or args.masks is None:
        return {}
    if args.input_channel is not None:
        raise InputError("--seed-channel needs --masks of cells and images read whole")
    n = images[0].shape[0] if all(np.ndim(im) == 3 for im in images) else 1
    if n < 2 or not -n <= c < n:
        raise InputError(f"--seed-channel {c} is not a channel of the images ({n} channel(s))")
    nuclei = [nuclei_of(im[c % n]) for im in images]
    return {"seed_channel": c % n, "seed_diameter": diameter_of_labels(nuclei)}
