"""The map refinement chosen by the weak classifier itself (``refine="auto"``).

Object pooling (:func:`~._refine.object_pool`) is right where the thing the classifier was asked
about is made of whole objects of the plane's Otsu foreground, and wrong where it is not: where
debris crosses cells and merges with them into one object, or where the Otsu foreground of the
plane is not made of objects at all (brightfield). The guided filter
(:func:`~._refine.guided_filter`) assumes less about the image. Which of the two fits a plane
is asked of the classifier, on Score-CAM's own principle that a map is right where the
classifier's "has" score follows it:

* each candidate's mask (its refined map at its own cut: :func:`~._refine.map_cut`, 0.5 for
  the calibrated objects) is removed from the plane, filled with the median of the rest of
  the plane, and the classifier says whether the thing is still there (its "has" probability
  below one half: the mask took it away; at or above: the mask missed some of it);
* a plane the classifier sees the thing on votes for the mask that takes it away, and where
  both do, for the smaller one (the rest of the larger mask was not needed to explain the
  "has"); a plane where neither does, or that the classifier does not call "has", does not vote;
* the set's majority is objects when they win more planes than the guided filter, else the
  guided filter (ties included: it assumes less about the image);
* a plane keeps its own vote where its mask is the smaller of the two (debris may cross cells
  on one plane and lie apart on the next), and takes the majority otherwise: a mask that takes
  the thing away only because it is larger (a guided mask over half a tile) proves little, and
  a plane that does not vote takes the majority too.

No threshold is fitted to any data: one half is the classifier's own decision boundary.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._refine import map_cut, refine_map

CANDIDATES = ("guided", "objects")
"""Refinements ``refine="auto"`` chooses between."""


def has_probability(net, size: int, scale: tuple[float, float], planes) -> np.ndarray:
    """The classifier's "has" probability (class 1) for each raw plane ``(Y, X)``."""
    import torch

    from ._classifier import class_logits, resize_plane
    from ._weak import _scaled

    logits = class_logits(net, [resize_plane(_scaled(p, scale), size) for p in planes])
    return torch.softmax(logits, 1)[:, 1].numpy().astype(np.float64)


def removed(plane: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``plane`` with the pixels of ``mask`` set to the median of the others (float32)."""
    out = np.array(plane, np.float32)
    rest = out[~mask]
    out[mask] = np.median(rest if rest.size else out)
    return out


def plane_vote(p_has: float, after: dict[str, float], sizes: dict[str, int]) -> str | None:
    """The refinement one plane votes for, or ``None`` (whether it keeps it: :func:`keeps_own`).

    Parameters
    ----------
    p_has : float
        "Has" probability of the plane itself.
    after : dict
        Refinement -> "has" probability once its mask is removed.
    sizes : dict
        Refinement -> pixels in its mask.
    """
    if p_has < 0.5:
        return None
    complete = [k for k in after if sizes[k] > 0 and after[k] < 0.5]
    if not complete:
        return None
    return min(complete, key=lambda k: (sizes[k], CANDIDATES.index(k)))


def keeps_own(vote: str | None, sizes: dict[str, int]) -> bool:
    """Whether a plane keeps its own ``vote``: its mask is not larger than the other's."""
    return vote is not None and sizes[vote] <= min(sizes.values())


PlaneVote = tuple[str | None, bool]
"""One plane's vote (a refinement or ``None``) and whether it keeps it (:func:`keeps_own`)."""


def plane_votes(
    net,
    size: int,
    scale: tuple[float, float],
    cams: Sequence[np.ndarray],
    planes: Sequence[np.ndarray],
    cells: Sequence[float],
    bright: bool | None = None,
) -> list[PlaneVote]:
    """Each plane's vote, by the classifier (three passes per plane: the plane and its two
    candidate masks removed).

    Parameters
    ----------
    net : WeakClassifier
        The trained classifier the maps come from.
    size, scale
        Its input size and intensity scale.
    cams, planes, cells
        The unrefined maps, their raw planes and their cell sizes (as for
        :func:`~._refine.refine_map`).
    bright : bool, optional
        The objects' polarity (see :func:`~._refine.object_pool`).
    """
    out: list[PlaneVote] = []
    for cam, plane, cell in zip(cams, planes, cells):
        masks = {}
        for how in CANDIDATES:
            refined = refine_map(cam, plane, how, cell, bright)
            # Each map at its own cut: object scores are calibrated so theirs is exactly 0.5
            # (a histogram's cut of a few distinct values is not reliable).
            masks[how] = refined >= (0.5 if how == "objects" else map_cut(refined))
        tried = [plane] + [removed(plane, masks[k]) for k in masks]
        probs = has_probability(net, size, scale, tried)
        after = dict(zip(masks, probs[1:]))
        sizes = {k: int(m.sum()) for k, m in masks.items()}
        vote = plane_vote(float(probs[0]), after, sizes)
        out.append((vote, keeps_own(vote, sizes)))
    return out


def vote_counts(votes: Sequence[PlaneVote]) -> dict[str, int]:
    """``{"objects": n, "guided": n, "none": n}`` of planes' votes."""
    found = [v for v, _ in votes]
    return {k: found.count(k) for k in CANDIDATES[::-1]} | {"none": found.count(None)}


def majority_of(counts: dict[str, int]) -> str:
    """Objects only with more votes than guided (ties: guided, which assumes less)."""
    return "objects" if counts["objects"] > counts["guided"] else "guided"


def decide(votes: Sequence[PlaneVote], fallback: str | None = None) -> tuple[list[str], dict]:
    """The refinement of each plane from the planes' votes (:func:`plane_votes`).

    Parameters
    ----------
    votes : sequence of PlaneVote
    fallback : str, optional
        The choice for planes that do not keep their own vote; default: the majority of these
        planes' votes. A caller that splits a set into several calls passes the majority of
        the whole set.

    Returns
    -------
    (list of str, dict)
        The refinement of each plane, and the record: ``{"refine": the majority,
        "votes": {"objects": n, "guided": n, "none": n}}``.
    """
    counts = vote_counts(votes)
    majority = fallback or majority_of(counts)
    chosen = [v if o and v is not None else majority for v, o in votes]
    return chosen, {"refine": majority, "votes": counts}
