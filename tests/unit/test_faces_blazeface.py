"""BlazeFace (the weights shipped in chalicelib/faces/models) on real faces from scikit-image."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from chalicelib.faces import blazeface
from chalicelib.faces.blazeface import BlazeFaceDetector, HybridDetector, shared_detector
from chalicelib.faces.detection import MultiViewDetector
from devtools.synthetic.faces import Actor, Case, face_source, render, scenery


def _scene(
    name: str, width: int, left: int, top: int, fill: int = 110
) -> tuple[np.ndarray, tuple[int, ...]]:
    """A 320×240 BGR frame (background ``fill``) with face ``name`` ``width`` px wide, its
    face box at (left, top)."""
    source = face_source(name)
    x0, y0, x1, y1 = source.face
    scale = width / (x1 - x0)
    patch = cv2.resize(source.patch, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    frame = np.full((240 + 400, 320 + 400, 3), fill, np.uint8)  # room for a patch partly outside
    h, w = patch.shape[:2]
    px, py = 200 + left - round(x0 * scale), 200 + top - round(y0 * scale)
    frame[py : py + h, px : px + w] = patch
    return frame[200:440, 200:520].copy(), (left, top, width, round((y1 - y0) * scale))


def _hits(found: list[tuple[tuple[int, int, int, int], str]], face: tuple[int, ...]) -> bool:
    fx, fy, fw, fh = face
    centre = np.array([fx + fw / 2, fy + fh / 2])
    for (x, y, w, h), view in found:
        assert view in ("blazeface", "blazeface?")
        if np.abs(np.array([x + w / 2, y + h / 2]) - centre).max() < fw / 2 and fw / 2 < w < 2 * fw:
            return True
    return False


@pytest.fixture(scope="module")
def detector() -> BlazeFaceDetector:
    return BlazeFaceDetector()


@pytest.mark.parametrize("name", ["astronaut", "camera", "camera-mirrored"])
def test_frontal_and_profile_faces_are_found_in_grey_frames(detector, name) -> None:
    frame, face = _scene(name, 50, 130, 80)
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    assert _hits(detector.search(grey, [(0, 0, 320, 240)]), face)


def _recorded_scales(detector: BlazeFaceDetector, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The scale of every ``_level`` the detector runs from now on (rounded to 0.01)."""
    scales: list[float] = []
    level = detector._level

    def counted(crop, scale, edges, target=None):  # type: ignore[no-untyped-def]
        scales.append(round(scale, 2))
        return level(crop, scale, edges, target)

    monkeypatch.setattr(detector, "_level", counted)
    return scales


def test_a_tilted_face_is_found(detector) -> None:
    frame, (x, y, w, h) = _scene("astronaut", 60, 130, 80)
    turn = cv2.getRotationMatrix2D((x + w / 2, y + h / 2), 25, 1.0)
    tilted = cv2.warpAffine(frame, turn, (320, 240), borderMode=cv2.BORDER_REPLICATE)
    assert _hits(detector.search(tilted, [(0, 0, 320, 240)]), (x, y, w, h))


def test_small_faces_need_the_smallest_size_asked_for(detector) -> None:
    frame, face = _scene("astronaut", 26, 150, 100)
    assert _hits(detector.search(frame, [(0, 0, 320, 240)], [20]), face)
    # Asked only for faces of 60+ px, the region is searched too coarsely to see it.
    assert not _hits(detector.search(frame, [(0, 0, 320, 240)], [60]), face)


def test_largest_stops_the_pyramid(detector, monkeypatch) -> None:
    frame, face = _scene("astronaut", 150, 80, 40)
    assert _hits(detector.search(frame, [(0, 0, 320, 240)], [20]), face)
    levels: list[float] = []
    level = detector._level

    def counted(crop, scale, edges, target=None):  # type: ignore[no-untyped-def]
        levels.append(scale)
        return level(crop, scale, edges, target)

    monkeypatch.setattr(detector, "_level", counted)
    detector.search(frame, [(0, 0, 320, 240)], [20])
    # 1.2, 0.41, 0.14: up to faces of 240 px; then 0.7 and 0.24 between them (the
    # whole frame is at its edges: ``_between_levels``)
    assert len(levels) == 5
    levels.clear()
    detector.search(frame, [(0, 0, 320, 240)], [20], None, None, [40])
    assert levels == [1.2]  # faces up to 74 px: one scale


