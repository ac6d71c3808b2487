"""BlazeFace's answers made cheaper (issue 14y, 2026-12-03): ``decode_faces`` that only scores
anchors over ``logit_floor`` gives what scoring every anchor gave — the same boxes, extents and
scores —, and ``suppress`` on one overlap matrix keeps the boxes it kept box by box."""

from __future__ import annotations

import math

import numpy as np
import pytest

from chalicelib.faces.blazeface import (
    _anchors,
    _iou,
    decode_faces,
    iou_matrix,
    logit_floor,
    suppress,
)


def _decode_every_anchor(
    scores: np.ndarray, regressors: np.ndarray, height: int, width: int, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``decode_faces`` as it was: every anchor decoded and scored (a threshold under 0
    lets all through), then those over ``threshold`` kept."""
    boxes, extents, probability = decode_faces(scores, regressors, height, width, -1.0)
    assert len(boxes) == scores.size  # (every anchor)
    keep = probability > threshold
    return boxes[keep], extents[keep], probability[keep]


@pytest.mark.parametrize("threshold", [0.02, 0.3, 0.5, 0.65, 0.7])
def test_only_the_anchors_that_can_pass_are_scored_with_the_same_answers(threshold) -> None:
    rng = np.random.default_rng(round(threshold * 100))
    height, width = 96, 160
    count = len(_anchors(height, width))
    at = math.log(threshold / (1 - threshold))
    kept = 0
    for _ in range(200):
        scores = rng.normal(-5, 4, count)
        near = rng.random(count) < 0.3  # many logits within float32 rounding of the bar
        scores[near] = at + rng.normal(0, 1e-6, near.sum())
        scores = scores.astype(np.float32).reshape(1, count, 1)
        regressors = rng.normal(0, 10, (1, count, 16)).astype(np.float32)
        now = decode_faces(scores, regressors, height, width, threshold)
        before = _decode_every_anchor(scores, regressors, height, width, threshold)
        for mine, theirs in zip(now, before, strict=True):
            assert mine.dtype == theirs.dtype and mine.shape == theirs.shape
            assert np.array_equal(mine, theirs)
        boxes = now[0]
        kept += len(boxes)
    assert kept > 1000


def test_nothing_over_the_bar_gives_empty_answers_of_the_usual_shapes() -> None:
    scores = np.full((1, 896, 1), -9.0, np.float32)
    regressors = np.zeros((1, 896, 16), np.float32)
    boxes, extents, probability = decode_faces(scores, regressors, 128, 128, 0.5)
    assert boxes.shape == extents.shape == (0, 4) and boxes.dtype == np.float64
    assert probability.shape == (0,) and probability.dtype == np.float32
    assert extents is not boxes  # (a level shifts both in place)


def test_no_logit_under_the_floor_reaches_the_threshold() -> None:
    for threshold in (0.02, 0.5, 0.65, 0.7, 0.999):
        floor = np.float32(logit_floor(threshold))
        below = np.nextafter(floor, np.float32(-np.inf))
        logits = np.linspace(below - 5, below, 10_001, dtype=np.float32)
        assert not (1 / (1 + np.exp(-logits)) > threshold).any()


def _suppress_box_by_box(boxes: np.ndarray, scores: np.ndarray, overlap: float = 0.3) -> list[int]:
    """``suppress`` as it was: each box's overlaps computed when it is reached."""
    kept: list[int] = []
    for i in np.argsort(-scores, kind="stable"):
        if kept and float(_iou(boxes[i : i + 1], boxes[kept]).max()) > overlap:
            continue
        kept.append(int(i))
    return sorted(kept)


def _iou_pair(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boxes (x, y, w, h), pair by pair in Python floats."""
    x, y, w, h = (float(v) for v in a)
    bx, by, bw, bh = (float(v) for v in b)
    ix = max(min(x + w, bx + bw) - max(x, bx), 0.0)
    iy = max(min(y + h, by + bh) - max(y, by), 0.0)
    return ix * iy / max(w * h + bw * bh - ix * iy, 1e-9)


def test_the_overlap_matrix_is_iou_row_by_row_and_suppression_keeps_the_same_boxes() -> None:
    rng = np.random.default_rng(14)
    for trial in range(300):
        count = int(rng.integers(1, 130))
        boxes = np.concatenate(
            [rng.uniform(-50, 600, (count, 2)), rng.uniform(5, 120, (count, 2))], axis=1
        )
        boxes[: count // 3] = boxes[0] + rng.normal(0, 3, (count // 3, 4))  # a cluster
        scores = rng.choice([0.55, 0.7, 0.9], count) if trial % 2 else rng.random(count)
        matrix = iou_matrix(boxes)
        for i in range(count):
            assert np.array_equal(matrix[i], [_iou_pair(boxes[i], box) for box in boxes])
        assert suppress(boxes, scores) == _suppress_box_by_box(boxes, scores)
