"""``refine="auto"``: objects or guided, chosen by the classifier. Each plane votes for the
refinement whose mask, once removed from the plane, leaves the classifier no longer seeing the
thing (the smaller mask where both do); the set's majority is objects only with more votes
than guided; a plane keeps its own vote only where its mask is the smaller one (a larger mask
may take the thing away by its size alone), else it takes the majority.

The classifier here is a fixed rule, so the tests say what the choice does with a classifier
that sees the artifact and nothing else: "has" where a 3×3 patch is brighter than any cell."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import ndimage as ndi
from torch import nn

from napari_selfsup_seg._errors import InputError
from napari_selfsup_seg._progress import drain
from napari_selfsup_seg.pseudo._refine import map_cut, refine_map
from napari_selfsup_seg.pseudo._refine_auto import (
    decide,
    keeps_own,
    plane_vote,
    plane_votes,
    removed,
)
from napari_selfsup_seg.pseudo._scorecam import ScoreCAMConfig, scorecam_map_iter
from napari_selfsup_seg.pseudo._weak import WeakClassifierFit

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SIZE, SCALE, CELL = 96, (0.0, 100.0), 4.0


class _SeesBright(nn.Module):
    """Says "has" when some 3×3 patch of the (scaled) input is above 0.8: the artifact is 1.0, the
    cells 0.6, the background 0.1."""

    def __init__(self):
        super().__init__()
        self.gain = nn.Parameter(torch.tensor(40.0))

    def forward(self, x):
        z = self.gain * (F.avg_pool2d(x, 3, 1, 1).amax((1, 2, 3)) - 0.8)
        return torch.stack([-z / 2, z / 2], 1)


def _separate(seed=0):
    """A bright irregular artifact apart from two dimmer cells; a coarse map shifted off the
    artifact and mildly high on the cells (the blur of a map read at a coarse stride)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    artifact = ((yy - 30) ** 2 / 120 + (xx - 60) ** 2 / 30 < 1) | (
        (np.abs(yy - 30 - 0.5 * (xx - 60)) < 2) & (np.abs(xx - 60) < 14)
    )
    cells = ((yy - 72) ** 2 + (xx - 24) ** 2 < 80) | ((yy - 74) ** 2 + (xx - 70) ** 2 < 60)
    image = 10 + 50 * cells + 90 * artifact + rng.normal(0, 2, yy.shape)
    coarse = ndi.gaussian_filter(np.roll(artifact.astype(float), 4, 0), 6)
    coarse = coarse / coarse.max() + 0.3 * ndi.gaussian_filter(cells.astype(float), 6)
    return image, artifact, coarse / coarse.max()