def test_a_face_cut_by_the_frame_edge_is_found_through_the_mirror() -> None:
    frame, (x, y, w, h) = _scene("astronaut", 70, -30, 80)  # 30 of its 70 px outside, left
    visible = (0, y, w + x, h)
    mirrored = BlazeFaceDetector().search(frame, [(0, 0, 320, 240)])
    plain = BlazeFaceDetector(mirror=0.0).search(frame, [(0, 0, 320, 240)])
    assert _hits(mirrored, (x, y, w, h)) or _hits(mirrored, visible)
    assert not _hits(plain, (x, y, w, h)) and not _hits(plain, visible)
    # Nothing is reported that lies (almost) wholly in the mirror beyond the edge.
    assert all(rx + rw > 0.2 * rw for (rx, _ry, rw, _rh), _v in mirrored)


def test_a_region_at_the_edge_is_also_searched_between_each_two_levels(
    detector, monkeypatch
) -> None:
    frame, _face = _scene("astronaut", 76, 297, 80)  # 23 of its 76 px in view, right
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    scales = _recorded_scales(detector, monkeypatch)
    detector.search(grey, [(100, 40, 80, 160)], [20], [False], [None], [160])
    inside = list(scales)
    scales.clear()
    detector.search(grey, [(240, 40, 80, 160)], [20], [False], [None], [160])
    assert inside == [1.2, 0.41]
    assert scales[:3] == [1.2, 0.41, 0.7]
    scales.clear()
    detector.search(grey, [(240, 40, 80, 160)], [20], [True], [None], [160])
    assert scales == [1.2, 0.41]  # (a still region: as before)
    scales.clear()
    detector.search(grey, [(240, 40, 80, 160)], [20], [False], ["blazeface"], [160])
    assert scales == [1.2, 0.41]  # (around a tracked face: as before)


def test_a_face_mostly_beyond_the_edge_found_only_between_the_usual_levels(
    detector, monkeypatch
) -> None:
    frame, face = _scene("astronaut", 76, 297, 80)  # 23 of its 76 px in view, right
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    assert _hits(detector.search(grey, [(240, 40, 80, 160)], [20]), face)
    monkeypatch.setattr(detector, "_between_levels", lambda *args: [])
    assert not _hits(detector.search(grey, [(240, 40, 80, 160)], [20]), face)


def test_a_face_found_between_the_levels_is_kept_only_on_no_box_of_the_usual_levels(
    monkeypatch,
) -> None:
    detector = BlazeFaceDetector()
    frame = np.zeros((240, 320), np.uint8)
    usual = np.array([[20, 20, 40, 40.0]])  # (in the region's pixels)
    between = np.array([[50, 30, 50, 50], [50, 100, 40, 40.0]])  # both cut by the edge

    def level(crop, scale, edges, target=None):  # type: ignore[no-untyped-def]
        boxes = between if round(scale, 2) == 0.7 else usual
        return boxes.copy(), boxes.copy(), np.full(len(boxes), 0.8)

    monkeypatch.setattr(detector, "_level", level)
    found = detector.search(frame, [(240, 40, 80, 160)], [20], [False], [None], [160])
    assert sorted(rect for rect, _view in found) == [(260, 60, 40, 40), (290, 140, 40, 40)]


