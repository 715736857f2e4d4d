"""The correction queue: tile geometry, ranking by what a correction would teach, coverage."""

from __future__ import annotations

import numpy as np
import pytest

from napari_selfsup_seg._errors import InputError
from napari_selfsup_seg.data._synthetic import make_sample
from napari_selfsup_seg.workflows._boxes import (
    as_box,
    box_means,
    box_overlap,
    candidate_boxes,
    tile_side,
)
from napari_selfsup_seg.workflows._queue import QueueConfig, correction_queue

SHAPE = (192, 192)


@pytest.fixture(scope="module")
def student():
    """A tiny U-Net trained on the true labels of a field of small nuclei, and that field."""
    from napari_selfsup_seg._config import ModelConfig
    from napari_selfsup_seg.models._device import cpu_threads
    from napari_selfsup_seg.train._supervised import train

    sample = make_sample(SHAPE, radius=(4.0, 6.0), seed=1)
    with cpu_threads(1):
        model = train(
            [sample.fluorescence], [sample.labels], steps=25, model_config=ModelConfig.tiny(),
            tile_size=64, batch_size=2, learning_rate=1e-2, device="cpu",
        )  # fmt: skip
    return model, sample


def test_tile_side_is_object_sized_and_inside_the_image():
    assert tile_side(10.0, (512, 512)) == 64  # 7 diameters, rounded to a multiple of 32
    assert tile_side(18.0, (512, 512), diameters=7) == 128
    assert tile_side(2.0, (512, 512)) == 32  # never below 32
    assert tile_side(40.0, (100, 300)) == 100  # clipped to the image
    assert tile_side(None, (512, 512)) % 32 == 0
    boxes = candidate_boxes((150, 200), 64, 0.5)
    covered = np.zeros((150, 200), bool)
    for y0, x0, y1, x1 in boxes:
        assert 0 <= y0 < y1 <= 150 and 0 <= x0 < x1 <= 200
        assert (y1 - y0, x1 - x0) == (64, 64)
        covered[y0:y1, x0:x1] = True
    assert covered.all()
    values = np.arange(150 * 200, dtype=float).reshape(150, 200)
    expected = [values[b[0] : b[2], b[1] : b[3]].mean() for b in boxes[:3]]
    np.testing.assert_allclose(box_means(values, boxes[:3]), expected)
    assert box_overlap((0, 0, 10, 10), (5, 5, 20, 20)) == pytest.approx(0.25)
    assert box_overlap((0, 0, 10, 10), (10, 0, 20, 10)) == 0.0
    with pytest.raises(InputError, match="outside"):
        as_box((0, 0, 10, 300), (150, 200))


def _corrupt_busiest_tile(labels: np.ndarray, side: int) -> tuple[np.ndarray, tuple]:
    """The labels with every object touching the tile of most objects deleted, and that tile."""
    boxes = candidate_boxes(labels.shape, side, 1.0)
    counts = [len(np.unique(labels[b[0] : b[2], b[1] : b[3]])) - 1 for b in boxes]
    box = boxes[int(np.argmax(counts))]
    teacher = labels.copy()
    gone = np.unique(labels[box[0] : box[2], box[1] : box[3]])
    teacher[np.isin(teacher, gone[gone > 0])] = 0
    return teacher, box