def _crossing(seed=0):
    """A bright fibre lying across a large dim cell: one Otsu object holds both. The map is
    sharp on the fibre (it is what the classifier sees) and low on the cell."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    fibre = (np.abs(yy - 48 - 0.3 * (xx - 48)) < 3) & (np.abs(xx - 48) < 40)
    cell = (yy - 50) ** 2 + (xx - 40) ** 2 < 26**2
    image = np.where(fibre, 100.0, 10 + 50 * cell) + rng.normal(0, 2, yy.shape)
    coarse = ndi.gaussian_filter(fibre.astype(float), 2) + 0.1 * cell
    return image, fibre, coarse / coarse.max()


def _f1(mask, truth):
    return 2 * (mask & truth).sum() / (mask.sum() + truth.sum())


def _mask(cam, image, how):
    """The refined map at its own cut (objects are calibrated so that theirs is 0.5)."""
    refined = refine_map(cam, image, how, CELL, True)
    return refined >= (0.5 if how == "objects" else map_cut(refined))


def _p_has(image):
    x = torch.from_numpy(np.clip(image / 100.0, -0.5, 1.5).astype(np.float32))[None, None]
    with torch.no_grad():
        return float(torch.softmax(_SeesBright()(x), 1)[0, 1])


def test_plane_vote_takes_the_mask_that_removes_the_thing_and_the_smaller_of_two():
    sizes = {"guided": 500, "objects": 900}
    assert plane_vote(0.9, {"guided": 0.8, "objects": 0.1}, sizes) == "objects"
    assert plane_vote(0.9, {"guided": 0.1, "objects": 0.2}, sizes) == "guided"  # smaller
    assert plane_vote(0.9, {"guided": 0.1, "objects": 0.2}, {"guided": 900, "objects": 400}) == (
        "objects"
    )
    assert plane_vote(0.9, {"guided": 0.7, "objects": 0.6}, sizes) is None  # both missed it
    assert plane_vote(0.3, {"guided": 0.1, "objects": 0.1}, sizes) is None  # not seen at all
    assert plane_vote(0.9, {"guided": 0.1, "objects": 0.1}, {"guided": 0, "objects": 9}) == (
        "objects"  # an empty mask removes nothing
    )


def test_a_plane_keeps_its_vote_only_when_its_mask_is_the_smaller():
    assert keeps_own("objects", {"guided": 900, "objects": 400})
    assert keeps_own("guided", {"guided": 400, "objects": 400})
    # Only the larger mask took the thing away: that may be its size (a guided mask over half
    # a tile removes the debris with it), so the plane takes the set's majority.
    assert not keeps_own("guided", {"guided": 7400, "objects": 560})
    assert not keeps_own(None, {"guided": 10, "objects": 10})


def test_objects_are_chosen_where_the_artifact_is_an_object_of_its_own():
    image, artifact, coarse = _separate()
    objects, guided = _mask(coarse, image, "objects"), _mask(coarse, image, "guided")
    assert _f1(objects, artifact) > 0.9 > _f1(guided, artifact) + 0.1
    # The scene does what it should: removing the objects' mask takes the artifact away.
    assert _p_has(image) > 0.99 and _p_has(removed(image, objects)) < 0.01
    how, record = decide(plane_votes(_SeesBright(), SIZE, SCALE, [coarse], [image], [CELL], True))
    assert how == ["objects"] and record["votes"]["objects"] == 1


def test_guided_is_chosen_where_the_objects_merge_the_artifact_with_a_cell():
    image, fibre, coarse = _crossing()
    objects, guided = _mask(coarse, image, "objects"), _mask(coarse, image, "guided")
    # Object pooling keeps the whole cell with the fibre; the guided map keeps the fibre.
    assert objects.sum() > 3 * fibre.sum() and _f1(objects, fibre) < 0.5
    assert _f1(guided, fibre) > 0.8
    # Both masks take the fibre away: the smaller explains the classifier's "has".
    assert _p_has(removed(image, objects)) < 0.5 and _p_has(removed(image, guided)) < 0.5
    how, record = decide(plane_votes(_SeesBright(), SIZE, SCALE, [coarse], [image], [CELL], True))
    assert how == ["guided"] and record["votes"]["guided"] == 1


def _blank(seed):
    """A plane the classifier sees nothing on (no vote), with a map on its brightest cell."""
    image, _, coarse = _separate(seed)
    return np.minimum(image, 60.0), np.zeros(image.shape, bool), coarse


def test_voting_planes_keep_their_own_choice_the_others_take_the_majority():
    def choose(scenes, fallback=None):
        args = ([s[2] for s in scenes], [s[0] for s in scenes], [CELL] * len(scenes), True)
        return decide(plane_votes(_SeesBright(), SIZE, SCALE, *args), fallback)

    how, record = choose([_separate(0), _separate(1), _crossing(2), _blank(3)])
    assert how == ["objects", "objects", "guided", "objects"]
    assert record == {"refine": "objects", "votes": {"objects": 2, "guided": 1, "none": 1}}
    # A tie keeps guided (it assumes less about the image); a caller's majority overrides.
    assert choose([_separate(0), _crossing(1), _blank(2)])[0] == ["objects", "guided", "guided"]
    assert choose([_blank(0)])[0] == ["guided"]
    assert choose([_blank(0), _crossing(1)], fallback="objects")[0] == ["objects", "guided"]


@pytest.mark.parametrize("scene, chosen", [(_separate, "objects"), (_crossing, "guided")])
def test_auto_through_the_pipeline(monkeypatch, scene, chosen):
    """The default config is auto; the masks are those of the chosen refinement, the choice
    and the votes are in the result's record; negative planes stay empty."""
    import napari_selfsup_seg.pseudo._scorecam as sc

    scenes = [scene(seed) for seed in range(3)]
    calls = iter([s[2] for s in scenes])
    monkeypatch.setattr(sc, "_raw_map", lambda *a: (next(calls).astype(np.float32), CELL))
    fit = WeakClassifierFit(_SeesBright(), SIZE, SCALE, 1.0, None)
    assert ScoreCAMConfig().refine == "auto"
    planes = [s[0] for s in scenes] + [scenes[0][0]]
    result = drain(scorecam_map_iter(fit, planes, ScoreCAMConfig(), positive=[1, 1, 1, 0]))
    assert result.record["refine_chosen"] == {
        "refine": chosen,
        "votes": {"objects": 3 * (chosen == "objects"), "guided": 3 * (chosen == "guided"),
                  "none": 0},
        "planes": [chosen] * 3,
    }  # fmt: skip
    for i, (image, truth, coarse) in enumerate(scenes):
        assert np.allclose(result.maps[i], refine_map(coarse, image, chosen, CELL, True), atol=1e-5)
        assert _f1(result.labels[i] > 0, truth) > 0.8
    assert not result.labels[3].any() and not result.maps[3].any()


def test_auto_is_a_config_choice_and_needs_the_classifier():
    assert ScoreCAMConfig(refine="auto").refine == "auto"
    with pytest.raises(InputError, match="refine must be one of auto, none, guided"):
        ScoreCAMConfig(refine="best")
    image, _, coarse = _separate()
    with pytest.raises(ValueError, match="classifier"):
        refine_map(coarse, image, "auto", CELL)