def test_a_face_found_between_the_levels_is_kept_only_cut_by_the_edge() -> None:
    detector = BlazeFaceDetector()
    crop = np.zeros((160, 80), np.uint8)
    boxes = np.array([[30, 50, 60, 60], [5, 50, 40, 40.0]])  # (in the crop's pixels)
    detector._level = lambda *args: (boxes.copy(), boxes.copy(), np.array([0.8, 0.8]))  # type: ignore[method-assign]
    [(found, _extent, _score)] = detector._between_levels(
        crop, (240, 40), [1.2, 0.41], (False, False, True, False), 24, (240, 320)
    )
    assert found.tolist() == [[270, 90, 60, 60]]  # beyond the right edge; not the other


def test_missing_weights_are_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="weights missing"):
        BlazeFaceDetector(model=tmp_path / "none.tflite")


class _Recorder:
    min_face = 20

    def __init__(self) -> None:
        self.calls: list[tuple[list, list]] = []

    def search(self, grey, regions, smallest=None, upright_only=None, prefer=None, largest=None):  # type: ignore[no-untyped-def]
        self.calls.append((list(regions), list(smallest or [])))
        return [((1, 2, 20, 20), "frontal")]


def test_the_hybrid_asks_haar_only_where_small_faces_are_wanted(detector) -> None:
    haar = _Recorder()
    hybrid = HybridDetector(detector, haar, haar_below=28)
    grey = np.full((240, 320), 110, np.uint8)
    found = hybrid.search(grey, [(0, 0, 100, 100), (100, 0, 200, 200)], [20, 40])
    assert haar.calls == [([(0, 0, 100, 100)], [20])]
    assert ((1, 2, 20, 20), "frontal") in found
    haar.calls.clear()
    hybrid.search(grey, [(100, 0, 200, 200)], [40])
    assert haar.calls == []


@pytest.mark.parametrize("runtime", ["opencv", "onnxruntime"])
def test_the_grey_network_scores_a_grey_image_as_the_colour_network_does(runtime) -> None:
    # Its first convolution takes one channel (the weights summed over three):
    # a grey image gives the faces and scores its three-channel copy gives (that
    # copy always goes through the original model in cv2.dnn).
    if runtime == "onnxruntime":
        pytest.importorskip("onnxruntime")
    detector = BlazeFaceDetector(runtime=runtime)
    assert detector.runtime == runtime
    frame, face = _scene("astronaut", 40, 120, 90)
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    boxes, scores = detector.run(grey)
    colour_boxes, colour_scores = detector.run(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR))
    assert len(scores) > 0 and boxes.shape == colour_boxes.shape
    np.testing.assert_allclose(boxes, colour_boxes, atol=0.01)
    np.testing.assert_allclose(scores, colour_scores, atol=1e-5)
    assert _hits(detector.search(grey, [(0, 0, 320, 240)]), face)


def test_an_unknown_runtime_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown runtime"):
        BlazeFaceDetector(runtime="tensorflow")


def test_still_regions_look_for_small_faces_with_blazeface_enlarged_not_haar(monkeypatch) -> None:
    # The whole frame at the start and the rolling scan (``upright_only``): faces
    # under 28 px are scaled to 28 px for BlazeFace and the Haar cascade is not
    # run there; where something moved, both as before.
    detector = BlazeFaceDetector(scan_target=28)
    haar = _Recorder()
    hybrid = HybridDetector(detector, haar, haar_below=28)
    scales = _recorded_scales(detector, monkeypatch)
    grey = np.full((240, 320), 110, np.uint8)
    regions = [(0, 0, 100, 100), (100, 0, 100, 100), (200, 0, 100, 100)]
    hybrid.search(grey, regions, [20, 20, 30], [True, False, True], None, [58, 58, 86])
    assert haar.calls == [([(100, 0, 100, 100)], [20])]
    assert scales == [1.4, 1.2, 0.8]
    frame, face = _scene("astronaut", 22, 150, 100)
    found = detector.search(
        cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), [(0, 0, 320, 240)], [20], [True]
    )
    assert _hits(found, face)


