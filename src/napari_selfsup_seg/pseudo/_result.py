"""What every pseudo-mask pipeline returns, and the one place that picks a plane's cut.

Each method turns a plane into a probability-like map in [0, 1]; :func:`cut_plane` then sweeps
the map (:func:`~napari_selfsup_seg.pseudo._sweep.threshold_sweep`), takes the best cut when
the method's ``threshold`` is ``None`` (automatic) or the given one otherwise, and labels the
map at that cut with the method's own ``recut``. The slider preview of the widget calls the
same ``recut`` through :meth:`PseudoMaskResult.recut`, so a cut shows the labels the method
itself would give.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._errors import InputError
from ._sweep import SweepResult, threshold_sweep

Recut = Callable[[np.ndarray, np.ndarray, float, Any], np.ndarray]
"""``recut(map, plane, cut, config) -> labels``: a method's labelling of its map at a cut."""


@dataclass
class PseudoMaskResult:
    """Pseudo-masks of ``N`` planes made by one method.

    Attributes
    ----------
    method : str
        Name of the method in :data:`~napari_selfsup_seg.pseudo._methods.METHODS`.
    config : object
        The method's config (``ThresholdConfig``, ``PSMConfig`` or ``ScoreCAMConfig``).
    planes : list of numpy.ndarray
        The ``N`` raw planes ``(Y, X)`` the maps were made from.
    labels : list of numpy.ndarray of int32
        ``N`` instance labels ``(Y, X)``, 0 = background.
    maps : list of numpy.ndarray of float32
        ``N`` probability-like maps ``(Y, X)`` in [0, 1].
    thresholds : list of float
        The cut used on each map (the sweep's best one when the cut is automatic).
    sweeps : list of SweepResult or None
        The sweep curve of each map (``None`` where it was not computed or the map is constant).
    labelling : callable
        The method's ``recut(map, plane, cut, config)``, which :meth:`recut` calls.
    diameters : list of float
        Object diameter in pixels of each plane, where the method estimates one (threshold).
    polarities : list of str
        ``"bright"`` or ``"dark"`` objects in each plane, where the method detects it.
    seeds : list of numpy.ndarray or None
        Seed objects ``(Y, X)`` of each plane where the method grows its objects from seeds
        (whole cells from nuclei); :meth:`recut` passes them to the labelling as ``seeds=``.
    recut_inputs : list of dict
        Further per-plane inputs of the method's labelling, which :meth:`recut` passes to it
        as keywords (the threshold method's smoothed plane, from which the recut makes the
        global map again and every object's own edge).
    record : dict
        Further figures of the run for its provenance (Score-CAM: ``{"classifier": ...}``,
        the classifier's training and held-out accuracy).
    """

    method: str
    config: Any
    labelling: Recut
    planes: list[np.ndarray] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)
    maps: list[np.ndarray] = field(default_factory=list)
    thresholds: list[float] = field(default_factory=list)
    sweeps: list[SweepResult | None] = field(default_factory=list)
    diameters: list[float] = field(default_factory=list)
    polarities: list[str] = field(default_factory=list)
    seeds: list[np.ndarray | None] = field(default_factory=list)
    recut_inputs: list[dict[str, Any]] = field(default_factory=list)
    record: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.labels)

    def add(
        self,
        plane: np.ndarray,
        labels: np.ndarray,
        prob: np.ndarray,
        cut: float,
        sweep: SweepResult | None,
    ) -> None:
        """Append one plane's outcome."""
        self.planes.append(plane)
        self.labels.append(np.asarray(labels, np.int32))
        self.maps.append(np.asarray(prob, np.float32))
        self.thresholds.append(float(cut))
        self.sweeps.append(sweep)

    def pairs(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """``[(labels, map), ...]``, one pair per plane."""
        return list(zip(self.labels, self.maps))

    def recut(self, index: int, cut: float) -> np.ndarray:
        """Labels of plane ``index`` cut at ``cut`` with the method's own labelling.

        Parameters
        ----------
        index : int
            Plane index in ``0 .. N - 1``.
        cut : float
            Threshold on the map, in [0, 1].

        Returns
        -------
        numpy.ndarray of int32
            Shape ``(Y, X)``.
        """
        config = self.config
        if index < len(self.diameters) and getattr(config, "diameter", 0) is None:
            # The plane's own estimate, so the slider labels the plane as the run did.
            config = dataclasses.replace(config, diameter=self.diameters[index])
        labelling: Callable[..., Any] = self.labelling
        if index < len(self.seeds) and self.seeds[index] is not None:
            labelling = functools.partial(labelling, seeds=self.seeds[index])
        if index < len(self.recut_inputs):
            labelling = functools.partial(labelling, **self.recut_inputs[index])
        labels = labelling(self.maps[index], self.planes[index], cut, config)
        return np.asarray(labels, np.int32)


def scale_record(result: PseudoMaskResult) -> dict[str, list]:
    """``{"diameters": [...], "polarities": [...]}`` of a result for its provenance (or ``{}``)."""
    if not result.diameters:
        return {}
    return {"diameters": list(result.diameters), "polarities": list(result.polarities)}


def cut_plane(
    prob: np.ndarray,
    plane: np.ndarray,
    threshold: float | None,
    recut: Recut,
    config: Any,
    name: str,
    sweep: bool = False,
    score_plane: np.ndarray | None = None,
    choose: Callable[[np.ndarray], float] | None = None,
) -> tuple[np.ndarray, float, SweepResult | None]:
    """Label one map at its fixed or automatic cut.

    Parameters
    ----------
    prob : numpy.ndarray
        Map ``(Y, X)`` in [0, 1].
    plane : numpy.ndarray
        The raw plane ``(Y, X)`` the map was made from (scores the sweep).
    threshold : float or None
        The cut; ``None`` chooses the sweep's best one.
    recut : callable
        The method's labelling ``recut(map, plane, cut, config)``.
    config : object
        The method's config, passed to ``recut``.
    name : str
        Used in error messages.
    sweep : bool
        Also sweep when the cut is fixed (to show the curve).
    score_plane : numpy.ndarray, optional
        The plane ``(Y, X)`` the sweep scores cuts against, when it is not ``plane`` (e.g. the
        contrast signal a map was made from).
    choose : callable, optional
        ``choose(map) -> cut``: the method's own automatic cut, used instead of the sweep's
        best one when ``threshold`` is ``None``; the sweep is still made (for its curve), and
        its ``best_threshold`` is set to the chosen cut.

    Returns
    -------
    labels : numpy.ndarray of int32
        Shape ``(Y, X)``.
    cut : float
        The cut used.
    sweep : SweepResult or None
        The sweep (``None`` when the cut was fixed and either ``sweep`` is false or the map is
        constant).

    Raises
    ------
    InputError
        The cut is automatic and the map or plane cannot be swept (constant, NaN).
    """
    result: SweepResult | None = None
    scored = plane if score_plane is None else score_plane
    if threshold is None and choose is not None:
        result = sweep_or_none(prob, scored, name)
        threshold = float(choose(prob))
        if result is not None:
            at = int(np.argmin(np.abs(result.thresholds - threshold)))
            result = dataclasses.replace(
                result, best_threshold=threshold, best_score=float(result.scores[at])
            )
    elif threshold is None:
        result = threshold_sweep(prob, scored, name=name)
    elif sweep:
        result = sweep_or_none(prob, scored, name)
    cut = result.best_threshold if threshold is None and result is not None else threshold
    assert cut is not None
    labels = np.asarray(recut(prob, plane, cut, config), np.int32)
    return labels, float(cut), result


def sweep_or_none(prob: np.ndarray, plane: np.ndarray, name: str) -> SweepResult | None:
    """:func:`~napari_selfsup_seg.pseudo._sweep.threshold_sweep`, or ``None`` where it fails."""
    try:
        return threshold_sweep(prob, plane, name=name)
    except InputError:
        return None


def plane_names(n: int, names: Sequence[str] | None, what: str = "plane") -> list[str]:
    """``names`` as a list, or ``"<what> 0"``, ``"<what> 1"``, ... when not given."""
    if names is None:
        return [f"{what} {i}" for i in range(n)]
    names = list(names)
    if len(names) != n:
        raise InputError(f"{n} planes but {len(names)} names")
    return names
