"""The multi-view detector on a real face (scikit-image's astronaut): views, first hit, sizes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from chalicelib.faces.detection import MultiViewDetector, _candidates, merge_labelled
from devtools.synthetic.faces import face_source


@pytest.fixture(scope="module")
def scene() -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A grey 320×240 frame with the astronaut's face about 60 px wide at (130, 70)."""
    source = face_source("astronaut")
    x0, y0, x1, y1 = source.face
    scale = 60 / (x1 - x0)
    patch = cv2.resize(source.patch, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    frame = np.full((240, 320, 3), 110, np.uint8)
    h, w = patch.shape[:2]
    left, top = 130 - round(x0 * scale), 70 - round(y0 * scale)
    frame[top : top + h, left : left + w] = patch
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    return grey, (130, 70, 60, round((y1 - y0) * scale))


def test_search_labels_faces_and_agrees_with_detect_regions(scene) -> None:
    grey, (fx, fy, fw, fh) = scene
    detector = MultiViewDetector()
    region = [(0, 0, 320, 240)]
    labelled = detector.search(grey, region, [20], [False])
    assert labelled and [r for r, _v in labelled] == detector.detect_regions(grey, region, [20])
    (x, y, w, h), view = labelled[0]
    assert view == "frontal"
    assert abs((x + w / 2) - (fx + fw / 2)) < fw / 3 and abs((y + h / 2) - (fy + fh / 2)) < fh / 2


def test_a_preferred_view_that_finds_the_face_stops_the_search(scene, monkeypatch) -> None:
    grey, _face = scene
    detector = MultiViewDetector()
    calls: list[int] = []
    run = detector._run

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return run(*args, **kwargs)

    monkeypatch.setattr(detector, "_run", counted)
    found = detector.search(grey, [(100, 40, 130, 130)], [30], [False], ["frontal"])
    assert [v for _r, v in found] == ["frontal"] and len(calls) == 1
    calls.clear()
    found = detector.search(grey, [(100, 40, 130, 130)], [30], [False], [None])
    assert "frontal" in [v for _r, v in found] and len(calls) >= 3  # every upright view


def test_largest_limits_the_sizes_searched(scene) -> None:
    grey, _face = scene
    detector = MultiViewDetector()
    assert not detector.search(grey, [(0, 0, 320, 240)], [20], [True], None, [30])


def test_largest_limits_the_tilted_view_too(scene) -> None:
    grey, (fx, fy, fw, fh) = scene
    turn = cv2.getRotationMatrix2D((fx + fw / 2, fy + fh / 2), 22, 1.0)
    tilted = cv2.warpAffine(grey, turn, (320, 240), borderMode=cv2.BORDER_REPLICATE)
    detector = MultiViewDetector(views=("frontal", "tilted"))
    found = detector.search(tilted, [(0, 0, 320, 240)], [20], [False])
    assert "tilted" in [view for _r, view in found]
    # Asked for faces up to 30 px, no view reports the 60-px face.
    assert not detector.search(tilted, [(0, 0, 320, 240)], [20], [False], None, [30])


def test_merged_labelled_rectangles_keep_the_first_label() -> None:
    merged = merge_labelled([((0, 0, 10, 10), "profile"), ((1, 1, 10, 10), "frontal")])
    assert merged == [((0, 0, 11, 11), "profile")]


class _ScaleRecorder:
    """A cascade that records the images and size ranges it scans (and finds nothing)."""

    def __init__(self) -> None:
        self.scans: list[tuple[tuple[int, int], tuple[int, int]]] = []

    def detectMultiScale(self, image, scaleFactor, minNeighbors, minSize, maxSize):  # type: ignore[no-untyped-def]
        self.scans.append((image.shape[:2], maxSize))
        return ()


def test_scales_from_two_on_are_scanned_on_a_shrunk_copy() -> None:
    # detectMultiScale steps by 1 px at scales of 2 and over (4x the windows of the
    # finer scales): those scales are searched on a copy shrunk by the first of them.
    cascade = _ScaleRecorder()
    _candidates(cascade, np.zeros((480, 640), np.uint8), 1.2, 20, 42)  # type: ignore[arg-type]
    assert cascade.scans == [((480, 640), (39, 39)), ((231, 309), (20, 20))]
    cascade.scans.clear()
    _candidates(cascade, np.zeros((480, 640), np.uint8), 1.2, 20, 35)  # type: ignore[arg-type]
    assert cascade.scans == [((480, 640), (35, 35))]
    cascade.scans.clear()
    _candidates(cascade, np.zeros((100, 100), np.uint8), 1.2, 20)  # type: ignore[arg-type]
    assert cascade.scans == [((100, 100), (39, 39)), ((48, 48), (39, 39)), ((23, 23), (39, 39))]


def test_a_face_at_the_coarse_scales_is_still_found(scene) -> None:
    grey, (fx, _fy, fw, _fh) = scene  # 60 px: scale 3 of the 20-px window
    found = MultiViewDetector(views=("frontal",)).detect_regions(grey, [(0, 0, 320, 240)])
    assert any(
        abs(x + w / 2 - (fx + fw / 2)) < fw / 2 and fw / 2 < w < 2 * fw for x, _y, w, _h in found
    )