def test_queue_ranks_the_tile_where_the_teacher_is_wrong_first(student, one_torch_thread):
    model, sample = student
    side = tile_side(model.config.diameter, SHAPE)
    assert side == 64
    teacher, wrong = _corrupt_busiest_tile(sample.labels, side)
    fmap = (teacher > 0).astype(np.float32)
    # With default weights the student's own odd-sized objects count too; the wrong tile
    # is among the first two proposals whatever this small student fragments.
    queue = correction_queue(
        sample.fluorescence, teacher, fmap, model, config=QueueConfig(device="cpu")
    )
    assert any(box_overlap(t.box, wrong) >= 0.5 for t in queue[:2])
    # Without the size part, disagreement with the teacher ranks the wrong tile first.
    cfg = QueueConfig(size_weight=0.0, device="cpu")
    queue = correction_queue(sample.fluorescence, teacher, fmap, model, config=cfg)
    assert len(queue) >= 4
    assert box_overlap(queue[0].box, wrong) >= 0.5
    assert [t.score for t in queue] == sorted((t.score for t in queue), reverse=True)
    # Tiles away from the deleted objects, where teacher and student agree, rank below.
    away = [t for t in queue if box_overlap(t.box, wrong) == 0]
    assert away and max(t.score for t in away) < queue[0].score
    assert queue[0].parts["disagreement"] > max(t.parts["disagreement"] for t in away)
    for t in queue:
        y0, x0, y1, x1 = t.box
        assert 0 <= y0 < y1 <= SHAPE[0] and 0 <= x0 < x1 <= SHAPE[1]
        assert (y1 - y0, x1 - x0) == (side, side)
        assert set(t.parts) >= {
            "disagreement",
            "entropy",
            "flips",
            "teacher_uncertain",
            "size_outliers",
        }
        assert all(0.0 <= v <= 1.0 for v in t.parts.values())
    for i, a in enumerate(queue):  # the proposals themselves do not overlap
        assert all(box_overlap(a.box, b.box) <= 0.1 for b in queue[i + 1 :])
    # The teacher's uncertain band counts: a map at 0.5 over one tile raises its part.
    band = fmap.copy()
    band[wrong[0] : wrong[2], wrong[1] : wrong[3]] = 0.5
    cfg = QueueConfig(flips=1, size_weight=0.0, device="cpu")
    again = correction_queue(sample.fluorescence, teacher, band, model, top=1, config=cfg)
    assert len(again) == 1 and again[0].parts["teacher_uncertain"] > 0.5


def test_reviewed_tiles_are_never_proposed_again(student, one_torch_thread):
    model, sample = student
    cfg = QueueConfig(flips=1, device="cpu")
    teacher, _ = _corrupt_busiest_tile(sample.labels, 64)
    reviewed: list[tuple] = []
    for _ in range(20):
        queue = correction_queue(sample.fluorescence, teacher, None, model, reviewed, cfg, top=3)
        if not queue:
            break
        for tile in queue:
            assert all(box_overlap(tile.box, r) <= cfg.max_overlap for r in reviewed)
            assert tile.parts["reviewed"] <= cfg.max_overlap
        reviewed.append(queue[0].box)
    assert not queue, "the queue runs dry once the image is covered"
    assert len(reviewed) >= 4 and len(set(reviewed)) == len(reviewed)


def test_queue_refuses_mismatched_inputs(student):
    model, sample = student
    with pytest.raises(InputError, match="teacher labels"):
        correction_queue(sample.fluorescence, sample.labels[:10], None, model)
    with pytest.raises(InputError, match="reviewed box"):
        correction_queue(sample.fluorescence, sample.labels, None, model, [(0, 0, 500, 10)])
    with pytest.raises(InputError, match="flips"):
        QueueConfig(flips=3)


def test_size_outliers_mark_fragments_and_merges():
    from napari_selfsup_seg.workflows._queue_parts import size_outlier_points

    labels = np.zeros((100, 200), np.int32)
    for k in range(6):  # six typical 10x10 objects
        labels[10:20, 10 + 30 * k : 20 + 30 * k] = k + 1
    labels[50:52, 50:52] = 7  # a fragment
    labels[60:80, 120:140] = 8  # four objects' worth: a merge
    points, typical = size_outlier_points(labels, diameter=10.0)
    assert typical == 100.0
    assert points.sum() == 2
    assert points[50:52, 50:52].sum() == 1 and points[60:80, 120:140].sum() == 1
    # Too few objects for a median: the model's diameter sets the typical area.
    few = np.where(labels == 8, 1, 0)
    points, typical = size_outlier_points(few, diameter=20.0)
    assert typical == pytest.approx(np.pi * 100) and points.sum() == 0