class _UprightRecorder(_Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.upright: list[list[bool]] = []

    def search(self, grey, regions, smallest=None, upright_only=None, prefer=None, largest=None):  # type: ignore[no-untyped-def]
        self.upright.append(list(upright_only or []))
        return super().search(grey, regions, smallest, upright_only, prefer, largest)


def test_the_hybrid_looks_for_tilted_small_faces_only_where_a_new_face_may_be(detector) -> None:
    # Motion (no view to prefer): every view, tilted too. Around a face tracked
    # upright: upright views only (the tilted view costs ~4x). Around a face found
    # tilted, and where the caller asks for upright views only, as asked.
    haar = _UprightRecorder()
    hybrid = HybridDetector(detector, haar, haar_below=28)
    grey = np.full((240, 320), 110, np.uint8)
    regions = [(0, 0, 80, 80), (100, 0, 80, 80), (200, 0, 80, 80), (0, 100, 80, 80)]
    hybrid.search(
        grey,
        regions,
        [20, 20, 20, 20],
        [False, False, False, True],
        [None, "blazeface", "tilted", None],
    )
    assert haar.upright == [[False, True, False, True]]


@pytest.mark.parametrize(
    ("name", "width", "left"),
    [("camera", 90, -27), ("astronaut", 60, -6), ("camera-mirrored", 60, -6)],
)
def test_the_reflection_of_a_face_cut_by_the_edge_is_not_a_second_face(
    detector, name, width, left
) -> None:
    # A face partly beyond the left edge: the mirror shows it whole, and shows its
    # reflection too, mostly beyond the edge; only the face itself is reported (a
    # track that followed the reflection drifted off the face).
    frame, face = _scene(name, width, left, 60)
    found = detector.search(frame, [(0, 0, 320, 240)])
    assert found and all(_hits([item], face) for item in found), found
    assert all(x + w > 0.5 * w for (x, _y, w, _h), _view in found), found


class _TiltedRecorder(_Recorder):
    def __init__(self, found: list) -> None:
        super().__init__()
        self.found = found

    def search(self, grey, regions, smallest=None, upright_only=None, prefer=None, largest=None):  # type: ignore[no-untyped-def]
        return list(self.found)


def test_tilted_haar_detections_are_weak_and_never_part_of_a_larger_face(detector) -> None:
    frame, (x, y, _w, _h) = _scene("astronaut", 70, 120, 80)
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    eye = ((x + 10, y + 15, 24, 24), "tilted")  # part of the face BlazeFace finds
    elsewhere = ((250, 180, 24, 24), "tilted")
    upright = ((20, 20, 22, 22), "frontal")
    hybrid = HybridDetector(detector, _TiltedRecorder([eye, elsewhere, upright]))
    found = hybrid.search(grey, [(0, 0, 320, 240)], [20])
    assert any(view == "blazeface" for _r, view in found)
    assert ((250, 180, 24, 24), "tilted?") in found and upright in found
    assert not any(rect == eye[0] for rect, _view in found)


@pytest.mark.parametrize("name", ["astronaut", "camera", "camera-mirrored", "lfw-60"])
@pytest.mark.parametrize("left", [130, -20])  # inside the frame, cut by its left edge
def test_a_second_look_at_a_face_sees_a_face(detector, name, left) -> None:
    frame, _face = _scene(name, 60, left, 80)
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    found = [rect for rect, _view in detector.search(grey, [(0, 0, 320, 240)])]
    assert found and max(detector.second_look(grey, rect) for rect in found) >= 0.7


def test_a_second_look_at_texture_the_search_half_believes_does_not() -> None:
    from devtools.synthetic.faces import scenery

    grey = cv2.cvtColor(scenery("coffee", (640, 480), 0.0, 0), cv2.COLOR_BGR2GRAY)
    loose = BlazeFaceDetector(threshold=0.3)  # texture scoring 0.3 and more in the search
    found = loose.search(grey, [(0, 0, 640, 480)], [20])
    assert len(found) >= 3
    assert all(loose.second_look(grey, rect) < 0.7 for rect, _view in found)


class _CountingDetector(BlazeFaceDetector):
    runs = 0

    def run(
        self, image: np.ndarray, threshold: float | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        self.runs += 1
        return super().run(image, threshold)


def test_a_second_look_stops_at_the_first_crop_that_is_enough() -> None:
    detector = _CountingDetector()
    frame, _face = _scene("astronaut", 60, 130, 80)
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    rect = detector.search(grey, [(0, 0, 320, 240)])[0][0]
    detector.runs = 0
    assert detector.second_look(grey, rect, enough=0.7) >= 0.7 and detector.runs == 1
    detector.runs = 0
    detector.second_look(grey, rect)
    assert detector.runs == 3


def test_large_inputs_run_in_their_own_session_with_the_same_faces() -> None:
    # Inputs of ``large_input`` pixels and more (a whole frame at its finest scale)
    # go to a session without onnxruntime's memory pattern: the same outputs.
    pytest.importorskip("onnxruntime")
    frame, face = _scene("astronaut", 40, 120, 90)
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    usual, large = BlazeFaceDetector(), BlazeFaceDetector(large_input=1)
    assert usual._session_for(240 * 320) is usual._session
    assert large._session_for(240 * 320) is not large._session
    for _ in range(2):  # (a shape's second run is when the memory pattern is made)
        boxes, scores = usual.run(grey)
        large_boxes, large_scores = large.run(grey)
        np.testing.assert_array_equal(boxes, large_boxes)
        np.testing.assert_array_equal(scores, large_scores)
    assert _hits(large.search(grey, [(0, 0, 320, 240)]), face)


def test_the_shared_detector_is_made_once_per_thread() -> None:
    first = shared_detector()
    assert shared_detector() is first
    other: list[HybridDetector] = []
    thread = threading.Thread(target=lambda: other.append(shared_detector()))
    thread.start()
    thread.join()
    assert other and other[0] is not first  # (OpenCV's cascades are not thread-safe)


class _Sizes(_Recorder):
    def search(self, grey, regions, smallest=None, upright_only=None, prefer=None, largest=None):  # type: ignore[no-untyped-def]
        self.calls.append((list(upright_only or []), list(largest or [])))
        return []


def test_in_still_regions_haar_looks_only_for_the_faces_blazeface_sees_poorly(detector) -> None:
    # Still regions (the whole frame, the rolling scan): Haar up to 29 px (BlazeFace's
    # recall is low under 28); where something moved or a face is tracked, up to 42.
    haar = _Sizes()
    hybrid = HybridDetector(detector, haar)
    grey = np.full((240, 320), 110, np.uint8)
    hybrid.search(grey, [(0, 0, 160, 240), (160, 0, 160, 240)], [20, 20], [True, False])
    assert haar.calls == [([True, False], [29, 42])]
    haar.calls.clear()
    HybridDetector(detector, haar, still_up_to=None).search(grey, [(0, 0, 160, 240)], [20], [True])
    assert haar.calls == [([True], [42])]


def test_the_onnx_weights_are_the_file_the_notice_describes() -> None:
    # models/NOTICE.md gives the recipe of each change to the ONNX copy and the sha256
    # of its result, the last one being the file shipped (issue 14r: tensors widened to
    # whole blocks of 16 channels); a file changed without its recipe fails here.
    import hashlib
    import re

    from chalicelib.faces.blazeface import ONNX_MODEL

    notice = (ONNX_MODEL.parent / "NOTICE.md").read_text()
    onnx_part = notice[notice.index("# face_detection_short_range.onnx") :]
    described = re.findall(r"sha256[^`]*`([0-9a-f]{64})`", onnx_part)[-1]
    assert hashlib.sha256(ONNX_MODEL.read_bytes()).hexdigest() == described


def _small_face(source: str, tilt: float) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A 320×240 grey frame (the test set's way: a cut-out on a photograph) with one
    20-px face ``source`` tilted ``tilt``° at its centre, and the face's box (x, y, w, h)."""
    case = Case("small", (320, 240), (Actor(source, 20, (160, 120), tilt=tilt),), "chelsea")
    frame, boxes = next(iter(render(replace(case, frames=1))))
    x0, y0, x1, y1 = boxes[0]
    return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), (x0, y0, x1 - x0, y1 - y0)


@pytest.mark.parametrize(("source", "tilt"), [("lfw-87", 0.0), ("lfw-87", 25.0), ("lfw-3", -25.0)])
def test_the_fine_level_finds_20_px_faces_the_network_misses_at_24_px(source, tilt) -> None:
    # Where something moves (not a still region), a region asking for 20-px faces is
    # also searched with them enlarged to 40 px: there BlazeFace sees 20-px grey
    # faces, upright or tilted, that it does not see at its usual 24 px (issue 14w).
    grey, face = _small_face(source, tilt)
    region = [(100, 60, 120, 120)]
    assert not _hits(BlazeFaceDetector().search(grey, region, [20], [False]), face)
    assert _hits(BlazeFaceDetector(fine_target=40).search(grey, region, [20], [False]), face)


def test_the_fine_level_runs_only_where_small_faces_may_move(monkeypatch) -> None:
    # Not in still regions (the whole frame at the start, the rolling scan: their cost
    # is the search of whole frames), not where only faces of 28 px and more are wanted.
    # (The hybrid passes its ``prefer`` on to BlazeFace.)
    detector = BlazeFaceDetector(fine_target=40)
    scales = _recorded_scales(detector, monkeypatch)
    grey = np.full((240, 320), 110, np.uint8)
    regions = [(0, 0, 100, 100), (100, 0, 100, 100), (200, 0, 100, 100)]
    detector.search(grey, regions, [20, 20, 30], [False, True, False], None, [58, 58, 86])
    assert scales == [1.2, 2.0, 1.2, 0.8]
    # Nor around a tracked face, at a follow-up or an edge search (``prefer``): a
    # fine level there found texture on a star field at follow-ups (seed 2026-0).
    scales.clear()
    detector.search(grey, regions[:2], [20, 20], [False, False], ["blazeface", None], [58, 58])
    assert scales == [1.2, 1.2, 2.0]
    # ... unless asked for (``fine``: a follow-up look for a small face found
    # confidently at the pass before), through the hybrid too.
    scales.clear()
    detector.search_extents(
        grey, regions[:2], [20, 20], [False, False], ["blazeface", None], [58, 58], [True, False]
    )
    assert scales == [1.2, 2.0, 1.2, 2.0]
    scales.clear()  # ... in a still region too (the emerge look's: upright views only)
    still = [True, True]
    detector.search_extents(grey, regions[:2], [20, 20], still, None, [58, 58], [True, False])
    assert scales == [1.2, 2.0, 1.2]
    scales.clear()  # (for a larger face too: at 40 px of the input for the smallest)
    detector.search_extents(grey, regions[:1], [32], [False], ["blazeface"], [80], [True])
    assert scales == [0.75, 1.25]
    scales.clear()
    hybrid = HybridDetector(detector, MultiViewDetector(min_face=20, views=("frontal",)))
    hybrid.search_extents(grey, regions[:1], [20], [False], ["blazeface"], [58], [True])
    assert scales == [1.2, 2.0]


def test_a_follow_up_asks_for_the_fine_level_only_where_no_face_was_found_confidently(
    monkeypatch,
) -> None:
    # (a 30-px face: its box is under the fine level's largest, 2.5 x 20 px, so the
    # level is not left out for a larger face holding the region)
    frame, face = _scene("astronaut", 30, 130, 80)
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    detector = BlazeFaceDetector(fine_target=40)
    scales = _recorded_scales(detector, monkeypatch)
    x, y, w, h = face
    around = [(x - 30, y - 30, w + 60, h + 60)]
    found, _extents = detector.search_extents(
        grey, around, [20], [False], ["blazeface"], [60], [True]
    )
    assert _hits(found, face) and all(view == "blazeface" for _r, view in found)
    assert scales == [1.2]  # found confidently at the usual level: no fine level


def test_the_fine_level_keeps_only_small_faces(monkeypatch) -> None:
    # Enlarged, the network also sees larger faces (found by the coarser levels) and
    # texture of its own at large sizes: its boxes over ``fine_span`` × the smallest
    # face asked for are dropped.
    detector = BlazeFaceDetector(fine_target=40, fine_span=2.5)
    boxes = np.array([[10.0, 10, 40, 40], [60, 10, 60, 60]])

    def level(crop, scale, edges, target=None):  # type: ignore[no-untyped-def]
        return boxes.copy(), boxes.copy(), np.array([0.9, 0.9])

    monkeypatch.setattr(detector, "_level", level)
    found, extent, score = detector._fine_level(np.zeros((100, 100), np.uint8), 20, (False,) * 4)
    assert found.tolist() == [[10.0, 10, 40, 40]] and len(extent) == len(score) == 1


def test_the_fine_level_is_not_run_in_a_region_that_is_a_larger_face(monkeypatch) -> None:
    # A moving 60-px face makes a moving region about itself that asks for 20-px
    # faces: the regular levels find it confidently there, so the fine level is
    # not run (issue 14w: 6 ms per VGA frame on a tilted face on grass).
    detector = BlazeFaceDetector(fine_target=40)
    calls: list[int] = []
    fine = detector._fine_level

    def counted(crop, least, edges):  # type: ignore[no-untyped-def]
        calls.append(least)
        return fine(crop, least, edges)

    monkeypatch.setattr(detector, "_fine_level", counted)
    frame, (x, y, w, h) = _scene("astronaut", 60, 130, 80)
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    region = (x + w // 2 - 80, y + h // 2 - 80, 160, 160)
    assert _hits(detector.search(grey, [region], [20], [False]), (x, y, w, h))
    assert calls == []
    detector.search(np.full((240, 320), 110, np.uint8), [region], [20], [False])
    assert calls == [20]


def test_the_hybrid_confirms_with_the_small_detectors_frontal_cascade(detector) -> None:
    # before: the frontal cascade was read from disk twice (the small-face views and the
    # confirmation each loaded their own, ~2x the XML parse on every cold start)
    from chalicelib.faces.detection import MultiViewDetector

    haar = MultiViewDetector(min_face=20, views=("frontal", "tilted"))
    assert HybridDetector(detector, haar).confirm is haar.cascade("frontal")
    assert HybridDetector(detector, _Recorder()).confirm is not None  # its own when needed
    assert HybridDetector(detector, haar, confirm=False).confirm is None


def test_a_star_field_is_not_taken_for_faces(monkeypatch) -> None:
    # The Hubble deep field as the test set's 640x480 background: BlazeFace half-believes
    # (and once or twice believes) faces in its galaxies; their boxes are a few bright
    # points on black (docs/face-blurring.md, session 39).
    grey = cv2.cvtColor(scenery("hubble_deep_field", (640, 480), 0.0, 0), cv2.COLOR_BGR2GRAY)
    detector = BlazeFaceDetector()
    monkeypatch.setattr(blazeface, "SPARSE_SKEW", None)
    unchecked = detector.search(grey, [(0, 0, 640, 480)])
    monkeypatch.undo()
    checked = detector.search(grey, [(0, 0, 640, 480)])
    assert sum(view == "blazeface" for _r, view in unchecked) >= 1  # a confident one, unchecked
    assert len(checked) < len(unchecked)
    assert all(view == "blazeface?" for _r, view in checked)


@pytest.mark.parametrize("name", ["astronaut", "camera", "camera-mirrored", "lfw-60"])
@pytest.mark.parametrize("left", [130, -20])
def test_a_face_on_a_black_background_is_still_a_face(detector, name, left) -> None:
    # (the sky of a star field, a dark room: the face's box is partly black)
    frame, face = _scene(name, 60, left, 80, fill=8)
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    found = detector.search(grey, [(0, 0, 320, 240)])
    x, y, w, h = face
    visible = (max(0, x), y, w + min(0, x), h)
    assert _hits(found, face) or _hits(found, visible)
