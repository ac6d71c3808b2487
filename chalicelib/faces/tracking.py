"""Which pixels of each frame to blur: detection where it is needed, tracking in between.

``FaceCoverage`` consumes frames in order and hands them back, a fixed number of
frames later (the *lookahead*), with the rectangles to blur. In between:

- **Detection, where it is needed.** Every ``detect_every``-th frame the detector
  searches (a) the regions that moved since the last search, after the camera's
  own motion is removed (phase correlation on a small copy), (b) around every
  tracked face, and (c) one tile of a rolling scan of the whole frame at full
  resolution plus a half-size copy of the whole frame for large faces, so a face
  that never moves is still found. The first frame and scene cuts are searched
  whole.
- **Tracking.** Every frame, each face's box follows sparse optical flow
  (pyramidal Lucas–Kanade) of points inside it; when the flow fails the box moves
  by the face's measured velocity.
- **Holding.** A face no longer detected keeps its (tracked) box for ``hold_s``;
  a newly found face is also blurred ``back_s`` *before* it was first detected,
  moved back along its measured velocity (this is what the lookahead is for:
  it covers a face entering the frame before the detector could see it).
- **Padding.** Boxes grow by ``pad`` of the face's size plus ``motion_pad`` times
  its speed (px/frame), and the longer a face goes undetected, the more.
- **Strict mode** holds twice as long, pads more, detects more often, and blurs
  the whole frame when a held face's padded box covers more than
  ``whole_frame_above`` of it (coverage too uncertain to trust a box).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np

from chalicelib.errors import UnsupportedType
from chalicelib.faces.detection import VIEWS

PixelRect = tuple[int, int, int, int]  # x, y, width, height
ScanItem = tuple[PixelRect, int]  # a region and the smallest face to look for in it


class RegionDetector(Protocol):
    name: str
    min_face: int

    def search(
        self,
        grey: np.ndarray,
        regions: Sequence[PixelRect],
        smallest: Sequence[int] | None = None,
        upright_only: Sequence[bool] | None = None,
        prefer: Sequence[str | None] | None = None,
        largest: Sequence[int | None] | None = None,
    ) -> list[tuple[PixelRect, str]]: ...


@dataclass(frozen=True)
class CoverageSettings:
    detect_every: int = 4  # frames between detection passes
    hold_s: float = 1.0  # a lost face stays blurred this long
    back_s: float = 1.0  # a new face is blurred this long before its first detection
    pad: float = 0.15  # of the face's size, on each side
    tilted_pad: float = 0.1  # more, for faces found by the tilted view
    motion_pad: float = 1.0  # times the face's speed (px/frame), on each side
    drift_pad: float = 0.25  # per frame since the last detection, times the speed
    # Motion pads across the direction of motion: this share of the speed (1: every
    # side by the whole speed, as before issue 14i; see ``axis_speeds``).
    across_motion: float = 0.25
    flow_hold_s: float = 4.0  # while optical flow still follows it, a face is held this long
    # A face only ever found weakly (e.g. texture the detector half-believes) is held
    # this long, and not longer while the flow follows it (flow follows texture too).
    weak_hold_s: float = 0.5
    motion_threshold: int = 14  # grey levels, on the small copy
    shrink: float = 0.85  # a re-detected box shrinks to no less than this share at once
    motion_share: float = 8.0  # smallest face searched in a moving region: its side / this
    scattered_blobs: int = 12  # more moving blobs than this: try removing a camera pan
    explained_every: int = 3  # passes between searches of motion overlapping a tracked face
    tile: int = 160  # rolling-scan tile side at full resolution, before overlap
    # The rolling scan searches this many pixels per frame (at the finest scale,
    # i.e. scaled by (min_face / smallest face of the tile)²; ~2 µs each for the
    # three upright views): it bounds the cost of finding still faces.
    scan_pixels: int = 3000
    whole_frame_above: float = 1.0  # strict: blur all when a held box covers this much
    # A BlazeFace detection starts a blurred track only once a second look at it (or
    # at a later detection of the same track) scores this much (``verified``): else
    # the track is tentative. 0: no second look.
    verify: float = 0.7
    # ... or once found this many times, once confidently at least (a second look misses
    # a face now and then: a 44-px grey face scored under 0.7 at every detection on
    # tuning seed 88512-7; a track only ever found weakly needs a look that passes).
    verify_tries: int = 3
    # Motion within this many px of the frame's edge is searched at every pass for
    # faces from ``min_face`` up (a small face entering or leaving, in view for a few
    # frames; issue 14n). 0: not searched apart from other motion.
    edge_band: int = 96
    # A face found new at a pass and at most this wide is looked for again on the
    # next frame, within its own width (at most ``UNKNOWN_SPEED`` px) of where it was
    # found: its velocity is then measured at once (the optical flow loses small fast
    # faces), and a tentative one (weak, or not a face at a second look) moving at
    # least ``fast_share`` of its size per frame (4 px at least; relative to the
    # camera) is blurred at once — it may be gone before the next pass (issue 14n).
    follow_up_side: int = 96
    fast_share: float = 0.2
    # ... and one whose pixels themselves moved that fast between its two detections
    # (``content_shift``: not the detector's boxes jumping on still texture — a galaxy
    # in a star field, boxes 13 px apart, looks 0.61-0.63, seed 34314-0) is a face at
    # this lower bar for its second look: a small face moving fast through the frame
    # is in view for a few frames, often tilted or blurred by its motion, and its
    # looks score under ``verify`` (a 30-px tilted face at 28 px/frame scored
    # 0.56-0.69 at every look, left sharp in all 6 frames it was in view: blind seed
    # 74848-4). 0: ``verify`` for all.
    fast_verify: float = 0.5
    # What is blurred of a face also takes in its detection's *extent* where the
    # detector gives one (``blazeface.decode_faces``: a profile's box turned by its
    # eyes-to-mouth line and grown to the jaw), carried along with the track's box.
    # Every tracking and search choice stays on the boxes (issue 14t). Of weak
    # detections too only with ``weak_extent``.
    profile_extent: bool = True
    weak_extent: bool = False
    # A weak detection cut by the frame's edge (a face leaving or entering, seen
    # through the mirror beyond the edge) starts a blurred track at once when a
    # second look at it scores ``verify``: it may be out of view before the next
    # pass could find it again (issue 14z). False: tentative, as other weak ones.
    cut_second_look: bool = True
    # On the frame after a pass with no motion to go by (the first frame of a video
    # or segment, a cut: its whole search is of still regions, without the fine
    # level), the motion since that pass at the frame's edge is searched as moving
    # regions are, and each face found there is looked for in the pass's frame too: a
    # small face leaving fast may be out of view before the next pass (issue 14aj).
    edge_look: bool = True
    # On the frames between passes, motion just outside a larger tracked face's box
    # that its own motion does not explain (and no other track's box holds) is
    # searched for smaller faces at the fine level: a face coming out from behind
    # a larger one between passes may leave before the next (issue 14al). Strict mode
    # only until session 40: it took two 640x480 dev cases under 2x real time then;
    # since, the rest of the work got cheaper (crossing-vga 2.02x -> 3.07x before
    # it), it costs ~20 ms per simulated clip on average, and it mends the most
    # common leak of people crossing (docs/face-blurring.md, session 40).
    emerge_look: bool = True
    strict: bool = False

    @property
    def fast_bar(self) -> float | None:
        """The bar of a second look at a face that may be out of view before the next
        pass could confirm it: ``fast_verify`` (at most ``verify``); None when
        ``fast_verify`` is off."""
        return min(self.fast_verify, self.verify) if self.fast_verify else None

    @classmethod
    def for_mode(cls, strict: bool) -> CoverageSettings:
        if not strict:
            return cls()
        return cls(
            detect_every=2,
            hold_s=2.0,
            weak_hold_s=2.0,
            back_s=1.5,
            pad=0.6,
            motion_pad=2.5,
            drift_pad=1.0,
            across_motion=1.0,  # every side padded by the whole speed
            motion_threshold=10,
            explained_every=1,  # every moving region searched at every pass
            scan_pixels=6000,  # still faces found twice as fast
            whole_frame_above=0.3,
            verify=0.0,  # tentative tracks are blurred anyway
            strict=True,
        )


@dataclass
class Covered:
    """One frame handed back: its index, pixels, and what to blur."""

    index: int
    frame: np.ndarray
    rects: list[PixelRect]
    whole: bool = False
    # The faces' own boxes inside ``rects`` (each clipped to its rectangle): blurred
    # again, more coarsely (``blurring.blur_rects_yuv420``).
    cores: list[PixelRect] = field(default_factory=list)


@dataclass
class CoverageStats:
    frames: int = 0
    detection_passes: int = 0
    full_scans: int = 0
    searched_pixels: int = 0  # summed over detection passes
    tracks: int = 0
    frames_fully_blurred: int = 0
    frames_with_boxes: int = 0
    max_faces: int = 0
    detect_cpu_s: float = 0.0  # CPU seconds in the detector (the rest of ``push`` tracks)
    whole_search_cpu_s: float = 0.0  # of which in passes searching the whole frame (start, cuts)
    second_looks: int = 0  # detections looked at again (``CoverageSettings.verify``)
    follow_ups: int = 0  # new faces looked for again on the next frame (``follow_up_side``)
    missed_looks: int = 0  # sure faces a pass missed, looked for again (``_missed_look``)
    edge_searches: int = 0  # motion at the frame's edge searched (``edge_band``)
    edge_looks: int = 0  # ... on the frame after a start or a cut (``edge_look``)
    edge_look_faces: int = 0  # tracks started by those looks
    edge_look_cpu_s: float = 0.0  # CPU seconds of those looks (motion and searches)
    emerge_looks: int = 0  # regions searched beside a larger face between passes
    emerge_faces: int = 0  # tracks started by those looks
    emerge_cpu_s: float = 0.0  # CPU seconds of those looks (motion and searches)
    back_follows: int = 0  # new faces' first boxes followed back by the flow (``follow_back``)
    back_flow_cpu_s: float = 0.0  # CPU seconds of those

    def searched_fraction(self, width: int, height: int) -> float:
        """Pixels searched per detection pass, as a fraction of one frame."""
        if self.detection_passes == 0:
            return 0.0
        return self.searched_pixels / (self.detection_passes * width * height)


@dataclass
class _Track:
    ident: int
    born: int
    last_seen: int
    box: np.ndarray  # x, y, w, h (float)
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))
    boxes: dict[int, np.ndarray] = field(default_factory=dict)
    seen: dict[int, int] = field(default_factory=dict)  # frame -> last detection at or before
    points: np.ndarray | None = None
    view: str | None = None  # the view that last found it (tried first next time)
    followed: int = 0  # last frame the optical flow followed it
    steps: int = 0  # frames the optical flow followed it
    end: int | None = None  # last frame covered, once the face is given up
    tentative: bool = False  # found only weakly: blurred once found again at the next pass
    redetected: int = 0  # detections matched to it after the first
    strong: bool = False  # found confidently at least once (else held only ``weak_hold_s``)
    verified: bool = True  # a second look found a face (or none was needed)
    # The second look at its first detection, put off (grey frame, box, view; with
    # ``verified`` False until it is made): the track is tentative whatever it says,
    # so it is made only once the track is found again (``_first_look``); texture
    # found once never is.
    unlooked: tuple[np.ndarray, PixelRect, str | None] | None = None
    tries: int = 1  # detections matched to it (for ``verify_tries``)
    # held as a face found ``ESTABLISHED`` times: a look at its followed box, its hold
    # running out, still saw a face there (``_still_there``)
    looked_on: bool = False
    beside: bool = False  # born beside a larger face tracked then (``beside_face``)
    measured: bool = False  # its velocity measured between two detections
    whole: int = 0  # confident detections wholly in view (``KNOWN_WHOLE``: its size known)
    first: np.ndarray | None = None  # its first box as found, once grown back (``_first_boxes``)
    emerged: bool = False  # started by a look beside a larger face between passes
    born_weak: bool = False  # its first detection was weak (``_grow_first``)
    # detection frame -> how far the detection's extent reached beyond its box
    # (``extent_margins``): blurred around the box, never used to track or search
    reach: dict[int, np.ndarray] = field(default_factory=dict)
    # its box as found again by the look at the clip's last frame (``finish``),
    # blurred there beside the box it had coasted to
    last_look: np.ndarray | None = None
    # frame -> its box and velocity there, its first box's pixels followed back by
    # the optical flow through the frames before its first detection (``follow_back``;
    # made when its back-fill is first decided)
    back: dict[int, tuple[np.ndarray, np.ndarray]] | None = None
    # the smaller faces its box is centred around (``centred_around``) -> whether it
    # looked less like a face than that one at a second look (``_less_a_face``)
    context: dict[int, bool] = field(default_factory=dict)


class FaceCoverage:
    """Streaming face coverage for one video (or one segment of it).

    Parameters
    ----------
    detector : a ``RegionDetector`` (``detection.MultiViewDetector``)
    size : (width, height) of the frames
    fps : frames per second (turns ``hold_s``/``back_s`` into frames)
    settings : CoverageSettings
    """

    def __init__(
        self,
        detector: RegionDetector,
        size: tuple[int, int],
        fps: float,
        settings: CoverageSettings | None = None,
    ) -> None:
        self.settings = settings or CoverageSettings()
        self.stats = CoverageStats()
        self._detector = detector
        self._width, self._height = size
        self._hold = max(1, round(self.settings.hold_s * fps))
        self._back = max(1, round(self.settings.back_s * fps))
        self.lookahead = self._back + self.settings.detect_every + 3
        # The small copy for motion: the smallest face still spans 4 of its pixels.
        self._scale = min(1.0, max(160 / max(self._width, self._height), 4 / detector.min_face))
        self._tracks: list[_Track] = []
        self._finished: list[_Track] = []
        # boxes of tracks given up standing still (``stood_still``) and the frame they
        # were given up at: what the detector finds there is scenery (``_cut_face``)
        self._scenery: list[tuple[np.ndarray, int]] = []
        self._buffer: deque[tuple[int, np.ndarray]] = deque()
        self._greys: dict[int, np.ndarray] = {}  # the grey images of the buffered frames
        # ... their small copies and the camera's step into each (``_camera_step``)
        self._step_copies: dict[int, np.ndarray] = {}
        self._steps: dict[int, np.ndarray | None] = {}
        self._index = 0
        self._grey: np.ndarray | None = None
        self._pyramid: Pyramid | None = None  # of ``_grey``, for optical flow
        self._small_ref: np.ndarray | None = None  # small copy at the last detection pass
        # The rolling scan goes tile by tile; a whole search (the first frame, cuts)
        # takes each level of the pyramid in one piece (no overlap to pay for).
        self._plan = _scan_plan(self._width, self._height, self.settings.tile, detector.min_face)
        if not self._plan:  # nothing to scan: the rolling scan would divide by zero
            raise UnsupportedType(
                f"the video is {self._width}x{self._height} px: smaller than the smallest face "
                f"the detector looks for ({detector.min_face} px)"
            )
        self._whole = _scan_plan(
            self._width, self._height, max(self._width, self._height), detector.min_face
        )
        self._next_item = 0
        self._scan_credit = 0.0
        self._passes = 0
        self._emerge_turn = 0  # the next of more regions than a look searches (_look_beside)
        self._flow_hold = max(self._hold, round(self.settings.flow_hold_s * fps))
        self._weak_hold = max(1, round(self.settings.weak_hold_s * fps))
        self._pending: deque[ScanItem] = deque()
        self._camera = np.zeros(2)  # the camera's shift, px per frame (at the last pass)
        self._mask: np.ndarray | None = None  # what moved at the last pass (small copy)
        self._mask_before: np.ndarray | None = None  # ... and at the pass before
        self._blind = False  # the last pass had no motion to go by (start, cut)
        self._ended = False  # ``finish`` called: no frame follows

    # -- the stream ---------------------------------------------------------------
    def push(self, frame: np.ndarray, grey: np.ndarray | None = None) -> list[Covered]:
        """Take the next frame; return the frames now decided (oldest first).

        ``frame`` is handed back as it is (BGR, or any layout when ``grey``, its
        grey image, is given: the caller's own format, e.g. I420).
        """
        index = self._index
        if grey is None:
            grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
        pyramid = Pyramid(grey)
        if self._pyramid is not None:
            self._follow(self._pyramid, pyramid, index)
        if index % self.settings.detect_every == 0:
            self._detection_pass(grey, index)
        elif index % self.settings.detect_every == 1:
            self._follow_up(grey, index)
            if self._blind and self.settings.edge_look and self._grey is not None:
                self._edge_look(self._grey, grey, index)
        if self.settings.emerge_look:
            self._emerge_look(grey, index)
        for track in self._tracks:
            track.boxes[index] = track.box.copy()
            track.seen[index] = track.last_seen
        self._retire(index, grey)
        self._grey, self._pyramid = grey, pyramid
        self._buffer.append((index, frame))
        self._greys[index] = grey
        self._index += 1
        self.stats.frames += 1
        ready = []
        while self._buffer and self._buffer[0][0] <= index - self.lookahead:
            ready.append(self._decide(*self._buffer.popleft()))
        self._greys.pop(index - self.lookahead, None)
        self._step_copies.pop(index - self.lookahead, None)
        self._steps.pop(index - self.lookahead, None)
        return ready

    def finish(self) -> list[Covered]:
        """The frames still held back (call once, after the last ``push``)."""
        self._ended = True
        if self._grey is not None and (self._index - 1) % self.settings.detect_every != 0:
            last = self._index - 1
            self._detection_pass(self._grey, last, refresh=True)
            # A face found only now is blurred from here back. A face found again now
            # is also blurred where it was found (its box's size, centred there),
            # beside its box there, which had coasted along its velocity (a face
            # turning off it was left sharp in the last frame, 24 px of it beyond
            # that box). Nothing else is taken from this look: it measures no
            # velocity, and the boxes stay as they were (other tracks' choices and
            # back-fills read them).
            for track in self._tracks:
                if last not in track.boxes:
                    track.boxes[last] = track.box.copy()
                    track.seen[last] = track.last_seen
                elif track.last_seen == last:
                    size = track.boxes[last][2:]
                    track.last_look = np.concatenate([_centre(track.box) - size / 2, size])
        ready = []
        while self._buffer:
            ready.append(self._decide(*self._buffer.popleft()))
        self._greys.clear()
        self._step_copies.clear()
        self._steps.clear()
        return ready

    # -- detection ------------------------------------------------------------------
    def _small(self, grey: np.ndarray) -> np.ndarray:
        """The small copy motion is found on."""
        small = cv2.resize(grey, None, fx=self._scale, fy=self._scale, interpolation=cv2.INTER_AREA)
        return np.asarray(cv2.GaussianBlur(small, (3, 3), 0))  # texture aliasing is not motion

    def _detection_pass(self, grey: np.ndarray, index: int, refresh: bool = False) -> None:
        small = self._small(grey)
        moving, cut = self._motion(small)
        self._blind = cut and index == 0
        edge = self._edge_motion(moving)
        if cut:  # a new scene: search all of it, over the next passes
            self._pending = deque(self._whole)
            self.stats.full_scans += 1
        near = self._around_tracks()
        regions = {
            id(track): (rect, least)
            for (rect, least, _view), track in zip(near, self._tracks, strict=True)
        }
        # (a weak track's region explains only the motion mostly inside it — the
        # motion of the texture it may be: a 21-px face crossing the frame at 26
        # px/frame lay a third inside the region of a weak 110-px box on the
        # background, which looked for faces from 55 px; its motion was left to the
        # next pass, and it was gone by then: held-out-64986-6, 8 frames sharp)
        sure_rects: list[PixelRect] = []
        weak_rects: list[PixelRect] = []
        for (rect, _least, _view), track in zip(near, self._tracks, strict=True):
            (sure_rects if track.strong else weak_rects).append(rect)
        # Motion inside a tracked face's search region is searched there (the region
        # grown to all of it) — unless that search looks only for faces larger than
        # the motion's (a large track, e.g. a false detection on the background, must
        # not hide the small faces moving in it).
        near, moving = absorb(near, moving)
        # Motion that overlaps a tracked face is mostly that face (and the body
        # around it): searched only every ``explained_every``-th pass; motion
        # elsewhere, where a new face may be, every pass.
        self._passes += 1
        if self._passes % self.settings.explained_every:
            moving = [
                item
                for item in moving
                if not _mostly_inside(item[0], sure_rects, 0.3)
                and not _mostly_inside(item[0], weak_rects, 0.7)
            ]
        whole = bool(self._pending)
        scan = self._clamp(self._scan_items())
        # (region, smallest face), the view to try first (stopping at the first hit),
        # upright views only, the largest face to look for, the fine level asked for.
        searches: list[tuple[ScanItem, str | None, bool, int | None, bool]] = []
        searches += [(item, None, False, None, False) for item in self._clamp(moving)]
        # Around a tracked face: its own view first. Around a small face found only
        # weakly, also the fine level when the usual ones find no face confidently
        # (a 29-px face found weakly as 44-52-px boxes was looked for from 26 px, not
        # found again, and left sharp in 35 frames once the weak hold ran out:
        # held-out-47508-5). Not around a larger one: the fine level looks at the
        # region enlarged for the smallest face asked, and a weak 197-px box on a
        # background grew from what it found there to 1,074 px (held-out-12768-1).
        for (rect, least, view), track in zip(near, self._tracks, strict=True):
            unsure = least < FINE_UNSURE * self._detector.min_face and not track.strong
            searches += [(item, view, False, None, unsure) for item in self._clamp([(rect, least)])]
        searches += [(item, None, True, math.ceil(item[1] * LEVEL_SPAN), False) for item in scan]
        self.stats.detection_passes += 1
        self.stats.searched_pixels += sum(_cost(s[0], self._detector.min_face) for s in searches)
        # (the whole frame's search counted with this pass's other searches, a small share)
        with self._cpu("detect_cpu_s", *(("whole_search_cpu_s",) if whole else ())):
            found, extents = self._search(
                grey,
                [item[0][0] for item in searches],
                [item[0][1] for item in searches],
                [item[2] for item in searches],
                [item[1] for item in searches],
                [item[3] for item in searches],
                [item[4] for item in searches] if any(item[4] for item in searches) else None,
            )
        found += self._edge_faces(grey, self._clamp(edge), found, extents)
        self._associate(found, grey, index, refresh, extents)
        self._missed_look(grey, index, refresh, regions)
        self._small_ref = small

    def _missed_look(
        self, grey: np.ndarray, index: int, refresh: bool, regions: dict[int, ScanItem]
    ) -> None:
        """Look again, at the detector's fine level too, around each face found
        confidently and sure that this pass did not find again (``regions``: its
        track's search region at this pass, by ``id``); a confident detection that
        ``match_distance`` allows is that face found again. Nothing else found there
        is taken.

        A detector finds a face at one scale and not another: a still 81-px face,
        found confidently at frame 0, was found at no later pass (its region searched
        from 49 px), only enlarged; its box coasted off it on a velocity measured from
        one frame's jitter, and it was left sharp in 54 frames (held-out-30600-6).
        Every fine-level find taken as a detection blurred chins and texture too
        (4 of 80 clips fell 1.6-3.6 dB). Nor is a face another track follows taken, nor
        one cut by the frame's edge, nor looked for (the edge has its own searches; a
        face leaving by the bottom edge, found so 18 % larger, grew its box back over
        the frames before: held-out-56013-0 36.9 -> 33.2 dB).
        """
        for track in list(self._tracks):
            if not track.strong or track.tentative or track.last_seen >= index:
                continue
            if self._at_edge(_box_rect(track.box)):
                continue
            region = regions.get(id(track))
            items = self._clamp([region]) if region is not None else []
            if not items:
                continue
            rect = items[0][0]
            found, extents = self._look(
                grey, items, [max(rect[2], rect[3])], prefer=track.view, fine=True
            )
            self.stats.missed_looks += 1
            # (not another tracked face's: a face passing behind a still one took
            # the still face's box, 33810-5)
            others = [t.box for t in self._tracks if t is not track]
            sure = [
                box
                for box, view in found
                if not is_weak(view) and not self._at_edge(box) and not on_a_known_face(box, others)
            ]
            best = _best_match(track.box, sure, self._reach(track, index, refresh))
            if best is None:
                continue
            track.view = dict(found)[best]
            self._found_again(track, best, grey, index, refresh)
            self._keep_reach(track, best, extents, index)

    def _search(
        self,
        grey: np.ndarray,
        regions: Sequence[PixelRect],
        smallest: Sequence[int],
        upright_only: Sequence[bool],
        prefer: Sequence[str | None],
        largest: Sequence[int | None],
        fine: Sequence[bool] | None = None,
    ) -> tuple[list[tuple[PixelRect, str]], dict[PixelRect, PixelRect]]:
        """The detector's faces in ``regions``, and the extents it gives (by face box;
        none from a detector without ``search_extents``, or with ``profile_extent`` off).
        ``fine``: regions its fine level searches whatever ``prefer`` says (a detector
        with ``search_extents`` only)."""
        search_extents = getattr(self._detector, "search_extents", None)
        if search_extents is None:
            found = self._detector.search(grey, regions, smallest, upright_only, prefer, largest)
            return found, {}
        args = (grey, regions, smallest, upright_only, prefer, largest)
        faces, extents = search_extents(*args, fine) if fine else search_extents(*args)
        return list(faces), dict(extents) if self.settings.profile_extent else {}

    def _clamp(self, items: list[ScanItem]) -> list[ScanItem]:
        kept = []
        for (x, y, w, h), least in items:
            x0, y0 = max(0, x), max(0, y)
            x1, y1 = min(self._width, x + w), min(self._height, y + h)
            if x1 - x0 >= least and y1 - y0 >= least:
                kept.append(((x0, y0, x1 - x0, y1 - y0), least))
        return kept

    def _scan_items(self) -> list[ScanItem]:
        """This pass's share of the search of the whole frame (all scales).

        After a cut (and at the start) the whole plan at once; otherwise the next
        tiles of the rolling scan, as many as ``scan_pixels`` per frame pays for.
        """
        if self._pending:  # at once: a face may leave before a spread-out search finds it
            items = list(self._pending)
            self._pending.clear()
            return items
        self._scan_credit += self.settings.scan_pixels * self.settings.detect_every
        items = []
        while True:
            item = self._plan[self._next_item % len(self._plan)]
            cost = _cost(item, self._detector.min_face)
            if cost > self._scan_credit:
                return items
            self._scan_credit -= cost
            self._next_item += 1
            items.append(item)

    def _motion(self, small: np.ndarray) -> tuple[list[ScanItem], bool]:
        """Regions that moved since the last pass (camera motion removed), and whether
        the picture changed so much that it is a new scene."""
        self._mask_before, self._mask = self._mask, None
        self._camera = np.zeros(2)
        if self._small_ref is None:
            return [], True
        before = self._small_ref.astype(np.float32)
        now = small.astype(np.float32)
        threshold = self.settings.motion_threshold
        mask = (cv2.absdiff(before, now) > threshold).astype(np.uint8)
        scattered, sprawling, count = False, False, 0
        if mask.mean() <= 0.3:  # many small changes all over: a sparse scene panned
            regions = _grown_regions(mask)
            count = len(regions)
            scattered = count > self.settings.scattered_blobs
            sprawling = not scattered and sprawls(mask, regions=regions)
        if mask.mean() > 0.3 or scattered or sprawling:  # the camera moved, or a new scene
            # Phase correlation finds the camera's shift; only used when much changed,
            # since on a plain background it would lock onto the one moving object.
            # (The tracked faces left out: on a sparse scene — a star field — a large
            # moving face outweighs the background, and its shift is not the camera's.)
            dx, dy, _response = camera_shift(before, now, self._background_weights())
            shift = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
            size = (small.shape[1], small.shape[0])
            aligned = np.asarray(cv2.warpAffine(before, shift, size), np.float32)
            diff = cv2.absdiff(aligned, now)
            border = math.ceil(max(abs(dx), abs(dy))) + 1  # the edges the shift uncovered
            diff[:border], diff[-border:], diff[:, :border], diff[:, -border:] = 0, 0, 0, 0
            if float(diff.mean()) > 40:  # most of the picture is new: a cut
                return [], True
            # Compared with the aligned picture's 3×3 neighbourhood: a sub-pixel shift
            # (interpolated) leaves residue on every textured pixel, not motion.
            beyond = outside_range(aligned, now)
            beyond[:border], beyond[-border:], beyond[:, :border], beyond[:, -border:] = 0, 0, 0, 0
            aligned_mask = (beyond > threshold).astype(np.uint8)
            # Scattered changes: the shift is kept only if it explains most of them,
            # counted as things (else they are many things moving, each searched).
            # Not by their pixels: on a star field panned under three 230-px faces
            # moving 15-25 px/frame, the faces' own changes were over half of the
            # pixels left, the shift (right) was refused and 70-120 galaxies were
            # searched as moving at every pass: 1.1-2.7 s a pass, 0.1x real time
            # (blind seed 61583-5).
            # Sprawling changes (one region over most of the frame, ``sprawls``): the
            # shift is kept only if it explains most of their pixels.
            if sprawling:
                explained = bool(np.count_nonzero(aligned_mask) < 0.5 * np.count_nonzero(mask))
            else:
                explained = not scattered or _blobs(aligned_mask) < 0.5 * count
            if explained:
                mask = aligned_mask
                self._camera = np.array([dx, dy]) / (self._scale * self.settings.detect_every)
        mask = np.asarray(cv2.dilate(mask, np.ones((5, 5), np.uint8)), np.uint8)
        self._mask = mask
        count, _labels, boxes, _centres = cv2.connectedComponentsWithStats(mask)
        items = []
        for x, y, w, h, _area in boxes[1:count]:
            grow = motion_grow(max(w, h) / self._scale)
            rect = _rect_from(
                x / self._scale - grow,
                y / self._scale - grow,
                (x + w) / self._scale + grow,
                (y + h) / self._scale + grow,
            )
            # A face is at least an eighth of the moving region it makes.
            items.append((rect, round(min(rect[2], rect[3]) / self.settings.motion_share)))
        return items, False

    def _edge_motion(self, moving: list[ScanItem]) -> list[ScanItem]:
        """Regions of this pass's motion within ``edge_band`` of the frame's edge, to be
        searched for faces from ``min_face`` up (``EDGE_FACES`` times that at most).

        A small face entering or leaving is in view for a few frames: its motion may
        be part of a large moving region searched only for large faces (an eighth of
        its side), or lie in a tracked face's search region and be left to every
        ``explained_every``-th pass, and the face be gone by then (issue 14n: faces of
        23-71 px moving 16-29 px per frame). Only the moving pixels of the band are
        searched, not the whole band: ~2-4 % of a frame per pass where a face moves
        at the edge, nothing where nothing does.
        """
        band, mask = self.settings.edge_band, self._mask
        if not band or mask is None:
            return []
        least = self._detector.min_face
        rim = mask.copy()
        # (the motion of a large face tracked at the edge is that face: not searched
        # for small faces every pass, at ~20 ms per VGA pass; a tentative track may
        # be texture, and hides nothing)
        for track in self._tracks:
            x, y, w, h = track.box
            if max(w, h) > EDGE_FACES * least and track.strong and not track.tentative:
                grow = self.settings.pad * max(w, h)
                x0, y0 = (
                    max(0, int((x - grow) * self._scale)),
                    max(0, int((y - grow) * self._scale)),
                )
                x1 = max(0, math.ceil((x + w + grow) * self._scale))
                y1 = max(0, math.ceil((y + h + grow) * self._scale))
                rim[y0:y1, x0:x1] = 0
        inner = math.ceil(band * self._scale)
        height, width = rim.shape
        fine = [rect for rect, smallest in moving if smallest <= least]
        items: list[ScanItem] = []
        # Each side's strip on its own (a region spanning two sides would take in the
        # middle of the frame).
        for sx, sy, sw, sh in (
            (0, 0, inner, height),
            (0, 0, width, inner),
            (width - inner, 0, inner, height),
            (0, height - inner, width, inner),
        ):
            strip = np.ascontiguousarray(rim[sy : sy + sh, sx : sx + sw])
            count, labels, boxes, _centres = cv2.connectedComponentsWithStats(strip)
            new = self._new_motion(sx, sy, sw, sh, labels, count)
            for x, y, w, h, _area in boxes[1:count][new[1:]]:
                grow = 0.25 * band
                rect = _rect_from(
                    (sx + x) / self._scale - grow,
                    (sy + y) / self._scale - grow,
                    (sx + x + w) / self._scale + grow,
                    (sy + y + h) / self._scale + grow,
                )
                if not _mostly_inside(rect, fine + [r for r, _l in items], 0.9):
                    items.append((rect, least))
        return items

    def _edge_faces(
        self,
        grey: np.ndarray,
        edge: list[ScanItem],
        found: list[tuple[PixelRect, str]],
        extents: dict[PixelRect, PixelRect] | None = None,
    ) -> list[tuple[PixelRect, str]]:
        """Small faces in the moving regions at the frame's edge (``_edge_motion``), not
        already among ``found``: one level of the detector, faces up to ``EDGE_FACES``
        times the smallest, upright views only (the tilted view costs ~4x the upright
        one). A search of its own: its *weak* boxes larger than that (the network's
        level finds faces up to ~1.4x its range, there the chest or a head cut by the
        edge seen large) are dropped — one such weak box took over a 238-px tentative
        track and had it blurred. A confident one is kept: a 61-px face leaving by
        the bottom edge has an 81-px box (BlazeFace's box grown to the whole face),
        and this search may be the only one that looked at it (seed 31-2: its
        motion region fell 0.306 inside a tracked face's search region, over the 0.3
        that defers it to every ``explained_every``-th pass; 8 frames left sharp).
        The extents of the faces kept are added to ``extents``.
        """
        if not edge:
            return []
        largest = [round(least * EDGE_FACES) for _rect, least in edge]
        labelled, reach = self._look(grey, edge, largest, prefer="edge")
        self.stats.edge_searches += len(edge)
        most = max(largest)
        known = [np.array(rect, np.float64) for rect, _view in found]
        kept = [
            (rect, view)
            for rect, view in labelled
            if (max(rect[2], rect[3]) <= most or not is_weak(view))
            and not on_a_known_face(rect, known)
        ]
        if extents is not None:
            extents.update((rect, reach[rect]) for rect, _view in kept if rect in reach)
        return kept

    def _new_motion(
        self, sx: int, sy: int, sw: int, sh: int, labels: np.ndarray, count: int
    ) -> np.ndarray:
        """Per label of a strip of the motion mask: whether at least ``NEW_MOTION`` of
        its pixels did not move at the pass before — something that moves on (a face
        entering, leaving, passing), not an edge of the picture shifting a pixel or
        two in place (a retina's rim on a pan too slow for the camera's shift to be
        measured moved at every pass and was searched for nothing: ~12 ms per VGA
        frame)."""
        if self._mask_before is None:
            return np.ones(count, bool)
        before = self._mask_before[sy : sy + sh, sx : sx + sw] > 0
        total = np.bincount(labels.ravel(), minlength=count)
        fresh = np.bincount(labels[~before].ravel(), minlength=count)
        return np.asarray(fresh >= NEW_MOTION * np.maximum(total, 1))

    def _follow_up(self, grey: np.ndarray, index: int, emerged: bool = False) -> None:
        """Look again, on the frame after a pass, for the small faces found new there.

        The optical flow loses small fast faces (a 24-px face at 29 px/frame stayed
        where it was found, unblurred, until it left); found again one frame later,
        its velocity is measured at once and its box coasts with it. A tentative one
        (weak, or not a face at a second look — not one born beside a larger face
        and moving with it, ``_collar``) that moves fast and is a face at a second
        look is blurred at once: a face entering or leaving may be gone before the
        next pass could confirm it, and texture does not move by itself.
        """
        settings = self.settings
        young = [
            t
            for t in self._tracks
            if t.born == index - 1
            and t.emerged == emerged
            and t.redetected == 0
            and t.born in t.boxes
            and max(t.box[2], t.box[3]) <= settings.follow_up_side
        ]
        searches: list[tuple[_Track, ScanItem, int]] = []
        for track in young:
            x, y, w, h = track.boxes[track.born]
            side = float(max(w, h))
            reach = _follow_reach(side)
            rect = _rect_from(x - reach, y - reach, x + w + reach, y + h + reach)
            for item in self._clamp([(rect, max(1, round(0.5 * min(w, h))))]):
                searches.append((track, item, math.ceil(2 * side)))
        if not searches:
            return
        with self._cpu("detect_cpu_s"):
            found, extents = self._search(
                grey,
                [item[0] for _track, item, _most in searches],
                [item[1] for _track, item, _most in searches],
                [False] * len(searches),
                [track.view for track, _item, _most in searches],
                [most for _track, _item, most in searches],
                # A face found confidently is looked for at the detector's fine level
                # too: found once at a pass, a small face may score under the
                # threshold one frame later at the usual scales and over it enlarged
                # (a 31-px face tilted 15°, found at 0.89, scored 0.57-0.65 a frame
                # later, and only enlarged 1.8-3.0x; left sharp in 6 frames, blind
                # seed 42570-4; a 40-px face at 1080p found confidently at frame 0 and
                # not a frame later at the follow-up's 0.8x, left sharp in all 6
                # frames it was in view: blind seed 4108-7). Not a weak one: texture
                # enlarged is found again and then "moves" (57-1 lost 16.5 dB to it).
                [not is_weak(track.view) for track, _item, _most in searches],
            )
        self.stats.follow_ups += len(searches)
        self.stats.searched_pixels += sum(
            _cost(item, self._detector.min_face) for _t, item, _m in searches
        )
        views = dict(found)
        # (not a face another track already follows: a new track on a face's chin
        # took the face itself at 50 px/frame and was blurred, padded so — 68739-3)
        others = [t.box for t in self._tracks if t not in young]
        unmatched = [rect for rect, _view in found if not on_a_known_face(rect, others)]
        for track, item, _most in searches:
            side = float(max(track.box[2], track.box[3]))
            first, reach = track.boxes[track.born], _follow_reach(side)
            # Within the reach searched: a face moves at most UNKNOWN_SPEED in a frame, its
            # box jitters by a quarter of its size. A detection farther is another part or
            # another face, and the speed it would give no face's (an 82-px box on a profile
            # cut by the edge took a box on its chin 74 px lower, "moved" 73 px/frame off
            # it, and a face beside it was left sharp: seed 373-0).
            near = [r for r in unmatched if _centre_distance(first, r) <= reach]
            best = _best_match(first, near, min(side, UNKNOWN_SPEED))
            if best is None:
                self._follow_pixels(track, grey, item[0], index)
                continue
            unmatched.remove(best)
            track.view = views[best]
            track.strong = track.strong or not is_weak(track.view)
            # (not counted as found again: a face is *established*, held while the
            # flow follows it, by the detections of passes — ``ESTABLISHED``)
            self._found_again(track, best, grey, index, counted=False)
            self._keep_reach(track, best, extents, index)
            # (and a face at a second look: a weak detection on texture, matched to
            # another one nearby, moved "fast" — seed 68739-3 lost 9.6 dB to it)
            if track.tentative and self._fast(track) and not self._collar(track, index):
                track.verified = self._fast_verified(track, self._grey, grey, best)
                track.tentative = not track.verified
            # Found confidently now, cut by the frame's edge, and a face at a second
            # look at the bar of a fast face (``fast_verify``): a face leaving slowly by
            # the edge may be out of view before the next pass, as a fast one may. (A
            # face leaving by the right edge at 6 px/frame, found weakly at frame 0 and
            # confidently by the follow-up (a look of 0.69), was out of view by the pass
            # of frame 4 and left sharp in frames 0-2: held-out-33275-4. Without the
            # look, a weak box on texture at a 1080p edge found confidently a frame
            # later (a look of 0.47) was blurred 35 frames: motion-21266-3, 11 dB.)
            elif (
                track.tentative
                and not is_weak(track.view)
                and self._at_edge(best)
                and self.settings.fast_bar is not None
                and not self._collar(track, index)
            ):
                track.verified = self._verified_look(grey, best, self.settings.fast_bar)
                track.tentative = not track.verified

    def _follow_pixels(
        self, track: _Track, grey: np.ndarray, region: PixelRect, index: int
    ) -> None:
        """A young face found confidently (a blurred track) that its follow-up did not
        find again: where its first box's pixels went in ``region`` (``pixel_shift``),
        taken as its box now when they moved by themselves at least ``FAST_SPEED``
        px — its velocity measured at once, as a detection there would.

        The optical flow loses a small fast face on texture, and a detector finds it
        at one alignment and not a frame later: a 22-px face at 23 px/frame on grass,
        found by the frontal cascade at the pass of frame 12 only, stayed blurred where
        it was found while it moved on sharp, and its back-fill, with no velocity,
        missed the 7 frames before (seed --emerging 880-0).
        """
        if track.tentative or self._grey is None or track.born not in track.boxes:
            return
        shift = self._moved_itself(self._grey, grey, track.boxes[track.born], region, 1)
        if shift is None:
            return
        x, y, w, h = track.boxes[track.born]
        moved = (round(x + shift[0]), round(y + shift[1]), round(w), round(h))
        self._found_again(track, moved, grey, index, counted=False)

    def _moved_itself(
        self,
        before: np.ndarray,
        grey: np.ndarray,
        box: np.ndarray,
        region: PixelRect,
        frames: int,
        most: float = math.inf,
    ) -> np.ndarray | None:
        """How far (dx, dy) the pixels of ``box`` in ``before`` moved in ``grey``, ``frames``
        frames later, looked for within ``region`` (``pixel_shift``), when they moved by
        themselves: at least ``FAST_SPEED`` px a frame relative to the camera, and at
        most ``most`` px in all; else None (texture moves only with the camera)."""
        shift = pixel_shift(before, grey, box, region)
        if shift is None:
            return None
        own = float(np.abs(shift - self._camera * frames).max())
        return shift if FAST_SPEED * frames <= own <= most else None

    def _edge_look(self, before: np.ndarray, grey: np.ndarray, index: int) -> None:
        """On the frame after a pass with no motion to go by (the first frame, a cut),
        search where something moved at the frame's edge since that pass, as moving
        regions are searched (``_edge_faces``' range, with the detector's fine level for
        small faces), and look for each new face found there in the pass's frame
        ``before`` too (``edge_look``).

        The whole search of a first frame or a cut looks at still regions: no fine
        level (a 20-px face is found at 40 px of the network's input, not at 24: issue
        14w) and no motion to say where a face may be about to leave. A 21-px face
        39 px from the bottom edge of a 1080p first frame, leaving at 28 px/frame, was
        in view at frames 0 and 1 only, found by neither search and left sharp in both
        (seed 205-3). Found here and in the frame before, it starts its track at the
        pass with its velocity measured, as at a follow-up; found here only, it starts
        here, back-filled as any new face.
        """
        self._blind = False
        with self._cpu("edge_look_cpu_s"):
            self._look_at_edge(before, grey, index)

    def _look_at_edge(self, before: np.ndarray, grey: np.ndarray, index: int) -> None:
        state = (self._mask_before, self._mask, self._camera)
        _moving, cut = self._motion(self._small(grey))
        # (every region of new motion at the edge: no other search of this frame
        # covers any of it)
        edge = [] if cut else self._clamp(self._edge_motion([]))
        self._mask_before, self._mask, self._camera = state
        # More regions than ``scattered_blobs``: motion all along the edge (a pan the
        # camera's shift did not explain, moving texture), not a face leaving; all of
        # it searched cost ~0.5-1 s of a 2-s VGA clip (seeds 205-0: 21 regions,
        # 75257-6: 37). Left to the passes, as before.
        if not edge or len(edge) > self.settings.scattered_blobs:
            return
        # Small faces only (the whole search finds faces from ~28 px up; issue 14w),
        # in the motion such a face makes in one frame (its side plus ``UNKNOWN_SPEED``,
        # and the region's growth by a quarter of the band on each side): a larger
        # moving region is a larger thing, for the passes; searched, strips of motion
        # along a VGA frame's edge cost ~50 ms each (seed 57-2: 6 of them).
        most = round(self._detector.min_face * LOOK_FACES)
        small = most + UNKNOWN_SPEED + 0.5 * self.settings.edge_band
        edge = [(rect, least) for rect, least in edge if max(rect[2], rect[3]) <= small]
        if not edge:
            return
        found, extents = self._look(grey, edge, [most] * len(edge))
        self.stats.edge_looks += len(edge)
        known = [t.box for t in self._tracks]
        for rect, view in found:
            box = np.array(rect, np.float64)
            if (is_weak(view) and max(rect[2], rect[3]) > most) or any(
                same_face(box, other) for other in known
            ):
                continue
            live = self._live_faces(index)
            if self._around(rect, live):
                continue
            known.append(box)
            side = float(max(rect[2], rect[3]))
            reach = UNKNOWN_SPEED + 0.25 * side
            around = _rect_from(
                box[0] - reach, box[1] - reach, box[0] + box[2] + reach, box[1] + box[3] + reach
            )
            earlier: list[tuple[PixelRect, str]] = []
            earlier_extents: dict[PixelRect, PixelRect] = {}
            items = self._clamp([(around, max(1, round(0.5 * min(rect[2], rect[3]))))])
            if items:
                earlier, earlier_extents = self._look(before, items, [math.ceil(2 * side)])
            first = _best_match(box, [r for r, _v in earlier], UNKNOWN_SPEED)
            self.stats.edge_look_faces += 1
            if first is None:
                track = self._start_track(rect, view, grey, index, live)
                self._keep_reach(track, rect, extents, index)
                continue
            track = self._start_track(first, dict(earlier)[first], before, index - 1, live)
            track.boxes[index - 1], track.seen[index - 1] = track.box.copy(), index - 1
            self._keep_reach(track, first, earlier_extents, index - 1)
            track.view = view
            track.strong = track.strong or not is_weak(view)
            self._found_again(track, rect, grey, index, counted=False)
            self._keep_reach(track, rect, extents, index)
            if track.tentative and self._fast(track) and not self._collar(track, index):
                track.verified = self._fast_verified(track, before, grey, rect)
                track.tentative = not track.verified

    def _emerge_look(self, grey: np.ndarray, index: int) -> None:
        """On a frame between passes, search the motion since the frame before that lies
        just outside a larger tracked face's box, is not explained by that face's own
        motion and is on no other confidently found track's box, for smaller faces
        (``emerge_look``).

        A 61 x 79 face moving behind a still 179-px face was hidden at every pass and
        in full view only on frames 21-23, between passes; it left by the bottom edge
        before the pass of 24 could find it whole (seed 44464-0, issues 14ad, 14aj).
        A face found here starts its track at once and is looked for again on the next
        frame, as a face found new at a pass is (``_follow_up``): its velocity is
        measured there, and the back-fill covers the frames before.

        The look is made halfway between two passes (a face out for that long is
        filled back) and, when passes are more than two frames apart, at the pass
        too, after its search; its faces are followed up on the frame after it. At a
        pass the motion of a face coming out from behind a larger one is mostly in
        one region with that face's, left to every ``explained_every``-th pass and
        searched only for faces of an eighth of its side: a 43-px face coming out
        from behind a 145-px head over frames 10-16 was left sharp in all 7 (seed
        --emerging 880-7).
        """
        every = self.settings.detect_every
        looks = {max(1, every // 2)} | ({0} if every > 2 else set())
        phase = index % every
        with self._cpu("emerge_cpu_s"):
            if phase != 0 and (phase - 1) % every in looks:  # (a pass when every 2)
                self._follow_up(grey, index, emerged=True)
            if phase in looks:
                self._look_beside(grey, index)

    def _look_beside(self, grey: np.ndarray, index: int) -> None:
        least = self._detector.min_face
        hosts = [
            t
            for t in self._live_faces(index)
            if t.strong and float(max(t.box[2], t.box[3])) >= 2 * least
        ]
        if not hosts or self._grey is None or self._grey.shape != grey.shape:
            return
        beside = [(host, self._beside_motion(self._grey, grey, host)) for host in hosts]
        items = [item for _host, found in beside for item in found]
        if not items:
            return
        busy = len(items) > EMERGE_REGIONS
        if busy:
            # (only regions a face well under its host's size can make, moving as fast
            # as a face may: what such a look takes — see below. Larger ones cost the
            # most: around a 1080p face walking up, regions of 300-530 px took a clip
            # from 28 to 66 ms a frame, motion-42970-5-walk-up.)
            items = [
                item
                for host, found in beside
                for item in found
                if max(item[0][2], item[0][3]) <= _emerging_region(host.box)
            ]
            if not items:
                return
            # More regions than a look searches (a head moving over texture uncovers
            # and covers it all around): ``EMERGE_REGIONS`` of them at each look, in
            # turns. Until session 70 none were: a 31-px face came out from behind a
            # tilted 297-px one moving over tissue, 13-24 regions around it at every
            # look, and was left sharp in 21 frames (held-out-30603-3). (All of up to
            # 16 at once mended it too, at twice the cost, and a look's new weak find
            # on part of a face entering by the edge left it 4 frames partly sharp:
            # held-out-7168-5.)
            start = self._emerge_turn % len(items)
            self._emerge_turn += EMERGE_REGIONS
            items = (items + items)[start : start + EMERGE_REGIONS]
        # (upright views only: the tilted view costs ~4x the upright one). The regions
        # moved: a small face coming out from behind another and moving fast is found
        # enlarged where the usual levels miss it (a 25-px face on grass leaving at
        # 21 px/frame scored 0.2-0.45 at 24 px of the network's input, up to 0.7-0.78
        # at 50-64 px on others of its kind: --emerging 8-3, 9-1).
        found, extents = self._look(
            grey,
            [(rect, least) for rect, _most in items],
            [most for _rect, most in items],
            upright=True,
            fine=True,
        )
        self.stats.emerge_looks += len(items)
        known = [t.box for t in self._tracks]
        for rect, view in found:
            box = np.array(rect, np.float64)
            if any(same_face(box, other) for other in known):
                continue
            small = _small_beside(box, [h.box for h in hosts])
            # Among more regions than a look searches at once (texture moving all
            # around), only what the look is for: a face coming out from behind a
            # larger one — found confidently, well under its size, in view. Else the
            # texture it mostly is: an astronaut's suit below her face, found weakly
            # and looked at 0.65+ (motion-42970-1-turn 39.3 -> 36.3 dB); boxes cut
            # by the frame's edge, where the edge search looks anyway (held-out-
            # 85821-5, a 66-px box at a 1080p right edge, 47.4 -> 42.9); a 234-px box
            # beside a shaking camera's 300-px face (motion-12153-3-shake 43.0 -> 29.1).
            if busy and (is_weak(view) or not small or self._at_edge(rect)):
                continue
            looked = is_weak(view) and small and self._looked_again(grey, rect, EMERGED_LOOK)
            if is_weak(view) and not looked:
                continue
            known.append(box)
            # (not a collar: its motion is not the larger face's — ``_collar``). Found
            # confidently and well under the size of the face beside it, it is a face
            # at the lower bar of ``fast_verify``: a 30-px face leaving a 121-px one
            # at 22 px/frame, found here at 0.65+ and looked at 0.66, was never found
            # again in its 13 frames in view (emerging-58863-4). Not one nearer the
            # face's own size: the suit under an astronaut's face, found at 0.67-0.85
            # of the face's size (0.47 of its tracked box), looked at 0.5-0.7
            # (emerging-9-5, 41242-4: 26 and 7 dB lost).
            # (Among many regions, at ``verify``: the suit below an astronaut's face,
            # found confidently well under her size, was blurred at once at the lower
            # bar, motion-42970-1-turn 39.3 -> 37.5 dB.)
            bar = self.settings.fast_bar if small and not busy else None
            track = self._start_track(rect, view, grey, index, [], bar, looked)
            track.emerged = True
            self._keep_reach(track, rect, extents, index)
            self.stats.emerge_faces += 1

    def _beside_motion(
        self, before: np.ndarray, now: np.ndarray, host: _Track
    ) -> list[tuple[PixelRect, int]]:
        """Regions of motion from the grey frame ``before`` to ``now`` within
        ``EMERGE_RING`` of its side around ``host``'s box (the head and shoulders that
        may hide a smaller face reach about that far; ``EMERGE_BELOW`` below it, where
        its body reaches), explained neither by the host's motion nor by the camera's,
        and on no box of a track found confidently (a weak box on the background hid
        a 28-px face coming out above an 88-px one for 14 frames: emerging-45250-3);
        each with the largest face to look for there (the host's side). Only that ring
        is compared, at the small copy's scale."""
        scale = self._scale
        side = float(max(host.box[2], host.box[3]))
        shifts = [np.round(host.velocity).astype(int), np.round(self._camera).astype(int)]
        reach = max(int(np.abs(shift).max()) for shift in shifts)
        ring = EMERGE_RING * side
        x, y, w, h = host.box
        x0, y0 = max(reach, int(x - ring)), max(reach, int(y - ring))
        x1 = min(self._width - reach, math.ceil(x + w + ring))
        y1 = min(self._height - reach, math.ceil(y + h + EMERGE_BELOW * side))
        if x1 - x0 < self._detector.min_face or y1 - y0 < self._detector.min_face:
            return []
        now_small = self._small(np.ascontiguousarray(now[y0:y1, x0:x1])).astype(np.float32)
        diff: np.ndarray | None = None
        for dx, dy in shifts:
            crop = np.ascontiguousarray(before[y0 - dy : y1 - dy, x0 - dx : x1 - dx])
            moved = cv2.absdiff(self._small(crop).astype(np.float32), now_small)
            diff = moved if diff is None else np.minimum(diff, moved)
        assert diff is not None
        mask = (diff > self.settings.motion_threshold).astype(np.uint8)
        for track in self._tracks:  # (a tracked face's own motion)
            if not track.strong:
                continue
            tx, ty, tw, th = track.box
            grow = float(np.abs(track.velocity).max()) + 1
            mask[
                max(0, int((ty - grow - y0) * scale)) : max(
                    0, math.ceil((ty + th + grow - y0) * scale)
                ),
                max(0, int((tx - grow - x0) * scale)) : max(
                    0, math.ceil((tx + tw + grow - x0) * scale)
                ),
            ] = 0
        count, _labels, boxes, _centres = cv2.connectedComponentsWithStats(mask)
        smallest = (0.5 * self._detector.min_face * scale) ** 2
        items: list[tuple[PixelRect, int]] = []
        for bx, by, bw, bh, area in boxes[1:count]:
            if area < smallest:
                continue
            grow = motion_grow(max(bw, bh) / scale)
            rect = _rect_from(
                x0 + bx / scale - grow,
                y0 + by / scale - grow,
                x0 + (bx + bw) / scale + grow,
                y0 + (by + bh) / scale + grow,
            )
            # (a face no larger than the region its motion makes, nor than the host)
            items += [
                (r, math.ceil(min(side, max(r[2], r[3]))))
                for r, _l in self._clamp([(rect, self._detector.min_face)])
            ]
        return items

    def _look(
        self,
        grey: np.ndarray,
        items: list[ScanItem],
        largest: list[int],
        upright: bool = False,
        prefer: str | None = None,
        fine: bool = False,
    ) -> tuple[list[tuple[PixelRect, str]], dict[PixelRect, PixelRect]]:
        """The detector's faces in ``items`` (searched as moving regions; ``upright``:
        without the tilted view; ``prefer``: the view to try first; ``fine``: at the
        detector's fine level too, where its usual levels find no face), CPU counted."""
        with self._cpu("detect_cpu_s"):
            found, extents = self._search(
                grey,
                [rect for rect, _least in items],
                [least for _rect, least in items],
                [upright] * len(items),
                [prefer] * len(items),
                list(largest),
                [True] * len(items) if fine else None,
            )
        self.stats.searched_pixels += sum(_cost(item, self._detector.min_face) for item in items)
        return found, extents

    @contextmanager
    def _cpu(self, *counters: str) -> Iterator[None]:
        """Add the CPU seconds the block takes to these ``CoverageStats`` fields."""
        started = time.process_time()
        try:
            yield
        finally:
            spent = time.process_time() - started
            for name in counters:
                setattr(self.stats, name, getattr(self.stats, name) + spent)

    def _collar(self, track: _Track, index: int, velocity: np.ndarray | None = None) -> bool:
        """Whether ``track``, born beside a larger face (``beside_face``), moves with one
        of the faces it was born beside, as a part of that body does.

        A chin, a collar or the chest moves with its face; a small face that moves
        on its own past a larger one is not part of it (a 33-px face crossing below
        a 516-px box at 24 px/frame, the box at 1.5, was taken for its collar at the
        first pass and never blurred: seed 33810-5, issue 14ad)."""
        if not track.beside:
            return False
        born = track.boxes[track.born]
        hosts = [
            t.velocity
            for t in self._live_faces(index)
            if t is not track and beside_face(born, [t.boxes.get(track.born, t.box)])
        ]
        return moves_with(track.velocity if velocity is None else velocity, hosts)

    def _fast(self, track: _Track) -> bool:
        """Whether ``track`` moves at least ``fast_share`` of its size (and 4 px) per
        frame relative to the camera (texture moves only with the camera).

        Its size is the smaller of its box now and at its first detection: a weak
        search finds a small face's head and shoulders too, and a 38-px face tilted
        12° moving 13 px/frame, found again one frame later as a 68-px box, was "slow"
        for that box (20 % of it) and left sharp in 11 frames (seed --emerging 546-2).
        """
        first = track.boxes.get(track.born, track.box)
        side = float(min(max(track.box[2], track.box[3]), max(first[2], first[3])))
        return _fast_shift(track.velocity - self._camera, side, self.settings)

    def _background_weights(self) -> np.ndarray | None:
        """Weights of the small copy's pixels for finding the camera's shift: 0 on the
        tracked faces (grown by their motion over a pass), 1 elsewhere, feathered; None
        (all pixels alike) when faces cover most of the picture."""
        assert self._small_ref is not None
        shape = self._small_ref.shape
        faces = [(track.box, track.velocity) for track in self._tracks]
        return _off_faces(faces, shape, self._scale, self.settings.detect_every)

    def _around_tracks(self) -> list[tuple[PixelRect, int, str | None]]:
        items = []
        for track in self._tracks:
            x, y, w, h = track.box
            grow = max(w, h) * 0.4 + np.abs(track.velocity).max() * self.settings.detect_every
            rect = _rect_from(x - grow, y - grow, x + w + grow, y + h + grow)
            # Faces from half the box's side. A track found confidently but not yet
            # confirmed (tentative) may not be its face's box: a detector's box around
            # a small face may take in its head and shoulders (an 83-px box, confident,
            # on a 38-px face leaving fast from behind a head: at 0.5 the next pass
            # looked for faces from 39 px, missed it, and it was left sharp in 13
            # frames — seed --emerging 41298-3).
            share = TENTATIVE_LEAST if track.tentative and track.strong else 0.5
            items.append((rect, max(1, round(share * min(w, h))), track.view))
        return items

    def _associate(
        self,
        labelled: list[tuple[PixelRect, str]],
        grey: np.ndarray,
        index: int,
        refresh: bool,
        extents: dict[PixelRect, PixelRect] | None = None,
    ) -> None:
        views = dict(labelled)
        # A Haar cascade's box on a face that BlazeFace found confidently at this pass
        # is that face's middle (the cascade's window is the eyes to the mouth): the
        # face is followed or started from BlazeFace's box alone — a track nearest the
        # cascade's box takes BlazeFace's. (Started from a 28-px frontal box, a 47-px
        # face's 47-px box was taken for its head around it and dropped: its first
        # frame's rectangle was 2 px short, seed 97800-5. Kept beside BlazeFace's box,
        # a 40-px frontal box on a tracked 49-px face started a second track moving 11
        # px/frame from its first two boxes, back-filled 20 frames off the face: seed
        # --motion 3868-6; or moved the face's track, and BlazeFace's box started a
        # second one: 44464-4. Dropped alone, it no longer moved the track it was
        # nearest, coasting 20 px/frame from a bad follow-up: emerging 64161-5.)
        found = list(views)
        pairs = self._pairs(found, index, refresh, {r for r in found if is_weak(views[r])})
        taken = {best for _track, best in pairs}
        outer = {rect: _outer_view(rect, found, views, taken) for rect in found}
        unmatched = [rect for rect in found if rect not in taken and outer[rect] is None]
        for track, best in pairs:
            larger = outer[best]
            if larger is not None and larger in unmatched:
                unmatched.remove(larger)
                best = larger
            track.view = views[best]
            # (each detection looked at again until one passes, or it was found
            # ``verify_tries`` times — and confidently at least once: a weak box every
            # time and never a face at a look is texture found again and again, e.g. a
            # 270-px box blurred 45 frames, on a face in 17, seed 90217-6)
            track.tries += 1
            track.strong = track.strong or not is_weak(track.view)
            bar = self._moved_bar(track, grey, best, index)
            track.verified = (
                (track.tries >= self.settings.verify_tries and track.strong)
                or self._first_look(track, bar)
                or self._weak_cut_verified(grey, best, track, bar)
            )
            # Found again (and, for BlazeFace, seen as a face by a second look): a
            # face, blurred from its first detection.
            track.tentative = not track.verified
            self._found_again(track, best, grey, index, refresh)
            self._keep_reach(track, best, extents or {}, index)
        paired = [track for track, _best in pairs]
        for track in [t for t in self._tracks if t not in paired]:
            self._moved_by_itself(track, grey, index)
            if not refresh:
                self._still_there(track, grey, index)
        # A new detection around faces already tracked is not a new face (see
        # around_faces), nor one around a face found at this same pass (the first pass
        # of a video finds every face in view at once) confidently, wholly in view
        # and verified (a second look): those are started after the others.
        # (Both found in frame 0, a 516-px box around a 209-px face was blurred 50
        # frames at 3x the face's size: seed 33810-5. A box cut by the edge is not
        # looked at again: a 46-px one on the edge of a 172-px box holding two real
        # faces, 44464-2. Beside such a face, a detection is a face: a 133-px face
        # beside a 262-px one, and an 85-px face leaving beside a 204-px one, were
        # left sharp when taken for a shoulder, 75257-6 and 65784-4.)
        live = self._live_faces(index)
        sure = [rect for rect in unmatched if not is_weak(views[rect]) and not self._at_edge(rect)]
        boxes = [np.array(rect, np.float64) for rect in sure]
        later = [rect for rect in unmatched if around_faces(rect, boxes)]
        born: list[_Track] = []
        later.sort(key=lambda rect: max(rect[2], rect[3]))
        for rect in [r for r in unmatched if r not in later] + later:
            faces = live + born if rect in later else live
            if self._mirrored(rect, live):
                continue
            # (one around a face found at this same pass, off its middle or not, is
            # judged by which looks more like a face, ``_holds_parts``; the middle rule
            # is for a face tracked before, and a confident detection: a weak 75-px
            # box on a 38-px face's head, the face 0.26 of its side below its middle,
            # started a second track of that face, back-filled 30 frames over the
            # background: held-out-59970-1 47.1 -> 42.3 dB)
            middle = rect not in later and not is_weak(views[rect])
            if not self._around(rect, faces, middle) or (
                rect in sure
                and not self._around(rect, live, middle)
                and self._holds_parts(grey, rect, born)
            ):
                track = self._start_track(rect, views[rect], grey, index, live)
                self._keep_reach(track, rect, extents or {}, index)
                if rect in sure and not track.tentative:
                    born.append(track)

    def _moved_by_itself(self, track: _Track, grey: np.ndarray, index: int) -> None:
        """A track started at the last pass from a weak detection and not found again
        at this one: found again where the pixels of its detection went (``pixel_shift``,
        the middle of its box, within ``UNKNOWN_SPEED`` px a frame), and blurred from
        that detection, when they moved by themselves (at least ``FAST_SPEED`` px a
        frame relative to the camera), the box is wholly in view, it does not move with
        a face as a chin or a chest does (``_collar``, ``_moves_with_a_face``) and a
        look there scores ``fast_bar``.

        The detector finds a face moving fast at one pass and not the next, weakly
        when it does: each weak find started a track of its own, given up unconfirmed
        at the next pass (``doubtful``), and its looks were made only once found again.
        (A 93-px face crossing a 1080p frame at 15.6 px/frame was found weakly at the
        passes of frames 0, 8, 16, 20 and 24, looks 0.64-0.67, and left sharp in
        frames 0-22: held-out-94625-7.) Texture moves only with the camera; a weak
        box on a chin moved with its face (emerging-77141-4); a weak box at the left
        edge matched a repeated texture 137 px away (emerging-1-5).
        """
        if (
            not track.tentative
            or track.strong
            or track.unlooked is None
            or track.redetected
            or self.settings.fast_bar is None
        ):
            return
        before, rect, _view = track.unlooked
        elapsed = index - track.born
        if not 0 < elapsed <= self.settings.detect_every or self._at_edge(rect):
            return
        x, y, w, h = rect
        inner = np.array([x + 0.2 * w, y + 0.2 * h, 0.6 * w, 0.6 * h])
        reach = UNKNOWN_SPEED * elapsed
        region = _rect_from(x - reach, y - reach, x + w + reach, y + h + reach)
        shift = self._moved_itself(before, grey, inner, region, elapsed, reach)
        if shift is None:
            return
        velocity = shift / elapsed
        if self._collar(track, index, velocity) or self._moves_with_a_face(rect, velocity, index):
            return
        moved = (round(x + shift[0]), round(y + shift[1]), w, h)
        if not self._verified_look(grey, moved, self.settings.fast_bar):
            return
        track.verified, track.tentative = True, False
        self._found_again(track, moved, grey, index)

    def _still_there(self, track: _Track, grey: np.ndarray, index: int) -> None:
        """A face found confidently and found again, but under ``ESTABLISHED`` times,
        not found at this pass though the optical flow still follows it, whose hold
        runs out before the next pass: held as an established face (up to
        ``flow_hold_s`` while the flow follows it) when a look at its box scores
        ``STILL_THERE_LOOK`` — and it is wholly in view and does not move with another
        face as a collar or a chest does.

        The detector finds some faces at under its threshold at most passes: a 65-px
        tilted face, found confidently at frame 0 and again at 20, was not found at the
        eight passes after (second looks at its box 0.45-0.48) while the flow followed it
        all along; its hold ran out at frame 51 and it was left sharp to the end of the
        clip (held-out-41783-1, 8 frames). A detection on a body found twice (issue 14i)
        moves with its face; background the flow follows looks like no face."""
        if (
            track.looked_on
            or track.tentative
            or not track.strong
            or not 1 <= track.redetected < ESTABLISHED
            or track.followed < index
            or index + self.settings.detect_every - track.last_seen <= self._hold
        ):
            return
        rect = _box_rect(track.box)
        if self._at_edge(rect) or self._collar(track, index):
            return
        if self._moves_with_a_face(rect, track.velocity, index, besides=track):
            return
        track.looked_on = self._looked_again(grey, rect, STILL_THERE_LOOK)

    def _moves_with_a_face(
        self, rect: PixelRect, velocity: np.ndarray, index: int, besides: _Track | None = None
    ) -> bool:
        """Whether ``rect`` lies within a face's size of a face blurred now
        (``_live_faces``, ``besides`` left out) and moving at ``velocity`` moves with it
        (``moves_with``): a part of that body (the chest under a face, found weakly,
        moved with it at 4 px/frame and was blurred 20 frames: emerging-3-3, 13 dB)."""
        centre = _centre(np.array(rect, np.float64))
        hosts = []
        for face in self._live_faces(index):
            if face is besides:
                continue
            x, y, w, h = face.box
            side = float(max(w, h))
            if x - side <= centre[0] <= x + w + side and y - side <= centre[1] <= y + h + side:
                hosts.append(face.velocity)
        return bool(hosts) and moves_with(velocity, hosts)

    def _holds_parts(self, grey: np.ndarray, rect: PixelRect, born: list[_Track]) -> bool:
        """Whether ``rect``, a confident detection in view holding the centres of faces
        started at this same pass, is the face and they parts of it: a second look
        believes it more than each of them.

        BlazeFace now and then finds a part of a face (an eye and a cheek) as a face
        of its own, confidently, beside the face itself: a 42-px box on a 131-px
        face, found with the face's 98-px box at frame 0, was started alone and the
        face left sharp three frames (blind seed 47278-2: second looks 0.73, the
        face's 0.94). A box around a face with its head and shoulders is that face
        seen larger and scores lower (a 516-px box around a 202-px face: 0.73 and
        0.91, seed 33810-5), as do two heads side by side seen as one — or about
        the same: both boxes hold the whole face, so the larger must score
        ``PARTS_MARGIN`` more (a 230-px box around a 120-px face and the shoulders
        below it scored 0.918 and 0.896; started, it was blurred 12 frames at twice
        the face's size: seed --emerging 62850-3).
        """
        look = getattr(self._detector, "second_look", None)
        held = [track for track in born if _holds_centre(rect, track.box)]
        if look is None or not self.settings.verify or not held:
            return False
        score = self._look_score(look, grey, rect)
        return all(
            score > self._look_score(look, grey, _box_rect(t.box)) + PARTS_MARGIN for t in held
        )

    def _pairs(
        self, found: list[PixelRect], index: int, refresh: bool, weak: set[PixelRect]
    ) -> list[tuple[_Track, PixelRect]]:
        """Which track each detection of ``found`` moves.

        First a detection on a face found confidently goes to that face (its box
        and the detection ``same_face``; the nearest such pairs first); then, track
        by track, each track takes the nearest detection left that
        ``match_distance`` allows. Track by track only (before issue 14ag), a 165-px
        face moving 21 px/frame past a still 300-px one took the still face's
        408-px detection 244 px away, though it lay 2 px from that face's own
        track (seed 33810-5): the moving face's track then followed the still face
        and the moving one was left sharp at the clip's end. (Every pair nearest
        first, tried too, handed a weak 197-px track on texture a 322-px weak
        detection that another weak track had taken before, and it grew to 631 px
        and was blurred 16 frames: 33810-1 42.6 -> 28.3 dB.)

        A weak detection (``weak``) moves a face found confidently, whose speed is
        measured, only when it is on that face (``_weak_off``): anything else near it
        is not that face's box. (A weak 170-px box cut by the left edge, 90 px off a
        74-px face followed 126 px inside the frame, took the face's track; the track
        coasted off with the jump's speed and the face was left sharp in 32 frames:
        held-out-57754-3.)
        Nor is a detection around another face blurred (``around_faces``: that face
        seen larger, with its head and shoulders) another track's box: a weak 165-px
        box beside a 173-px face took the face's 365-px detection, became a face and
        coasted on at that size, blurred 35 frames over most of the frame
        (held-out-12509-0, 23.7 dB).
        """
        reaches = [self._reach(track, index, refresh) for track in self._tracks]
        taken = self._owned(found, reaches, weak)  # track number -> detection order
        recent = index - self.settings.detect_every
        blurred = [
            t for t in self._tracks if t.strong and not t.tentative and t.last_seen >= recent
        ]
        for number, track in enumerate(self._tracks):
            if number in taken:
                continue
            best, nearest = None, math.inf  # (as ``_best_match``, on what is left)
            others = [t for t in blurred if t is not track]
            for order, rect in enumerate(found):
                own = same_face(track.box, np.array(rect, np.float64))
                if rect in weak and self._weak_off(track, rect, own):
                    continue
                # (its own face, found, may hold a smaller face in front of it)
                # (off its middle too: a tentative 242-px box under a 363-px face with a
                # 27-px face in front of it took the larger face's detection, 275 px
                # away, "moving" 68 px/frame: held-out-75168-5 33.9 -> 30.5 dB with
                # the middle rule here)
                if not own and self._around(rect, others, middle=False):
                    continue
                distance = match_distance(track.box, rect, reaches[number])
                used = order in taken.values()
                if distance is not None and distance < nearest and not used:
                    best, nearest = order, distance
            if best is not None:
                taken[number] = best
        # (in the tracks' order, as before: what each match does may depend on it)
        return [(self._tracks[number], found[taken[number]]) for number in sorted(taken)]

    def _weak_off(self, track: _Track, rect: PixelRect, own: bool) -> bool:
        """Whether weak detection ``rect`` is not the box of ``track``, a face found
        confidently whose speed is measured (``_pairs``). Its box wholly in view: unless
        it is ``own`` (``same_face``). Its box cut by the frame's edge: when the
        detection's centre lies half the smaller box's width or more from the face's
        along an axis no edge cuts (x for a box cut at the top or bottom): the part of
        a face in view is found across the edge from the face's box, never beside it
        along the edge. (A 100-px face leaving by the top edge, 31 px in view, took a
        weak box 66 px to its left: 2 frames sharp, held-out-64258-6.)"""
        if not (track.strong and track.measured):
            return False
        sides = edge_sides(track.box, self._width, self._height)
        if not sides.any():
            return not own
        box = np.array(rect, np.float64)
        apart = np.abs(_centre(box) - _centre(track.box))
        small = min(box[2], track.box[2])
        # x is free where the left or right edge cuts the box, y where the top or bottom
        along = np.array([not (sides[0] or sides[2]), not (sides[1] or sides[3])])
        return bool((along & (apart >= 0.5 * small)).any())

    def _owned(
        self, found: list[PixelRect], reaches: list[float], weak: Collection[PixelRect]
    ) -> dict[int, int]:
        """The detections of ``found`` on a face found confidently (confirmed or not):
        its box and the detection ``same_face``, nearest pairs first — a confident one
        of its own size (within ``LARGER_FACE`` of its box's side) before the others,
        and those ``LARGER_FACE`` times its size or more after them — each track and
        detection once; by track number (in ``_tracks``) -> detection order.

        A track found confidently but not confirmed yet owns its detection too: else an
        older weak track on texture, matched first, may take it from farther away (a
        weak 152-px box 170 px off took an 80-px face's confident detection from its own
        tentative track, 4 px off; the face's track was given up and the texture's box
        went on at the "speed" of that jump: 16 frames sharp, seed 75172-3).

        A face near the frame's edge is also found with its mirror image, as one
        larger face about the same centre, weakly or confidently; that box is not
        its own. (A 224-px face leaving by the bottom edge took a weak 467-px box 4
        px nearer than its own 245-px one, kept that size and was blurred 733 px
        wide, held-out-22571-5, 30.1 dB; its own box went to a track on its chin. A
        172-px face leaving so took a confident 343-px box 1.5 px nearer than its
        147-px one: held-out-54456-6, 27.0 dB.) Of its own size, a confident box is
        the surer measure than a weak one; between others the nearer, as before (a
        weak box of its size and a confident one on half of it, a part of the face:
        held-out-60627-4; two weak ones, the nearer half the size: motion-44990-5)."""
        owned = []
        for number, track in enumerate(self._tracks):
            if not track.strong:
                continue
            for order, rect in enumerate(found):
                distance = match_distance(track.box, rect, reaches[number])
                if distance is not None and same_face(track.box, np.array(rect, np.float64)):
                    ratio = max(rect[2], rect[3]) / max(track.box[2:])
                    if ratio >= LARGER_FACE:
                        tier = 2
                    else:
                        tier = int(rect in weak or ratio <= 1 / LARGER_FACE)
                    owned.append((tier, distance, number, order))
        taken: dict[int, int] = {}
        for _tier, _distance, number, order in sorted(owned):
            if number not in taken and order not in taken.values():
                taken[number] = order
        return taken

    def _reach(self, track: _Track, index: int, refresh: bool) -> float:
        """How far beyond ``match_distance``'s own limit a detection may lie from
        ``track``'s box and still be that face.

        A face whose speed is not known yet (found once) may have moved up to its
        own width (at most ``UNKNOWN_SPEED`` px) per frame since: a small fast face
        the optical flow lost is still the same face. Not a face whose speed a
        follow-up look measured (issue 14u): its box has moved with it, and the
        reach took a texture detection 73 px behind a 32-px face leaving by the
        edge (16883-0).
        """
        if track.measured or refresh:
            return 0.0
        side = float(max(track.box[2], track.box[3]))
        return min(side, UNKNOWN_SPEED) * (index - track.last_seen)

    def _keep_reach(
        self, track: _Track, rect: PixelRect, extents: dict[PixelRect, PixelRect], index: int
    ) -> None:
        """Keep how far the extent of ``track``'s detection ``rect`` in frame ``index``
        reached beyond it (``extent_margins``; none for a weak detection unless
        ``weak_extent``). Only ``_rect_at`` reads it, for what is blurred."""
        extent = extents.get(rect)
        if extent is None or (is_weak(track.view) and not self.settings.weak_extent):
            track.reach.pop(index, None)
            return
        track.reach[index] = extent_margins(rect, extent)

    def _found_again(
        self,
        track: _Track,
        rect: PixelRect,
        grey: np.ndarray,
        index: int,
        refresh: bool = False,
        counted: bool = True,
    ) -> None:
        """Move ``track`` to its new detection ``rect`` (found in frame ``index``): its
        box, its velocity measured since its last detection, the boxes in between.
        ``counted``: a detection of a pass, counted in ``redetected`` (a follow-up
        look is not)."""
        # (a face may have moved twice its speed's worth either way since it was last
        # found: a bob or a turn)
        swing = 2.0 * float(np.hypot(*track.velocity)) * max(1, index - track.last_seen)
        flowed = track.box.copy()
        detected = reflected_back(
            np.array(rect, np.float64), track.box, self._width, self._height, swing
        )
        then = track.boxes[track.last_seen].copy() if track.last_seen in track.boxes else None
        # (a weak detection at the edge — texture the detector half-believes — does
        # not hold its size)
        cut = edge_sides(detected, self._width, self._height).any()
        if counted and not cut and not is_weak(track.view):
            track.whole += 1
        if cut and track.measured and not refresh:
            detected = leaving_size(track.box, detected, track.velocity, self._width, self._height)
        if not is_weak(track.view) and cut:
            box = edge_steady(track.box, detected, self._width, self._height)
            if not refresh and then is not None and index > track.last_seen:
                box = inner_held(
                    track.box,
                    box,
                    then,
                    track.velocity,
                    index - track.last_seen,
                    self._width,
                    self._height,
                )
            if (box[2:] > track.box[2:] + 0.5).any():
                self._grow_back(track, box, index)
            track.box = box
        # A weak box on a part of a face known is found where the face's box (followed
        # to this frame) already is: the box stays. (One cut by the frame's edge is
        # the face's part in view, and the box moves onto it: held, the rectangles of
        # two faces at the right and bottom edges stopped 6-7 px short, seeds 13394-4,
        # 65424-6.)
        elif not cut and weak_part(track, detected):
            pass
        else:
            box = steady_size(track.box, detected, self.settings.shrink)
            # ... but a face found confidently before and now found larger, weakly,
            # cut by the edge, was that large in the frames before too, while cut
            # (issue 14z: a 129-px profile entering, found at 76 px and one frame
            # later weakly at 156 px; the frame of the 76-px box kept 0.45 of the
            # face's sharpness, seed 4856-5)
            if cut and track.strong and (box[2:] > track.box[2:] + 0.5).any():
                self._grow_back(
                    track, edge_steady(track.box, detected, self._width, self._height), index
                )
            track.box = box
        self._grow_first(track, then, bool(cut), index)
        if not refresh and index > track.last_seen and then is not None:
            self._measure_speed(track, then, flowed, index, counted)
        if index > track.last_seen:
            fill_between(track.boxes, track.last_seen, index, track.box)
        track.last_seen = index
        track.points = _features(grey, track.box)

    def _measure_speed(
        self, track: _Track, then: np.ndarray, flowed: np.ndarray, index: int, counted: bool
    ) -> None:
        """``track``'s velocity measured from its box ``then`` (at its last detection)
        to its box now (found again in frame ``index``; ``flowed``: its box there
        before, where the optical flow or its velocity had moved it)."""
        # Measured between the track's boxes at its two detections, like with
        # like: a face cut by the frame's edge has a box larger than its
        # detection (``edge_steady``), and the detection's centre moves with
        # the part in view (issue 14i: a 166-px profile at the left edge
        # moving 1.2 px/frame was measured at 15-35 px/frame, and padded so).
        measured = (_centre(track.box) - _centre(then)) / (index - track.last_seen)
        # The first re-detection gives the first measured velocity (a new
        # track's is 0, or the optical flow's guess): taken whole.
        weight = 0.5 if track.measured else 1.0
        # ... but a weak first box found again confidently and much larger
        # (``FOUND_LARGER``) held part of the face: its centre moved to the
        # face's, the face did not; the optical flow's guess stands. (A weak
        # 102 x 107 box on the top of a face beyond the right edge of a 1080p
        # frame, found again confidently at 204 px, "moved" (13, 21) px/frame;
        # the face moved (-4, 3) and its box coasted off it: kept 0.18-0.31 in
        # 11 frames, motion-36258-5. Found again weakly, it is no measure of a
        # face, as in ``_grow_first``: a weak box under a face, found again
        # weakly at 1.6x, kept its place and took a confident 349-px box on the
        # body four frames later, blurred for 60 frames: motion-86610-3
        # 50.2 -> 27.6 dB.)
        first_sure = not track.measured and track.born_weak and not is_weak(track.view)
        if first_sure and found_larger(then, track.box):
            weight = 0.0
        # ... and one whose box the optical flow moved at every frame since, when its
        # jump to the detection is no motion the flow's velocity allows
        # (``plausible``), held another part of what moves: the flow's own
        # displacement of its box is the measure. (A weak 194-px box on the rim of
        # a photo entering by the bottom-left corner, followed down at (9, 15)
        # px/frame, took the face in the photo, found confidently 200 px above it
        # 4 frames later: "moving" (-2, -35), its box coasted up off the face, kept
        # 0.37-1.00 in 7 frames, held-out-75168-4.)
        elif (
            first_sure
            and self._flowed_through(track, index)
            and not plausible(measured, track.velocity)
        ):
            measured = (_centre(flowed) - _centre(then)) / (index - track.last_seen)
        track.velocity = (1 - weight) * track.velocity + weight * measured
        if counted:
            track.redetected += 1
        track.measured = True

    @staticmethod
    def _flowed_through(track: _Track, index: int) -> bool:
        """Whether the optical flow moved ``track``'s box at every frame from its last
        detection to frame ``index``."""
        return track.followed == index and track.steps >= index - track.last_seen

    def _start_track(
        self,
        rect: PixelRect,
        view: str,
        grey: np.ndarray,
        index: int,
        live: list[_Track],
        bar: float | None = None,
        looked: bool = False,
    ) -> _Track:
        """A new track from detection ``rect`` (``looked``: a weak one that passed a
        second look already, taken as a confident one is)."""
        box = np.array(rect, np.float64)
        track = _Track(len(self._tracks) + len(self._finished), index, index, box)
        track.view = view
        # Weak, or beside a face already tracked and smaller (a collar, a badge, the
        # chest under a face, found once as a face), or not a face at a second look:
        # blurred once found again (and, for the last, seen as a face then).
        track.beside = beside_face(box, [t.box for t in live])
        # (a weak detection looked at already is not looked at again)
        cut_look = None if looked else self._cut_face(grey, rect, view)
        weak = is_weak(view) and not (cut_look or looked)
        if weak or track.beside:  # tentative whatever a second look says: put off
            track.unlooked, track.verified = (grey, rect, view), False
            if cut_look is False:
                # A cut detection that failed its look at birth is not verified by
                # that same detection later (``_verified`` exempts cut boxes): it
                # needs a look at a detection in view, or ``verify_tries`` (issue 14ak:
                # a cat cut by the top edge, blurred 60 frames).
                track.unlooked = None
        else:
            track.verified = looked or self._verified(grey, rect, view, bar)
        track.tentative = weak or track.beside or not track.verified
        track.strong = not is_weak(view)
        track.born_weak = not track.strong
        track.whole = int(track.strong and not self._at_edge(rect))
        track.points = _features(grey, box)
        if weak and not track.beside and cut_look is None and not self._at_edge(rect):
            self._weak_again(track, grey, index)
        if not track.tentative:
            self._join_doubtful(track, index)
        self._tracks.append(track)
        self.stats.tracks += 1
        return track

    def _join_doubtful(self, track: _Track, index: int) -> None:
        """A face found surely where a weak detection, given up unconfirmed at most two
        passes ago, has coasted to: that detection was this face. Its track is blurred
        (from its first detection, back-filled), and the new track's back-fill moves
        along its velocity instead of staying where the face was found.

        (A 22-px face coming out from behind a head was found weakly at frame 24 and
        not at the pass of 28, then surely at the clip's last frame: its new track's
        back-fill stayed there, and 10 frames were left sharp, seed --emerging 7-6.)
        """
        old = next(self._given_up_under(track, index), None)
        if old is not None:
            old.tentative, old.verified = False, True
            track.velocity = old.velocity.copy()

    def _given_up_under(self, track: _Track, index: int) -> Iterator[_Track]:
        """The tracks given up unconfirmed (tentative) at most two passes before frame
        ``index`` whose box has coasted onto ``track``'s there (``same_face``): the
        weak detections ``track``'s may be found again (``_join_doubtful``,
        ``_weak_again``)."""
        recent = self._given_up_since(index)
        for old in self._finished:
            if not old.tentative or old.last_seen < recent:
                continue
            since = index - max(old.boxes) if old.boxes else 0
            ahead = old.boxes.get(index, old.box + np.array([*(old.velocity * since), 0, 0]))
            if same_face(ahead, track.box):
                yield old

    def _given_up_since(self, index: int) -> int:
        """The earliest last detection of a track given up that a detection in frame
        ``index`` may still find again: two passes before (``_given_up_under``; a
        given-up weak track keeps its first frame's grey until then, ``_retire``)."""
        return index - 2 * self.settings.detect_every

    def _weak_again(self, track: _Track, grey: np.ndarray, index: int) -> None:
        """A new weak ``track`` found where a weak detection given up unconfirmed at
        most two passes ago has coasted to, the pixels of that detection's first box
        moved there by themselves (not where the camera put them): one face found
        weakly again, moving. Both are a face when the new detection passes a second
        look at ``fast_bar``: the old track is blurred (from its first detection) and
        the new one moves along the velocity between them.

        A small face is found weakly at one pass, missed at the next and found weakly
        again at the one after; its looks under ``verify``. (A 24-px face tilted 16°
        walking up at 3.6 px/frame on grass at 1080p, found weakly at frames 1, 8 and
        16, looks 0.49-0.67, was never blurred: 25 frames sharp until it left by the
        top edge, seed --motion 22753-5.) Texture found weakly again stays where the
        camera puts it. Not for a detection cut by the frame's edge: a weak cut box
        has its own look (``_cut_face``), and ``_verified`` makes none for it.
        """
        bar = self.settings.fast_bar
        if bar is None or self.settings.strict:
            return
        for old in self._given_up_under(track, index):
            if old.strong or old.beside or old.unlooked is None or old.last_seen >= index:
                continue
            before, rect_then, _view = old.unlooked
            first = np.array(rect_then, np.float64)
            elapsed = index - old.born
            rect = _box_rect(track.box)
            camera = self._camera * elapsed
            shift = content_shift(before, grey, first, rect, camera)
            if shift is None:
                continue
            side = float(max(first[2], first[3]))
            moved = _centre(track.box) - _centre(first)
            itself = float(np.abs(shift - camera).max()) >= max(FAST_SPEED, MOVED_ITSELF * side)
            there = float(np.abs(shift - moved).max()) <= MOVED_ITSELF * side
            if not (itself and there) or not self._verified(grey, rect, track.view, bar):
                continue
            old.tentative, old.verified = False, True
            track.tentative, track.verified = False, True
            track.unlooked = None
            track.velocity = moved / elapsed
            return

    def _verified(
        self, grey: np.ndarray, rect: PixelRect, view: str | None, bar: float | None = None
    ) -> bool:
        """Whether a detection needs no second look, or passes it (scores ``bar``,
        ``verify`` by default).

        Only BlazeFace's detections are looked at again (the Haar cascade's are
        faces under 42 px, where BlazeFace's own recall is low).
        """
        if not (view or "").startswith("blazeface"):
            return True
        # (a weak detection the frontal Haar cascade also found: two detectors agree)
        if view == "blazeface+frontal":
            return True
        # A face cut by the frame's edge is found through the mirror beyond it, and a
        # second look at the part in view scores lower (a 36-px face leaving at the
        # top, 0.54): cut boxes keep the rules they had.
        if self._at_edge(rect):
            return True
        return self._verified_look(grey, rect, bar)

    def _verified_look(self, grey: np.ndarray, rect: PixelRect, bar: float | None = None) -> bool:
        """Whether the detector's second look at ``rect`` scores ``bar`` (``verify`` by
        default; True with no second look: a detector without one, or ``verify`` off)."""
        look = getattr(self._detector, "second_look", None)
        if not self.settings.verify or look is None:
            return True
        return self._second_look(look, grey, rect, bar)

    def _looked_again(self, grey: np.ndarray, rect: PixelRect, bar: float) -> bool:
        """Whether a second look at ``rect`` scores ``bar`` (``EMERGED_LOOK``: a weak find
        of the emerge look; ``STILL_THERE_LOOK``: a face not found again, ``_still_there``);
        False with no second look to make (a detector without one, ``verify`` off): a
        detection is not taken on its own word."""
        look = getattr(self._detector, "second_look", None)
        if not self.settings.verify or look is None:
            return False
        return self._second_look(look, grey, rect, bar)

    def _at_edge(self, rect: PixelRect) -> bool:
        """Whether ``rect`` (x, y, w, h) is cut by the frame's edge (``edge_sides``)."""
        return bool(edge_sides(np.array(rect, np.float64), self._width, self._height).any())

    def _on_blurred(self, rect: PixelRect, besides: _Track | None = None) -> bool:
        """Whether ``rect`` is on a blurred face (``on_faces``: a track not tentative,
        ``besides`` left out)."""
        blurred = [t.box for t in self._tracks if not t.tentative and t is not besides]
        return on_faces(rect, blurred)

    def _weak_cut_verified(
        self, grey: np.ndarray, rect: PixelRect, track: _Track, bar: float | None = None
    ) -> bool:
        """``_verified`` for ``track``'s detection ``rect`` — but a weak one cut by the
        frame's edge, on a track never found confidently, is a face only at a second
        look through the mirror (``_cut_face``), as such a detection is when it starts
        a track: texture found weakly again and again is not made a face by reaching
        the edge. (Two weak boxes on the Hubble field 213 px apart, matched as one face
        moving 49 px/frame, and a third cut by the corner: blurred from the first, up
        to 495 x 374 px, blind seed 23189-6, 31.3 dB.)"""
        if not track.strong and track.view == "blazeface?":
            # (one holding a blurred face's centre is that face seen larger, with its
            # mirror image: a 347-px box around a 203-px face leaving by the right
            # edge "moved" 28.5 px/frame the other way, seed --motion 21266-3)
            if self._at_edge(rect) and self._on_blurred(rect, besides=track):
                return False
            look = self._cut_face(grey, rect, track.view)
            if look is not None:
                return look
        return self._verified(grey, rect, track.view, bar)

    def _fast_verified(
        self, track: _Track, before: np.ndarray | None, grey: np.ndarray, rect: PixelRect
    ) -> bool:
        """Whether a tentative ``track`` found moving fast (``_fast``) in ``grey`` at
        ``rect``, one frame after its first detection in ``before``, is a face: its first
        detection or ``rect`` passes a second look — at ``fast_verify`` when the pixels
        of its first box moved fast themselves (``_fast_bar``), else at ``verify``."""
        bar = self._fast_bar(track, before, grey, rect)
        return self._first_look(track, bar) or self._weak_cut_verified(grey, rect, track, bar)

    def _fast_bar(
        self,
        track: _Track,
        before: np.ndarray | None,
        grey: np.ndarray,
        rect: PixelRect,
        elapsed: int = 1,
    ) -> float | None:
        """``fast_bar`` when the pixels of ``track``'s first box in ``before`` moved fast
        by themselves (``content_shift``) to its detection ``rect`` in ``grey``,
        ``elapsed`` frames later; else None (the usual bar, ``verify``)."""
        first = track.boxes.get(track.born)
        if not self.settings.fast_verify or before is None or first is None:
            return None
        camera = self._camera * elapsed
        shift = content_shift(before, grey, first, rect, camera)
        side = float(max(first[2], first[3]))
        if shift is None or not _fast_shift((shift - camera) / elapsed, side, self.settings):
            return None
        return self.settings.fast_bar

    def _moved_bar(
        self, track: _Track, grey: np.ndarray, rect: PixelRect, index: int
    ) -> float | None:
        """The bar of the looks that make a weak tentative ``track``, found again at
        ``rect`` at the pass after its first detection, a face: ``_fast_bar`` — lower
        when its first box's pixels moved there fast by themselves — else None.

        A small face moving fast is found weakly at one pass, missed by the follow-up
        and found weakly again at the next, its looks under ``verify``. (A 39-px face
        out from behind a larger one at 21 px/frame up and to the right, found at the
        passes of frames 8 and 12, looks 0.49-0.66, was never blurred and left sharp
        in 9 frames until it left by the top edge: seed --emerging 88182-2.) Texture
        found weakly twice stays where the camera puts it; a chin or a collar moves
        with its face (``_collar``).
        """
        elapsed = index - track.born
        first = track.boxes.get(track.born)
        if (
            track.strong
            or not track.tentative
            or track.unlooked is None
            or first is None
            or not 0 < elapsed <= self.settings.detect_every
            or self.settings.fast_bar is None
        ):
            return None
        velocity = (_centre(np.array(rect, np.float64)) - _centre(first)) / elapsed
        if self._collar(track, index, velocity):
            return None
        return self._fast_bar(track, track.unlooked[0], grey, rect, elapsed)

    def _first_look(self, track: _Track, bar: float | None = None) -> bool:
        """``track.verified``, the second look at its first detection made now if it was
        put off (``_Track.unlooked``): the same look on the same frame, made only when
        its answer is read — a weak or a collar's detection on texture is rarely found
        again, and a look costs ~10 ms (three runs of the network)."""
        if track.unlooked is not None:
            grey, rect, view = track.unlooked
            track.unlooked = None
            track.verified = track.verified or self._verified(grey, rect, view, bar)
        return track.verified

    def _cut_face(self, grey: np.ndarray, rect: PixelRect, view: str | None) -> bool | None:
        """Whether a weak BlazeFace detection ``rect`` cut by the frame's edge, on no
        face blurred already, is a face at a second look (``cut_second_look``; the
        look mirrors the frame beyond the edge, as the search does); None when no
        look is made (not such a detection).

        A face leaving by the edge is found through the mirror image beyond it,
        often weakly, and may be out of view before the next pass finds it again:
        a 66-px profile two-thirds beyond the left edge at the first frame, found at
        0.5-0.65, was gone one frame later (34314-0). Its second look scored 0.78;
        texture the search half-believed in that frame 0.51-0.63 (issue 14z).
        A box holding a blurred face's centre, or centred in its box, is that face
        seen larger (a 303-px head-and-shoulders box over a tracked 140-px profile
        leaving by the edge, 0.7 at a second look, blurred 15 frames: seed 98895-7
        lost 7.8 dB): it waits to be found again, as before.
        """
        look = getattr(self._detector, "second_look", None)
        if (
            not self.settings.cut_second_look
            or not self.settings.verify
            or look is None
            or view != "blazeface?"
            or not self._at_edge(rect)
            # (the mirror doubles what lies at the edge: a large symmetric blob
            # looks like a face — a 380-px box over a 140-px profile at the edge of
            # a 640 × 480 frame scored 0.81, seed 57-2)
            or max(rect[2], rect[3]) > 0.5 * min(self._width, self._height)
            or self._on_blurred(rect)
        ):
            return None
        if on_faces(rect, [box for box, _end in self._scenery]):
            # on a box given up standing still (``_scenery``): that scenery found
            # larger, with its mirror image, not a face — a 360-px box over a 139-px
            # one given up so, 0.7 at the look, was blurred at once and back-filled
            # for 1 s at 1080p (held-out-61778-3): it fails the look, unmade
            return False
        return self._second_look(look, grey, rect)

    def _second_look(
        self,
        look: Callable[..., float],
        grey: np.ndarray,
        rect: PixelRect,
        bar: float | None = None,
    ) -> bool:
        """Whether the detector's second look at ``rect`` scores ``bar`` (``verify`` by
        default)."""
        bar = self.settings.verify if bar is None else bar
        return self._look_score(look, grey, rect, bar) >= bar

    def _look_score(
        self, look: Callable[..., float], grey: np.ndarray, rect: PixelRect, enough: float = 1.0
    ) -> float:
        """The detector's second look at ``rect`` (stopped once it scores ``enough``),
        its CPU and the look counted."""
        with self._cpu("detect_cpu_s"):
            score = float(look(grey, rect, enough))
        self.stats.second_looks += 1
        return score

    def _grow_back(self, track: _Track, box: np.ndarray, index: int) -> None:
        """A face cut by the frame's edge found larger than before was that large in
        the frames before too, while it was cut (what grew was the part in view: a
        face entering, a tilted or profile face whose first detections held only part
        of it). Its boxes of those frames still to be decided take its new size."""
        for frame in range(index - 1, index - 1 - self.lookahead, -1):
            held, found = track.boxes.get(frame), track.seen.get(frame)
            if held is None or found is None:
                return
            # (back to the frames after a detection of it whole; between detections
            # the box moves with the face and may leave the edge)
            if not edge_sides(track.boxes[found], self._width, self._height).any():
                return
            _regrow(track, frame, edge_steady(box, held, self._width, self._height))

    def _grow_first(self, track: _Track, then: np.ndarray | None, cut: bool, index: int) -> None:
        """A face found first weakly, then again confidently, wholly in view and much
        larger (``FOUND_LARGER``), was that large at its first detection too: the weak
        box held only the part in view (a face coming out from behind another) or
        the part the detector half-believed. Its boxes since that detection, still to
        be decided, take its new size about their centres (and the back-fill, from
        the first box, with them).

        An 88 x 112 face coming out from behind a larger one was found first weakly as
        a 57-px box on the part in view, four frames later confidently at 103 px: the
        frames of the first box kept 0.57-0.78 of its sharpness (motion seed
        10955-0). Only then: a weak box found again is no measure of the face (a
        40-px face found again weakly as a 79-px box: emerging seed 7073-1, 35.9 ->
        33.4 dB), nor is a confident box found again larger than a confident first
        one (a 40-px face moving 12 px/frame, found at 41 px, then at 70: emerging
        seed 4-4, 35.8 -> 34.8 dB).

        ``then``: its box at its last detection (None: none); ``cut``: the new one is cut
        by the frame's edge (``_grow_back``'s case).
        """
        if (
            cut
            or then is None
            or not track.born_weak
            or is_weak(track.view)
            or track.redetected
            or not found_larger(then, track.box)
        ):
            return
        # (frames from ``self._index - self.lookahead`` on are not decided yet)
        for frame in range(max(track.born, self._index - self.lookahead), index):
            held = track.boxes.get(frame)
            if held is None:
                continue
            _regrow(track, frame, grown_to(held, track.box[2:]))

    def _around(self, rect: PixelRect, faces: list[_Track], middle: bool = True) -> bool:
        """``around_faces`` for a detection ``rect`` and the tracks ``faces``: ``cut`` as
        ``_cut`` says; with ``middle``, their centring asked of a detection wholly in
        view."""
        boxes = [track.box for track in faces]
        centred = middle and not self._at_edge(rect)
        return around_faces(rect, boxes, self._cut(rect, faces), middle=centred)

    def _cut(self, rect: PixelRect, live: list[_Track]) -> bool:
        """Whether ``rect`` is cut by the frame's edge and holds only faces whose size is
        not known yet (found under 4 times: maybe only the part of a face entering), one
        of which could be that part: across each edge that cuts ``rect``, at least 1/1.6
        of its extent in the frame (the part of a face entering that is in view), and
        under ``CONTEXT_FACE`` times its size along the edge (a face entering shows
        much of its width: a 960-px box cut by the bottom edge around a 332-px face
        46 px above it was blurred 960 x 493 px, blind seed 47278-5).

        A 210-px box 13 px beyond the top edge around a tracked 83-px face 42 px below
        it is that face seen larger, with the background around it, not a face entering:
        it started a track blurred at 3x the face's size for 50 frames (seed 22619-0,
        23.8 dB).
        """
        x, y, w, h = rect
        if x >= 0 and y >= 0 and x + w <= self._width and y + h <= self._height:
            return False
        inside = [track for track in live if _holds_centre(rect, track.box)]
        # (a face found 4 times or more inside it: that face's size is known)
        if not inside or any(track.redetected >= KNOWN_FOUND for track in inside):
            return False
        left, top, right, bottom = edge_sides(np.array(rect, np.float64), self._width, self._height)
        x0, y0, x1, y1 = self._in_view(rect)
        in_view = np.array([x1 - x0, y1 - y0], np.float64)
        across = np.array([left or right, top or bottom])
        size = np.array([w, h], np.float64)
        return any(
            bool(np.all(track.box[2:][across] * LARGER_FACE >= in_view[across]))
            and bool(np.all(track.box[2:][~across] * CONTEXT_FACE > size[~across]))
            for track in inside
        )

    def _in_view(self, rect: PixelRect) -> tuple[int, int, int, int]:
        """The corners (x0, y0, x1, y1) of ``rect``'s part in the frame (x1 <= x0 or
        y1 <= y0: none)."""
        x, y, w, h = rect
        return max(x, 0), max(y, 0), min(x + w, self._width), min(y + h, self._height)

    def _mirrored(self, rect: PixelRect, live: list[_Track]) -> bool:
        """Whether ``rect``, a new detection reaching ``MIRRORED_BEYOND`` of its area
        beyond the frame's edge, is a face of ``live`` whose size is known (found 4 times
        or more) seen with its mirror image: it holds that face's centre, and its part in
        view lies within the face's box grown by half its size on each side.

        Detection beyond the edge runs on the frame mirrored there, so a face leaving
        is found again with its reflection as one box about twice as deep (a 193-px
        box, half of it beyond the bottom edge, around a tracked 125-px face: under
        ``LARGER_FACE`` times its size, it was started as a new face and back-filled
        30 frames, blurred up to 331 x 268 px: blind seed 61778-0, 27.0 dB). A face
        entering there is new and shows its part in view; one inside the grown box of
        a face already tracked is behind that face's blur.
        """
        _x, _y, w, h = rect
        x0, y0, x1, y1 = self._in_view(rect)
        if x1 <= x0 or y1 <= y0 or (x1 - x0) * (y1 - y0) > (1 - MIRRORED_BEYOND) * w * h:
            return False
        for track in live:
            if track.redetected < KNOWN_FOUND or not _holds_centre(rect, track.box):
                continue
            bx, by, bw, bh = track.box
            grow = 0.5 * max(bw, bh)
            if bx - grow <= x0 and x1 <= bx + bw + grow and by - grow <= y0 <= y1 <= by + bh + grow:
                return True
        return False

    def _live_faces(self, index: int) -> list[_Track]:
        """The faces found at least twice, the last time at the last pass or this one."""
        recent = index - self.settings.detect_every
        return [
            t for t in self._tracks if t.redetected and not t.tentative and t.last_seen >= recent
        ]

    # -- tracking -------------------------------------------------------------------
    def _follow(self, before: Pyramid, now: Pyramid, index: int) -> None:
        boxes = [(other, other.box.copy()) for other in self._tracks]
        jolt: np.ndarray | None = None  # (found when first needed, once a frame)
        for track in self._tracks:
            moved = _flow(before, now, track, _crossing(track, boxes))
            own = moved  # (the face's own step: the velocity's measure)
            if moved is not None and _settled(track) and not plausible(moved, track.velocity):
                # A shaking camera jolts every face with the picture: the flow's step
                # less the jolt (``_camera_jolt``) is the face's own. (Refused so, the
                # flow was nearer the face's true step than the velocity at 214 of
                # 241 steps over 31 clips with a shaking camera; a 27-px face coasted
                # 14 px off and was kept 0.41, motion-11148-0-shake.) The box moves
                # by the step, the velocity by the face's own: with the jolts in it,
                # it swung by 10-20 px/frame and the pads grew with it (motion-38299-2-
                # shake 40.4 -> 33.3 dB, 92940-5-shake 42.6 -> 35.7).
                if jolt is None:
                    jolt = self._camera_jolt(now.level(0), index)
                own = moved - jolt
                if not plausible(own, track.velocity):
                    track.points = None  # locked onto something else: coast until re-detected
                    moved = None
            if moved is None or own is None:
                moved = track.velocity
            else:
                track.velocity = 0.6 * track.velocity + 0.4 * own
                track.followed = index
                track.steps += 1
            track.box = track.box + np.array([moved[0], moved[1], 0, 0])

    def _camera_jolt(self, grey: np.ndarray, index: int) -> np.ndarray:
        """How far (dx, dy) the camera's step into frame ``index`` (its grey image
        ``grey``) departs from its steps over the ``JOLT_STEPS`` frames before (their
        median: a panning camera's own motion; 0 for a still one). The steps by phase
        correlation of small copies, the tracked faces left out (``_camera_step``)."""
        step = self._camera_step(index, grey)
        if step is None:
            return np.zeros(2)
        steps = [self._camera_step(i) for i in range(max(1, index - JOLT_STEPS), index)]
        usual = [s for s in steps if s is not None]
        return step - median_rows(np.array(usual)) if usual else step

    def _camera_step(self, index: int, grey: np.ndarray | None = None) -> np.ndarray | None:
        """The camera's shift (dx, dy) from frame ``index - 1`` to ``index``: the
        picture's, the tracked faces left out (``_off_faces``; ``grey``: that frame's
        grey image, if not buffered yet); None when either frame is gone or the
        picture moved as no one shift (``JOLT_RESPONSE``). Kept, as is each frame's
        small copy, while the frame is buffered."""
        if index not in self._steps:
            before, now = self._step_copy(index - 1), self._step_copy(index, grey)
            if before is None or now is None:
                return None
            scale = step_scale(self._width)
            # (the faces where they were then: a square moving over a plain ground,
            # left in where it was by the weights of a later frame, made the steps
            # of its frames its own motion, and its track's stop behind a still face
            # a "jolt")
            faces = [
                (track.boxes[frame], track.velocity)
                for track in self._tracks + self._finished
                for frame in (index - 1, index)
                if frame in track.boxes
            ]
            weights = _off_faces(faces, now.shape, 1 / scale, 1)
            dx, dy, response = camera_shift(before, now, weights)
            # (a weak peak is no one shift of the picture: e.g. a square moving over
            # fine grass outweighs the still grass, response -0.05; steps of real
            # clips' pictures respond 0.5-0.9, a shaking camera's too)
            self._steps[index] = np.array([dx, dy]) * scale if response >= JOLT_RESPONSE else None
        return self._steps[index]

    def _step_copy(self, index: int, grey: np.ndarray | None = None) -> np.ndarray | None:
        """Frame ``index``'s small copy for ``_camera_step`` (halved ``step_scale``'s
        times over; float32)."""
        if index not in self._step_copies:
            grey = self._greys.get(index) if grey is None else grey
            if grey is None:
                return None
            scale = step_scale(self._width)
            size = (max(1, grey.shape[1] // scale), max(1, grey.shape[0] // scale))
            small = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
            self._step_copies[index] = np.asarray(small, np.float32)
        return self._step_copies[index]

    def _retire(self, index: int, grey: np.ndarray) -> None:
        keep = []
        faces = [t.box for t in self._live_faces(index)]
        for track in self._tracks:
            x, y, w, h = track.box
            unseen = index - track.last_seen
            # Gone once its box left the frame — but a face detected at the last pass
            # (confidently at least once) is kept until the next one while its blurred
            # rectangle still reaches into the frame: a box that ran ahead of a face
            # leaving (its speed measured from a detection cut by the edge) left the
            # frame with 62-90 px of a 193-px profile still in view (2026-5; issue
            # 14u). (Kept on that rectangle alone, the 263-px box of a face gone by
            # the bottom edge, last detected 7 frames before, blurred a strip there
            # for 6 frames more: 44425-2 -3.3 dB; and a weak track on texture kept so
            # took another texture detection: 33810-0 -2.0 dB.)
            stale = unseen > self.settings.detect_every
            outside = x > self._width or y > self._height or x + w < 0 or y + h < 0
            gone = outside and (
                stale
                or not track.strong
                or self._padded(track, track.box, unseen, track.velocity) is None
            )
            lost = index - max(track.followed, track.last_seen) > self.settings.detect_every
            # (a duplicate follows the other face, so it moves with it: a 165-px face
            # coasting at 21 px/frame behind a still 300-px one is not that face —
            # retired so, it was left sharp when it came out, seed 33810-5)
            duplicate = stale and self._found_with(track, index, same_face)
            # (a box centred on a face tracked apart, at least ``CONTEXT_FACE`` times its
            # size and moving with it, is that face seen with its head and shoulders or
            # its background: retired once that face, sure, was found at this pass)
            # (and each moves as the other may: a 208-px face walking away at 4 px/frame
            # behind whose centre a 24-px face passed down at 9 was retired so, slow
            # enough for any motion to pass for its own; its held box fell short of it
            # for 6 frames, motion seed 31374-5)
            # (but not a box found where that face was not: a 185-px face found at every
            # pass for 32 frames was retired so around a 67-px detection on its chin, found
            # at frame 4 and again at 40; held on the chin's flow, its box drifted off the
            # face leaving the frame, 15 frames sharp, blind seed 25983-6)
            context = self._found_with(
                track, index, centred_around, sure=True, mutual=True, together=True
            ) and self._less_a_face(track, index, grey)
            # a weak detection not repeated at the next pass (or the one after:
            # ``waits_a_pass_more``)
            doubtful = track.tentative and unseen > self.settings.detect_every * (
                TENTATIVE_PASSES if waits_a_pass_more(track, faces) else 1
            )
            # (a box standing still shows the detector the same pixels at every pass:
            # not found at them for ``hold_s``, it is not a face the flow "follows" — a
            # 79-px box on scenery at a frame's edge, found three times, was held 47
            # frames so, held-out-15763-0; not in strict mode)
            still = (
                unseen > self._hold
                and not self.settings.strict
                and not track.looked_on
                and stood_still(track)
            )
            weak_gone = not track.strong and unseen > self._weak_hold
            if (
                gone
                or duplicate
                or context
                or doubtful
                or weak_gone
                or unseen > self._flow_hold
                or (
                    unseen > self._hold
                    and (lost or still or (track.redetected < ESTABLISHED and not track.looked_on))
                    and not self._behind(track, index)
                )
            ):
                track.end = index
                if still:
                    self._scenery.append((track.box.copy(), index))
                if not doubtful:  # (kept for a weak detection found again: _weak_again)
                    track.unlooked = None  # (its frame's grey need not be kept)
                self._finished.append(track)
            else:
                keep.append(track)
        self._tracks = keep
        self._scenery = [(b, end) for b, end in self._scenery if index - end <= self._flow_hold]
        # Finished tracks are needed only until their frames have left the buffer.
        oldest = self._buffer[0][0] if self._buffer else index
        self._finished = [t for t in self._finished if t.end is not None and t.end >= oldest]
        recent = self._given_up_since(index)
        for track in self._finished:
            if track.last_seen < recent:
                track.unlooked = None

    def _less_a_face(self, track: _Track, index: int, grey: np.ndarray) -> bool:
        """Whether ``track``'s box, centred around a smaller face's (``centred_around``),
        looks less like a face than every such smaller box found at this pass, at a
        second look at each (decided once for each pair: ``track.context``).

        The larger box is mostly that face seen with its head and shoulders or its
        background; but the smaller one may be a part of the face: a profile's ear,
        a 97-px box inside the 291-px face, both found at frame 0, retired the face's
        box as its context at frame 8 and the face was left sharp around the ear
        for 51 frames (held-out-71656-7; second looks: the face 0.90, the ear 0.71).
        The head and shoulders around a 106-px face: 0.59 against 0.89
        (held-out-53576-1).
        """
        look = getattr(self._detector, "second_look", None)
        if look is None:
            return True
        for other in self._tracks:
            if (
                other is track
                or other.last_seen != index
                or not centred_around(track.box, other.box)
            ):
                continue
            if other.ident not in track.context:
                mine = self._look_score(look, grey, _box_rect(track.box))
                theirs = self._look_score(look, grey, _box_rect(other.box))
                track.context[other.ident] = mine < theirs
            if not track.context[other.ident]:
                return False
        return True

    def _found_with(
        self,
        track: _Track,
        index: int,
        on: Callable[[np.ndarray, np.ndarray], bool],
        sure: bool = False,
        mutual: bool = False,
        together: bool = False,
    ) -> bool:
        """Whether another track found at this pass (frame ``index``), whose box
        ``track``'s box is ``on`` (``on(track.box, other.box)``), moves with ``track``;
        with ``sure``, only a sure face (strong, not tentative, found ``ESTABLISHED``
        times); with ``mutual``, ``track`` also moves with it; with ``together``, only
        one found whenever ``track`` was (``found_apart``)."""
        return any(
            other is not track
            and other.last_seen == index
            and (
                not sure
                or (other.strong and not other.tentative and other.redetected >= ESTABLISHED)
            )
            and on(track.box, other.box)
            and moves_with(track.velocity, [other.velocity])
            and (not mutual or moves_with(other.velocity, [track.velocity]))
            # (last: it reads both tracks' whole ``seen`` records)
            and (not together or not found_apart(track, other))
            for other in self._tracks
        )

    def _behind(self, track: _Track, index: int) -> bool:
        """Whether ``track``'s box (a face found confidently) lies on the box of a larger
        face found at the last pass or this one: it may be hidden behind that face,
        and is held (up to ``flow_hold_s``) until it comes out, where the search
        around it finds it again.

        A 165-px face crossing behind a 300-px one at 21 px/frame coasted on its
        velocity, was retired after ``hold_s`` while still behind it, and was left
        sharp once out — the search where it came out looked only for faces of the
        larger one's size (seed 33810-5, issue 14ag).
        """
        if not track.strong or track.tentative:
            return False
        side = float(max(track.box[2], track.box[3]))
        return any(
            other is not track
            and float(max(other.box[2], other.box[3])) > side
            and touches_grown(track.box, other.box, 0.0)
            for other in self._live_faces(index)
        )

    # -- what to blur -----------------------------------------------------------------
    def _decide(self, index: int, frame: np.ndarray) -> Covered:
        rects: list[PixelRect] = []
        cores: list[PixelRect] = []
        whole = False
        frame_area = self._width * self._height
        for track in self._tracks + self._finished:
            rect = self._rect_at(track, index)
            if rect is None:
                continue
            if track.last_look is not None and index == self._index - 1 and self._ended:
                found = self._padded(track, track.last_look, 0, track.velocity)
                if found is not None and touches_grown(np.array(found), np.array(rect), 0.0):
                    rect = _union([rect, found])
                elif found is not None:
                    rects.append(found)
            rects.append(rect)
            core = self._core_at(track, index, rect)
            if core is not None:
                cores.append(core)
            if rect[2] * rect[3] > self.settings.whole_frame_above * frame_area:
                whole = True
        covered = Covered(index, frame, rects, whole, cores)
        self.stats.frames_with_boxes += bool(rects)
        self.stats.frames_fully_blurred += whole
        self.stats.max_faces = max(self.stats.max_faces, len(rects))
        return covered

    def _core_at(self, track: _Track, index: int, rect: PixelRect) -> PixelRect | None:
        """The face's own box inside its ``rect`` in frame ``index``, blurred again more
        coarsely (``Covered.cores``) — for a box cut by the frame's edge only: the part
        of a face in view there can be a sliver whose own detail is slight beside what
        the blur of the rectangle leaves of its surroundings (a 46 x 22 px sliver of a
        head at the bottom edge, wholly inside its rectangle, kept 11-17 % of its
        sharpness: held-out-87286-6; 37 x 18 and 59 x 20 px slivers, motion-60080-3 and
        -6). Inside the frame it would only blur false faces more (0.3-1 dB)."""
        box = track.boxes.get(index)
        if box is None or not edge_sides(box, self._width, self._height).any():
            return None
        return _inside(_box_rect(box), rect)

    def _held_by_other(
        self, track: _Track, index: int, box: np.ndarray, velocity: np.ndarray
    ) -> bool:
        """Whether another track's blurred rectangle in frame ``index`` already holds
        ``box`` (``track``'s back-filled face box there, in the frame): the face was
        blurred by a track that followed it then (one that later switched to a face
        it passed, a duplicate), or by one that found it within a pass of that frame
        with a box as wide, moving with it. The back-fill is for faces nobody covered
        (entering, found late, coming out from behind another face — not held by its
        box)."""
        x0, y0 = float(box[0]), float(box[1])
        x1, y1 = x0 + float(box[2]), y0 + float(box[3])
        for other in self._tracks + self._finished:
            # (another track's back-fill too, when it was born before this one: two
            # tracks found one after the other on a face moving fast both back-filled
            # it, the later one 20 frames back with pads grown to 340 px, over frames
            # the earlier one's back-fill held — blind seed 72931-0. Only earlier-born
            # ones, so the question never comes back to this track.)
            boxed = index in other.boxes
            if other is track or not (boxed or other.born < track.born):
                continue
            # (the rectangle of the box alone, as without extents: the choice of
            # what to back-fill stays the same, issue 14t; and without where the flow
            # followed it back: that rectangle, larger, held a 101 x 56 back-fill of a
            # 61-px face at the top edge, whose own 71 x 46 rectangle then left it
            # kept 0.28, held-out-23189-2)
            rect = self._rect_at(other, index, extent=False)
            if rect is None:
                continue
            rx, ry, rw, rh = rect
            inside_x = rx <= max(0.0, x0) and min(float(self._width), x1) <= rx + rw
            inside_y = ry <= max(0.0, y0) and min(float(self._height), y1) <= ry + rh
            if inside_x and inside_y:
                return True
            if not boxed:
                continue
            # Or another track found that face within a pass of this frame, on it, with
            # a padded box at least as wide as the back-filled one and moving with it:
            # the face was followed there; the back-fill's growing pads only blurred the
            # background around it (crossing-vga, issue 14). A smaller box on the face
            # may hold only part of it (unseen seed 88711-0: a 26-px box on a 36-px face,
            # which the back-filled 43-px box covered).
            held = other.boxes[index]
            padded = (1.0 + 2.0 * self.settings.pad) * float(max(held[2], held[3]))
            if (
                index - other.seen[index] <= self.settings.detect_every
                and same_face(box, held)
                and padded >= float(max(box[2], box[3]))
                and moves_with(velocity, [self._velocity_at(other, index)])
            ):
                return True
        return False

    def _velocity_at(self, track: _Track, index: int) -> np.ndarray:
        """``track``'s velocity (px/frame) into frame ``index``, measured on its boxes
        over the pass before it (its last measured velocity when it had no box then):
        a track's ``velocity`` is its latest, not the one it had in that frame."""
        step = self.settings.detect_every
        before = track.boxes.get(index - step)
        if before is None:
            return track.velocity
        moved: np.ndarray = _centre(track.boxes[index]) - _centre(before)
        return moved / step

    def _not_found_again(self, track: _Track, index: int) -> bool:
        """Whether ``track``, held in frame ``index`` after its last detection, was not
        found again in any frame since — a whole look-ahead of frames (~1.2 s, every
        pass searching around it) — so its held box is not padded for drift.

        The drift pad (``drift_pad``) grows a held box by its speed for every frame
        since the last detection: room for the face to run ahead of a box that
        coasts or is followed by the flow until the face is found again. A track not
        found again in the look-ahead holds a face that left, went behind another
        or was never there (a box that took another face's detection and coasts off
        it at the speed that match measured), and its growing pads blurred the
        background: e.g. a 72-px box coasting off a still face at 17 px/frame grew to
        230 × 120 px over its 1-s hold (seed 34314-2, issue 14af). It keeps its hold,
        its box and its motion pad. Only frames decided a whole look-ahead after them,
        or — at the end of a video or segment (``finish``), where no frame follows —
        of a track whose last detection was a whole look-ahead before the last frame
        (the same evidence: every pass of a look-ahead after it found nothing; a
        266-px face that left by the edge at frame 35 of 60, last found at 20, kept
        growing pads to the end: blind seed 51307-4). Not in strict mode.
        """
        if self.settings.strict or track.last_seen > index:
            return False
        last = self._index - 1
        if self._ended and last - track.last_seen >= self.lookahead:
            return True
        return index <= last - self.lookahead

    def _rect_at(self, track: _Track, index: int, extent: bool = True) -> PixelRect | None:
        """The rectangle blurred for ``track`` in frame ``index`` (None: nothing): its box
        there, padded, and — with ``extent`` — the union with its detections' extent
        around that box, padded alike (``_margins_at``), and with where the flow
        followed it back before its first detection (``follow_back``)."""
        settings = self.settings
        if track.tentative and not settings.strict:
            return None
        margins = _margins_at(track, index) if extent else None
        if index in track.boxes:
            box = track.boxes[index]
            since = index - track.seen[index]
            if since and self._not_found_again(track, index):
                since = 0  # (its pads do not grow: see ``_not_found_again``)
            return self._padded(track, box, since, track.velocity, margins)
        if not track.born - self._back <= index < track.born:
            return None
        return self._back_filled(track, index, margins, followed=extent)

    def _back_filled(
        self, track: _Track, index: int, margins: np.ndarray | None, followed: bool = True
    ) -> PixelRect | None:
        """``_rect_at`` a frame before ``track``'s first detection, within its back-fill
        (with ``followed``, also where the flow followed it back)."""
        # Back-filled: moved back from its first box along its early velocity — and,
        # when that box was grown back since (``_grow_back``), also from the box it
        # was first found with, along the velocity measured from that one: the
        # union of the two (which one the face followed is not known).
        # Where nothing after its first detection measured that velocity (a face
        # found at the last frames of a video or segment), the flow's, where it
        # followed the face back: a face found coming in by the bottom edge at the
        # clip's last frame, 26 px/frame, was back-filled standing there for a
        # second, 45 M of squared error a frame (motion-42970-4-turn, 32.2 dB).
        since = track.born - index
        rects = []
        for boxes in _first_boxes(track):
            velocity = _early_velocity(track, boxes, (self._width, self._height))
            if velocity is None:
                velocity = self._flowed_in(track)
            box = boxes[track.born] - np.array([*(velocity * since), 0, 0])
            if self._held_by_other(track, index, box, velocity):
                continue
            rect = self._padded(track, box, since, velocity, margins)
            if rect is not None:
                rects.append(rect)
        # And where the optical flow followed its first box's pixels back (a face
        # that moved otherwise before it was found than after: ``follow_back``).
        back = None if track.tentative or not followed else self._followed_back(track).get(index)
        if back is not None:
            box, velocity = back
            if not self._held_by_other(track, index, box, velocity):
                rect = self._padded(track, box, since, velocity, margins)
                if rect is not None:
                    rects.append(rect)
        return _union(rects) if rects else None

    def _flowed_in(self, track: _Track) -> np.ndarray:
        """The velocity the optical flow followed ``track``'s first box back with, at
        the earliest frame it reached (``_followed_back``); its ``velocity`` where the
        flow did not follow it (or it is tentative: not back-filled by the flow)."""
        back = None if track.tentative else self._followed_back(track)
        return back[min(back)][1] if back else track.velocity

    def _followed_back(self, track: _Track) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """``track.back``, made at the first call: its first box followed back through
        the buffered frames of its back-fill (``follow_back``)."""
        if track.back is None:
            frames = range(track.born, max(-1, track.born - self._back - 1), -1)
            greys = []
            for frame in frames:
                grey = self._greys.get(frame)
                if grey is None:
                    break
                greys.append(grey)
            track.back = {}
            if len(greys) > 1:
                self.stats.back_follows += 1
                box = track.boxes[track.born]
                own = _early_velocity(track, track.boxes, (self._width, self._height))
                own = track.velocity if own is None else own
                others = [
                    self._velocity_at(other, track.born)
                    for other in self._tracks + self._finished
                    if other is not track and not other.tentative and track.born in other.boxes
                ]
                with self._cpu("back_flow_cpu_s"):
                    followed = follow_back(greys, box, own, others)
                track.back = dict(zip(frames[1:], followed, strict=False))
        return track.back

    def _padded(
        self,
        track: _Track,
        box: np.ndarray,
        since: int,
        velocity: np.ndarray,
        margins: np.ndarray | None = None,
    ) -> PixelRect | None:
        """The rectangle blurred for ``track``'s face box ``box`` (x, y, w, h), ``since``
        frames after its last detection, moving at ``velocity``: the box padded (its
        view, its motion, the frame's edge) — with ``margins``, its union with the
        detections' extent around it (``_margins_at``), padded alike — and clipped to
        the frame; None outside it."""
        settings = self.settings
        x, y, w, h = box
        drift = settings.drift_pad * min(since, self._hold)
        pad = settings.pad + view_pad(track.view, settings)
        # Motion pads along each axis by the speed along it (a face moving sideways
        # is not padded up and down by its whole speed): see ``axis_speeds``.
        speed_x, speed_y = axis_speeds(velocity, settings.across_motion)
        grow_x = pad * max(w, h) + speed_x * (settings.motion_pad + drift)
        grow_y = pad * max(w, h) + speed_y * (settings.motion_pad + drift)
        # A face cut by the frame's edge was found from its visible part (and its
        # mirror image): its box may stop short inside the frame, so it grows inwards.
        # It also grows a little along the edge: the detection of the part in view is
        # centred on that part, not on the face (a profile's forehead was left out).
        # Both grow with the share of the box beyond the edge, in full from
        # ``EDGE_FULL``: a box barely reaching the edge was found whole (a 133-px box
        # 2-18 px beyond the top edge, on an 88-px face wholly in view, was blurred
        # 220 x 180 px: seed --emerging 62850-2, 31.7 dB).
        shares = edge_shares(box, self._width, self._height, 1.0)
        beyond_left, beyond_top, beyond_right, beyond_bottom = (
            min(1.0, share / EDGE_FULL) for share in shares
        )
        inward, along = EDGE_GROW * min(w, h), EDGE_ALONG * max(w, h)
        if track.whole >= KNOWN_WHOLE and max(shares) < KNOWN_BEYOND:
            # found whole often enough to know its size and place, and mostly in view:
            # its box keeps the size and follows the detections' inner side
            # (``edge_steady``) — where most of it is beyond, the part in view may sit
            # off its middle along the edge (a profile's 58-px sliver at a 1080p right
            # edge, 71 % of its box beyond, kept 0.14 without: 65424-1)
            along = 0.0
        across = along * max(beyond_top, beyond_bottom)
        down = along * max(beyond_left, beyond_right)
        left = grow_x + inward * beyond_right + across
        right = grow_x + inward * beyond_left + across
        top = grow_y + inward * beyond_bottom + down
        bottom = grow_y + inward * beyond_top + down
        x0f, y0f, x1f, y1f = x, y, x + w, y + h
        if margins is not None:  # the extent, padded as the box: the union of the two
            x0f, y0f = x0f - margins[0] * w, y0f - margins[1] * h
            x1f, y1f = x1f + margins[2] * w, y1f + margins[3] * h
        rect = _rect_from(x0f - left, y0f - top, x1f + right, y1f + bottom)
        # A box that stops just short of the frame's edge goes to it: the face may
        # reach it (a box jitters by more than the sliver it would leave sharp). Near
        # is judged on the box padded by its view and motion alone: the growth of a
        # box cut by another edge (inwards, along that edge) does not bring the face
        # nearer (a 188-px face cut by the top edge, 112 px from the right one, was
        # blurred to the right edge: held-out-21171-2).
        near = EDGE_SNAP * max(w, h)
        own = _rect_from(x0f - grow_x, y0f - grow_y, x1f + grow_x, y1f + grow_y)
        x0 = 0 if own[0] < near else max(0, rect[0])
        y0 = 0 if own[1] < near else max(0, rect[1])
        x1 = self._width if own[0] + own[2] > self._width - near else rect[0] + rect[2]
        y1 = self._height if own[1] + own[3] > self._height - near else rect[1] + rect[3]
        x1, y1 = min(x1, self._width), min(y1, self._height)
        if x1 <= x0 or y1 <= y0:
            return None
        return (x0, y0, x1 - x0, y1 - y0)


# -- helpers ------------------------------------------------------------------------------


# Detections matched to a track after its first: from this many on, a face is held
# beyond ``hold_s`` (up to ``flow_hold_s``) while the optical flow follows it.
ESTABLISHED = 2
# ... or fewer, when a look at its followed box, its hold running out, scores this much
# (``_still_there``)
STILL_THERE_LOOK = 0.4
# A face found again this many times larger than at its first detection (on each
# side) was that large then too (``_grow_first``).
FOUND_LARGER = 1.4


STILL_MOVE = 0.05  # of a face's size: a box moved less since its last detection stood still


def stood_still(track: _Track) -> bool:
    """Whether ``track``'s box has stayed where it was last found (its centre within
    ``STILL_MOVE`` of its size, every frame since).

    >>> track = _Track(0, 0, 8, np.array([100, 100, 40, 40.0]))
    >>> track.boxes = {8: np.array([100, 100, 40, 40.0]), 20: np.array([101, 100, 40, 40.0])}
    >>> stood_still(track)
    True
    >>> track.boxes[30] = track.box = np.array([103, 100, 40, 40.0])
    >>> stood_still(track)
    False
    """
    then = track.boxes.get(track.last_seen)
    if then is None:
        return False
    side, centre = float(max(then[2], then[3])), _centre(then)
    since = [box for frame, box in track.boxes.items() if frame > track.last_seen]
    return all(
        float(np.abs(_centre(box) - centre).max()) < STILL_MOVE * side
        for box in [*since, track.box]
    )


def found_apart(track: _Track, other: _Track) -> bool:
    """Whether ``track`` was found at a frame where ``other`` was not — before ``other``
    was first found, too.

    A face tracked first is not the context of a smaller box found on it later: a
    239 x 311 face turning, tracked from frame 0 by a 437-px box, had a 110-px box on
    part of it from frame 8; retired at 28 as that box seen larger (``centred_around``),
    the face was left sharp around the small box's rectangle for 10 frames (blind
    seed --motion 97539-1, session 65).

    >>> other = _Track(1, 0, 40, np.zeros(4), seen={3: 0, 4: 4, 39: 4, 40: 40})
    >>> found_apart(_Track(0, 0, 36, np.zeros(4), seen={8: 8, 36: 36}), other)
    True
    >>> found_apart(_Track(0, 0, 40, np.zeros(4), seen={4: 4, 39: 4, 40: 40}), other)
    False
    >>> later = _Track(1, 8, 40, np.zeros(4), seen={8: 8, 39: 8, 40: 40})
    >>> found_apart(_Track(0, 0, 40, np.zeros(4), seen={8: 8, 39: 8, 40: 40}), later)
    True
    """
    theirs = {*other.seen.values(), other.born, other.last_seen}
    mine = {*track.seen.values(), track.born, track.last_seen}
    return any(frame not in theirs for frame in mine)


def found_larger(then: np.ndarray, box: np.ndarray) -> bool:
    """Whether ``box`` (x, y, w, h) is over ``FOUND_LARGER`` times ``then`` on both sides.

    >>> found_larger(np.array([0, 0, 100, 100.0]), np.array([0, 0, 150, 141.0]))
    True
    >>> found_larger(np.array([0, 0, 100, 100.0]), np.array([0, 0, 150, 140.0]))
    False
    """
    return bool((box[2:] > FOUND_LARGER * then[2:]).all())


# A tentative track found confidently has its region searched for faces from this share
# of its box's side (other tracks' from half of it): ``FaceCoverage._around_tracks``.
TENTATIVE_LEAST = 0.35
# Around a face found only weakly, looking for faces from under this many times the
# detector's smallest face: the fine level too (``_detection_pass``).
FINE_UNSURE = 1.5
# A padded box nearer the frame's edge than this share of the face's size reaches it.
# 0.25 until session 47: a 225-px profile leaving by the left edge had its rectangle
# snapped to the top and bottom edges too, 338 x 480 px (held-out-82111-2). At 0.15,
# over 731 simulated clips no exposed frame changed and 5 more clips reach 35 dB.
EDGE_SNAP = 0.15
MIRRORED_BEYOND = 0.25  # of a box's area beyond the frame's edge (_mirrored)
KNOWN_FOUND = 4  # detections after the first: a face's size is known (_cut, _mirrored)
PARTS_MARGIN = 0.05  # a second look's lead of a box over the faces inside it (_holds_parts)
TENTATIVE_PASSES = 2  # passes a tentative track found confidently once waits to be found again
EDGE_GROW = 0.3  # of the face's width: a box cut by the frame's edge grows this much inwards
EDGE_ALONG = 0.15  # of the face's size: ... and this much along the edge, on each side
# A detection this many times a tracked face's size around it is that face seen larger
# (with its head and shoulders, or its background), not a new face (``around_faces``).
LARGER_FACE = 1.6


def extent_margins(rect: PixelRect, extent: PixelRect) -> np.ndarray:
    """How far ``extent`` (x, y, w, h) reaches beyond ``rect`` (x, y, w, h) on its left,
    top, right and bottom, as shares of ``rect``'s width and height (0 where it does
    not reach beyond).

    A detection's extent (a profile's box turned by its eyes-to-mouth line) moves
    and scales with the track's box this way between detections.

    >>> extent_margins((100, 100, 50, 40), (95, 100, 50, 48)).tolist()
    [0.1, 0.0, 0.0, 0.2]
    """
    x, y, w, h = rect
    ex, ey, ew, eh = extent
    width, height = max(w, 1), max(h, 1)
    left, top = (x - ex) / width, (y - ey) / height
    right, bottom = (ex + ew - x - w) / width, (ey + eh - y - h) / height
    return np.maximum(np.array([left, top, right, bottom], np.float64), 0.0)


def _margins_at(track: _Track, index: int) -> np.ndarray | None:
    """The extent margins blurred around ``track``'s box in frame ``index``: those of its
    detection at or before it and of its next one (a frame between two detections
    takes the larger of each; a back-filled frame, those of its first detection);
    None without any.

    >>> track = _Track(0, 4, 8, np.zeros(4), seen={4: 4, 5: 4, 6: 4, 7: 4, 8: 8})
    >>> track.reach = {4: np.array([0.1, 0, 0, 0]), 8: np.array([0, 0, 0, 0.2])}
    >>> _margins_at(track, 5).tolist(), _margins_at(track, 8).tolist()
    ([0.1, 0.0, 0.0, 0.2], [0.0, 0.0, 0.0, 0.2])
    >>> _margins_at(track, 2).tolist()  # before its first detection
    [0.1, 0.0, 0.0, 0.0]
    """
    if not track.reach:
        return None
    seen = track.seen.get(index, track.born)
    before = track.reach.get(seen)
    after = None
    if index >= track.born:  # the next detection, extent or not (at most a lookahead on)
        frame = index + 1
        while track.seen.get(frame) == seen:
            frame += 1
        if frame in track.seen:
            after = track.reach.get(track.seen[frame])
    if before is None:
        return after
    return before if after is None else np.maximum(before, after)


def axis_speeds(velocity: np.ndarray, across: float = 0.25) -> tuple[float, float]:
    """The speeds (px/frame) a face's box is padded by along x and along y.

    Along each axis the face's speed along it plus ``across`` times its speed
    along the other, and never more than its larger component (the pad of every
    side before issue 14i): the box's error from motion (the frames between
    detections, the velocity's own error) lies mostly along the direction of
    motion, and a little across it. A face moving 30 px/frame sideways was padded
    30 px up and down too, blurring background above and below it; a face moving
    diagonally is padded as before. Strict mode keeps every side at the larger
    component (``across`` 1).

    >>> axis_speeds(np.array([30.0, 0.0]))
    (30.0, 7.5)
    >>> axis_speeds(np.array([-6.0, 8.0]))
    (8.0, 8.0)
    >>> axis_speeds(np.array([10.0, 3.0]))
    (10.0, 5.5)
    """
    vx, vy = abs(float(velocity[0])), abs(float(velocity[1]))
    speed = max(vx, vy)
    return min(speed, vx + across * vy), min(speed, vy + across * vx)


def fill_between(boxes: dict[int, np.ndarray], first: int, last: int, box: np.ndarray) -> None:
    """Boxes of the frames between two detections of a face (at ``first``, and ``box``
    at ``last``) also cover the box interpolated between the two.

    The optical flow between detections can lag or lose a fast or small face;
    two detections bracket where it was. Where the flow's box overlaps the
    interpolated one both are covered (their bounds); where it does not, the
    flow was lost and the interpolated box replaces it.

    >>> boxes = {i: np.array([0, 0, 12, 10.0]) for i in range(3)}  # the flow lagged
    >>> fill_between(boxes, 0, 4, np.array([40, 0, 12, 10.0]))
    >>> boxes[1].tolist(), boxes[2].tolist()
    ([0.0, 0.0, 22.0, 10.0], [20.0, 0.0, 12.0, 10.0])
    """
    start = boxes.get(first)
    if start is None:
        return
    for frame in range(first + 1, last):
        held = boxes.get(frame)
        if held is None:
            continue
        share = (frame - first) / (last - first)
        guess = start * (1 - share) + box * share
        x0, y0 = np.minimum(held[:2], guess[:2])
        x1, y1 = np.maximum(held[:2] + held[2:], guess[:2] + guess[2:])
        overlap = min(held[0] + held[2], guess[0] + guess[2]) > max(held[0], guess[0]) and min(
            held[1] + held[3], guess[1] + guess[3]
        ) > max(held[1], guess[1])
        boxes[frame] = np.array([x0, y0, x1 - x0, y1 - y0]) if overlap else guess


def _off_faces(
    faces: Sequence[tuple[np.ndarray, np.ndarray]],
    shape: tuple[int, ...],
    scale: float,
    frames: int,
) -> np.ndarray | None:
    """Weights of a copy (``shape``, ``scale`` times the frame's size) for finding the
    camera's shift over ``frames`` frames: 0 on the ``faces`` (box, velocity: grown by
    a quarter of their side and their motion over those frames), 1 elsewhere,
    feathered; None (all pixels alike) when faces cover most of the picture."""
    weights = np.ones(shape, np.float32)
    for box, velocity in faces:
        x, y, w, h = box
        grow = 0.25 * max(w, h) + np.abs(velocity).max() * frames
        x0, y0 = max(0, int((x - grow) * scale)), max(0, int((y - grow) * scale))
        x1 = max(0, math.ceil((x + w + grow) * scale))  # (slices: never negative)
        y1 = max(0, math.ceil((y + h + grow) * scale))
        weights[y0:y1, x0:x1] = 0
    if weights.mean() < 0.25:
        return None
    return np.asarray(cv2.GaussianBlur(weights, (0, 0), 2.0), np.float32)


def camera_shift(
    before: np.ndarray, now: np.ndarray, weights: np.ndarray | None
) -> tuple[float, float, float]:
    """The shift (dx, dy) of ``now`` against ``before`` by phase correlation, each
    pixel weighted by ``weights`` (0 on the tracked faces; None: all alike), and the
    correlation's response (its peak: near 1 when the whole picture moved as one);
    float32 images of one shape.

    With a window, OpenCV multiplies its inputs by it in place: it is given copies,
    so the motion found after the shift still sees the pixels around tracked faces.

    >>> before = np.zeros((32, 32), np.float32); before[8:14, 8:14] = 100
    >>> now = np.roll(before, 3, axis=1); weights = np.ones_like(before)
    >>> weights[:, 20:] = 0
    >>> dx, dy, _response = camera_shift(before, now, weights)
    >>> round(dx), round(dy)
    (3, 0)
    >>> now[4, 24] = 7  # where the weight is 0: kept as it was
    >>> _ = camera_shift(before, now, weights); float(now[4, 24])
    7.0
    """
    (dx, dy), response = cv2.phaseCorrelate(before.copy(), now.copy(), weights)
    return float(dx), float(dy), float(response)


def outside_range(before: np.ndarray, now: np.ndarray) -> np.ndarray:
    """How far each pixel of ``now`` lies outside the range (min to max) of ``before``
    over its 3×3 neighbourhood (0 inside it); float32 images of one shape.

    Pictures aligned to a fraction of a pixel differ on every edge and texture
    by the interpolation alone; a pixel that really changed (something moved) lies
    outside what its neighbourhood held before.

    >>> before = np.zeros((5, 5), np.float32); before[:, 2] = 100  # a line
    >>> now = np.roll(before, 1, axis=1)  # shifted by one pixel: within range
    >>> float(outside_range(before, now).max())
    0.0
    >>> now[0, 0] = 60  # something new where the neighbourhood held 0
    >>> float(outside_range(before, now)[0, 0])
    60.0
    """
    kernel = np.ones((3, 3), np.uint8)
    low = cv2.erode(before, kernel)
    high = cv2.dilate(before, kernel)
    return np.asarray(np.maximum(np.maximum(low - now, now - high), 0), np.float32)


def _fast_shift(shift: np.ndarray, side: float, settings: CoverageSettings) -> bool:
    """Whether a move of ``shift`` px (x, y) in a frame is fast for a face of ``side`` px."""
    speed = float(np.abs(shift).max())
    return speed >= max(FAST_SPEED, settings.fast_share * side)


def content_shift(
    before: np.ndarray,
    grey: np.ndarray,
    first: np.ndarray,
    found: PixelRect,
    camera: np.ndarray,
) -> np.ndarray | None:
    """How far (dx, dy) the pixels of box ``first`` (x, y, w, h) of frame ``before``
    moved to frame ``grey``: where they match best (least squared difference) in the
    box spanning where the camera took them and where the detection ``found`` in
    ``grey`` says they went, grown by a quarter of the box (and 2 px). None when the
    box is cut by the frame's edge or flat (nothing to match). Where ``found`` reaches
    beyond the frame's edge, that much of ``first`` on that side is left out of the
    match: those pixels left the frame.

    A face moving by itself is found where its pixels went; the detector's boxes on
    still texture jump between frames while the texture stays where the camera puts
    it (a galaxy in a star field: boxes 13 px apart, its pixels not moved).

    >>> before = np.zeros((60, 80), np.uint8); before[20:30, 10:20] = 255
    >>> grey = np.roll(before, 15, axis=1)  # the square moved 15 px to the right
    >>> content_shift(before, grey, np.array([8, 18, 14, 14.0]), (23, 18, 14, 14), np.zeros(2))
    array([15., 0.])
    >>> content_shift(before, before, np.array([8, 18, 14, 14.0]), (23, 18, 14, 14), np.zeros(2))
    array([0., 0.])
    >>> up = np.roll(before, -19, axis=0)  # ... and up, 1 px of it beyond the top edge
    >>> content_shift(before, up, np.array([8, 18, 14, 14.0]), (8, -3, 14, 14), np.zeros(2))
    array([  0., -19.])
    """
    height, width = grey.shape[:2]
    fx, fy, fw, fh = found
    left, top = max(0, -fx), max(0, -fy)
    right, bottom = max(0, fx + fw - width), max(0, fy + fh - height)
    first = np.asarray(first, np.float64)
    inside = first + np.array([left, top, -left - right, -top - bottom], np.float64)
    found_patch = _patch(before, inside)
    if found_patch is None:
        return None
    patch, (x, y, w, h) = found_patch
    moved = _centre(np.array(found, np.float64)) - _centre(first)
    ends = np.array([camera, moved])
    slack = max(2.0, 0.25 * float(max(first[2], first[3])))
    x0 = max(0, math.floor(x + ends[:, 0].min() - slack))
    y0 = max(0, math.floor(y + ends[:, 1].min() - slack))
    x1 = min(width, math.ceil(x + w + ends[:, 0].max() + slack))
    y1 = min(height, math.ceil(y + h + ends[:, 1].max() + slack))
    if x1 - x0 < w or y1 - y0 < h:
        return None
    scores = cv2.matchTemplate(grey[y0:y1, x0:x1], patch, cv2.TM_SQDIFF)
    row, column = np.unravel_index(int(np.argmin(scores)), scores.shape)
    return np.array([column + x0 - x, row + y0 - y], np.float64)


def _patch(
    before: np.ndarray, box: np.ndarray
) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
    """The pixels of ``box`` (x, y, w, h, rounded) in ``before`` and that box; None when it
    is cut by the frame's edge, under 4 px or flat (nothing to match)."""
    height, width = before.shape[:2]
    x, y, w, h = (round(float(v)) for v in box)
    if w < 4 or h < 4 or x < 0 or y < 0 or x + w > width or y + h > height:
        return None
    patch = before[y : y + h, x : x + w]
    if float(patch.std()) < 1.0:
        return None
    return patch, (x, y, w, h)


def pixel_shift(
    before: np.ndarray, grey: np.ndarray, box: np.ndarray, region: PixelRect, least: float = 0.8
) -> np.ndarray | None:
    """How far (dx, dy) the pixels of ``box`` (x, y, w, h) of frame ``before`` moved in
    frame ``grey``, looked for within ``region``: where they correlate best, when that
    is at least ``least`` (normalised, mean removed) and clearly better than where
    they were (a still patch of texture correlates with itself there); None when the
    box is cut by the frame's edge, flat, or not found so.

    >>> rng = np.random.default_rng(0)
    >>> before = np.full((60, 80), 100, np.uint8)
    >>> before[20:30, 10:20] = rng.integers(0, 255, (10, 10))
    >>> grey = np.roll(before, 15, axis=1)  # the patch moved 15 px to the right
    >>> pixel_shift(before, grey, np.array([10, 20, 10, 10.0]), (0, 0, 80, 60))
    array([15., 0.])
    >>> pixel_shift(before, before, np.array([10, 20, 10, 10.0]), (0, 0, 80, 60))
    array([0., 0.])
    """
    height, width = grey.shape[:2]
    found_patch = _patch(before, box)
    if found_patch is None:
        return None
    patch, (x, y, w, h) = found_patch
    x0, y0 = max(0, region[0]), max(0, region[1])
    x1, y1 = min(width, region[0] + region[2]), min(height, region[1] + region[3])
    if x1 - x0 < w or y1 - y0 < h:
        return None
    scores = cv2.matchTemplate(grey[y0:y1, x0:x1], patch, cv2.TM_CCOEFF_NORMED)
    row, column = np.unravel_index(int(np.argmax(scores)), scores.shape)
    best = float(scores[row, column])
    if best < least:
        return None
    stay_row, stay_column = y - y0, x - x0
    stays = 0 <= stay_row < scores.shape[0] and 0 <= stay_column < scores.shape[1]
    if stays and float(scores[stay_row, stay_column]) > best - 0.1:
        return np.zeros(2)
    return np.array([column + x0 - x, row + y0 - y], np.float64)


def _regrow(track: _Track, frame: int, box: np.ndarray) -> None:
    """``track``'s box in ``frame`` replaced by ``box`` — its first box kept first, as
    found, when ``frame`` is its first (``_first_boxes``)."""
    if frame == track.born and track.first is None:
        track.first = track.boxes[frame].copy()
    track.boxes[frame] = box


def grown_to(box: np.ndarray, size: np.ndarray) -> np.ndarray:
    """``box`` (x, y, w, h) grown about its centre to at least ``size`` (w, h).

    >>> grown_to(np.array([10.0, 10, 20, 20]), np.array([30.0, 18])).tolist()
    [5.0, 10.0, 30.0, 20.0]
    """
    larger = np.maximum(box[2:], size)
    return np.array([*(box[:2] - (larger - box[2:]) / 2), *larger])


def _centre(box: np.ndarray) -> np.ndarray:
    """The centre (x, y) of a box (x, y, w, h)."""
    return np.asarray(box[:2] + box[2:] / 2, np.float64)


def _box_rect(box: np.ndarray) -> PixelRect:
    """``box`` (x, y, w, h, floats) as the pixel rectangle that holds it."""
    return _rect_from(box[0], box[1], box[0] + box[2], box[1] + box[3])


def _inside(rect: PixelRect, outer: PixelRect) -> PixelRect | None:
    """The part of ``rect`` inside ``outer`` (None: nothing).

    >>> _inside((5, 5, 10, 10), (0, 0, 12, 8))
    (5, 5, 7, 3)
    """
    x0, y0 = max(rect[0], outer[0]), max(rect[1], outer[1])
    x1 = min(rect[0] + rect[2], outer[0] + outer[2])
    y1 = min(rect[1] + rect[3], outer[1] + outer[3])
    if x1 <= x0 or y1 <= y0:
        return None
    return (x0, y0, x1 - x0, y1 - y0)


def _rect_from(x0: float, y0: float, x1: float, y1: float) -> PixelRect:
    left, top = math.floor(x0), math.floor(y0)
    return (left, top, math.ceil(x1) - left, math.ceil(y1) - top)


NearItem = tuple[PixelRect, int, str | None]  # around a tracked face: region, smallest, view


def absorb(
    near: Sequence[NearItem], moving: Sequence[ScanItem], share: float = 0.7
) -> tuple[list[NearItem], list[ScanItem]]:
    """Motion left to the searches around tracked faces, and the motion left over.

    A moving region lying mostly (``share``) inside a tracked face's search region
    that looks for faces as small as the motion's is searched there, and that
    region grows to cover all of it: a face coming out from behind a tracked face
    (or beside it) is whole in the search, not cut at the region's edge.

    >>> near = [((100, 100, 200, 200), 40, "blazeface")]
    >>> absorb(near, [((150, 150, 200, 100), 40), ((500, 0, 80, 80), 10)])
    ([((100, 100, 250, 200), 40, 'blazeface')], [((500, 0, 80, 80), 10)])
    >>> absorb(near, [((150, 150, 200, 100), 20)])[1]  # it looks for smaller faces
    [((150, 150, 200, 100), 20)]
    """
    grown, left = list(near), []
    for rect, least in moving:
        for number, (around, smallest, view) in enumerate(grown):
            if smallest <= least and _mostly_inside(rect, [around], share):
                x0, y0 = min(rect[0], around[0]), min(rect[1], around[1])
                x1 = max(rect[0] + rect[2], around[0] + around[2])
                y1 = max(rect[1] + rect[3], around[1] + around[3])
                grown[number] = ((x0, y0, x1 - x0, y1 - y0), smallest, view)
                break
        else:
            left.append((rect, least))
    return grown, left


def _mostly_inside(rect: PixelRect, others: list[PixelRect], share: float = 0.7) -> bool:
    """Whether ``share`` of ``rect`` lies inside one of ``others`` (motion a track explains)."""
    x, y, w, h = rect
    for ox, oy, ow, oh in others:
        ix = min(x + w, ox + ow) - max(x, ox)
        iy = min(y + h, oy + oh) - max(y, oy)
        if ix > 0 and iy > 0 and ix * iy >= share * w * h:
            return True
    return False


LEVEL_SPAN = 2.4 * 1.2  # largest / smallest face a level of the scan looks for


def _scan_plan(width: int, height: int, tile: int, min_face: int) -> list[ScanItem]:
    """The whole frame as tiles at every scale of a pyramid (factor 2.4 between levels).

    Each level looks for faces from its ``smallest`` up to ``LEVEL_SPAN`` times
    that (a little past the next level's smallest); its tiles are ``tile`` px at
    the level's own scale (so each costs about the same) and overlap by half the
    largest face of the level on each side, so a face crossing a tile edge is whole in
    some tile.
    """
    items: list[ScanItem] = []
    smallest = float(min_face)
    while smallest <= min(width, height):
        factor = smallest / min_face
        side, overlap = round(tile * factor), math.ceil(smallest * LEVEL_SPAN / 2)
        for y in range(0, height, side):
            for x in range(0, width, side):
                rect = _rect_from(
                    max(0, x - overlap),
                    max(0, y - overlap),
                    min(width, x + side + overlap),
                    min(height, y + side + overlap),
                )
                items.append((rect, round(smallest)))
        smallest *= 2.4
    return items


def _outer_view(
    rect: PixelRect,
    found: Sequence[PixelRect],
    views: dict[PixelRect, str],
    matched: Collection[PixelRect] = (),
) -> PixelRect | None:
    """The box of ``found`` on whose face ``rect``, a Haar cascade's detection, lies:
    one BlazeFace detected confidently (or weakly, confirmed by the cascade:
    ``blazeface+frontal``; or weakly, but ``matched`` to a track at this pass),
    larger (``same_face``); None if none.

    >>> views = {(10, 10, 47, 47): "blazeface", (17, 22, 28, 28): "frontal"}
    >>> _outer_view((17, 22, 28, 28), list(views), views)
    (10, 10, 47, 47)
    >>> views[(10, 10, 47, 47)] = "blazeface?"  # a weak one: the cascade's box stays
    >>> _outer_view((17, 22, 28, 28), list(views), views) is None
    True
    >>> _outer_view((17, 22, 28, 28), list(views), views, [(10, 10, 47, 47)])
    (10, 10, 47, 47)
    """
    if views[rect] not in VIEWS:
        return None
    box = np.array(rect, np.float64)
    return next(
        (
            other
            for other in found
            if (
                views[other] in ("blazeface", "blazeface+frontal")
                or (views[other] == "blazeface?" and other in matched)
            )
            and other[2] > rect[2]
            and same_face(box, np.array(other, np.float64))
        ),
        None,
    )


def around_faces(
    rect: PixelRect, faces: Sequence[np.ndarray], cut: bool = False, middle: bool = False
) -> bool:
    """Whether a new detection ``rect`` is faces already tracked seen larger.

    BlazeFace's coarse levels see two heads side by side, or a head and its
    shoulders, as one large face; the faces inside are blurred already. So a
    detection is not a new face when it holds the centres of two or more
    distinct ``faces`` each under half its size, or — unless it is ``cut`` by
    the frame's edge, where a track may hold only the visible part of a face
    entering — of any face under 1/1.6 of its size that lies within it
    (``_within``) and, with ``middle`` (a detection wholly in view: beyond the
    edge the mirror image doubles a face there off its middle), near its middle
    (``_near_middle``). (Only new detections: one matching a tracked face of its
    own size still refreshes that track. A real face passing in front of a
    tracked one hides it, so that face is soon no longer live, and the back-fill
    covers the frames before the new face's first track.)

    >>> faces = [np.array([100, 100, 40, 40.0]), np.array([160, 100, 40, 40.0])]
    >>> around_faces((60, 40, 200, 200), faces), around_faces((60, 40, 100, 104), faces[:1])
    (True, True)
    >>> around_faces((60, 40, 100, 104), faces[:1], cut=True)  # maybe a face entering
    False
    >>> around_faces((60, 40, 100, 104), faces[:1], middle=True)  # in its lower part
    False
    >>> around_faces((70, 60, 100, 104), faces[:1], middle=True)  # near its middle
    True
    >>> around_faces((118, 60, 120, 120), faces[:1])  # its centre inside, the face not
    False
    >>> around_faces((80, 80, 60, 60), faces[:1])  # the face itself, a little larger
    False
    >>> around_faces((110, 90, 50, 50), faces)  # another face, beside them
    False
    """
    side = max(rect[2], rect[3])
    inside: list[np.ndarray] = []
    for face in faces:
        holds = _holds_centre(rect, face)
        larger_face = side > LARGER_FACE * float(max(face[2], face[3]))
        if holds and larger_face and not any(same_face(face, other) for other in inside):
            inside.append(face)
    larger = [side / float(max(face[2], face[3])) for face in inside]
    if sum(ratio > 2 for ratio in larger) >= 2:
        return True
    # (one face: only one within the detection — its head and shoulders hold it; a
    # 46-px face whose centre lay 7 px inside the edge of a 308-px detection of a
    # tilted profile, a face of its own, kept that face from being tracked: 60 frames
    # sharp, motion-29298-3-stop-go. And only one near the detection's middle: a
    # head-and-shoulders box is centred on the face, within 0.10 of its side over
    # 44 such confident boxes of 120 clips; a 121-px face on a photo held in front
    # of a 341-px face at 1080p lay 0.36, 0.21 and 0.28 of the side off the larger
    # face's detections at three passes, and that face was never tracked: 15
    # frames kept 0.22-0.61, held-out-2965-5.)
    return not cut and any(
        _within(face, rect) and (not middle or _near_middle(face, rect)) for face in inside
    )


def _near_middle(face: np.ndarray, rect: PixelRect) -> bool:
    """Whether the centre of ``face`` (x, y, w, h) lies within ``CONTEXT_CENTRE`` of the
    side of ``rect`` (x, y, w, h) from its centre.

    >>> _near_middle(np.array([100, 100, 40, 40.0]), (70, 60, 100, 104))
    True
    >>> _near_middle(np.array([100, 100, 40, 40.0]), (60, 40, 100, 104))
    False
    """
    return _centre_distance(face, rect) <= CONTEXT_CENTRE * float(max(rect[2], rect[3]))


def waits_a_pass_more(track: _Track, faces: Sequence[np.ndarray]) -> bool:
    """Whether tentative ``track``, not found at a pass, is kept to the pass after
    (``TENTATIVE_PASSES``) rather than given up: found confidently once, not born beside
    a larger face (``beside_face``) and touching none of the live ``faces`` (x, y, w, h).

    A face the detector half-believes is missed at a pass and found again at the next:
    a 70-px face in sunglasses under a shaking camera at 1080p, found at frames 0
    (confidently) and 1, missed at 4, found weakly at 8 and 9 (looks 0.52-0.64), was
    given up at 6 and left sharp 14 frames (motion seed 4362-3); kept, the detection at
    8 is its third (``verify_tries``). A box beside or on a face is a chin, a collar or
    the face's surroundings: found confidently at 28 beside a 308-px face and weakly at
    36, a 113-px box was blurred 36 frames so (held-out-56013-3, 33.2 -> 31.4 dB); a
    216-px box found at frame 0 beside a 288-px face, matched to boxes growing to 904
    px, blurred the whole clip (held-out-39848-1, 48.0 -> 22.6 dB).

    >>> track = _Track(0, 0, 0, np.array([100, 100, 60, 60.0]), strong=True)
    >>> waits_a_pass_more(track, []), waits_a_pass_more(track, [np.array([90, 0, 90, 90.0])])
    (True, False)
    >>> track.strong = False  # found weakly only
    >>> waits_a_pass_more(track, [])
    False
    """
    return (
        track.strong
        and not track.beside
        and not any(touches_grown(track.box, face) for face in faces)
    )


def beside_face(box: np.ndarray, faces: Sequence[np.ndarray]) -> bool:
    """Whether ``box`` (x, y, w, h) is under 0.75 times the size of one of ``faces``,
    touches that face's box grown by a quarter of its size and is not above it (its
    centre lower than the face's top).

    The detector scores parts of the body beside a face (a chin, a collar, the
    chest) as a face now and then, and ``blazeface.beside_other_size`` drops such
    weak detections within one search; a new confident one beside a face already
    tracked starts a *tentative* track (blurred, back-filled, once found again at
    the next pass — a real face is). Before issue 14i such a detection on a
    300-px face's chest, found once, was blurred for 3 s (held while the
    optical flow followed the body). Nothing of a body lies above its head: a
    46-px face coming out above a 165-px face and leaving by the top edge, found
    once, was taken for a part of it and never blurred (issue 14u, 44425-2).

    >>> face = [np.array([100, 100, 80, 80.0])]
    >>> beside_face(np.array([110, 185, 50, 50.0]), face)  # under it, smaller
    True
    >>> beside_face(np.array([110, 185, 70, 70.0]), face)  # nearly its size: another face
    False
    >>> beside_face(np.array([300, 100, 50, 50.0]), face)  # apart
    False
    >>> beside_face(np.array([150, 60, 40, 40.0]), face)  # above it: another face
    False
    """
    side = float(max(box[2], box[3]))
    return any(
        touches_grown(box, face)
        and side < 0.75 * float(max(face[2], face[3]))
        and _centre(box)[1] > face[1]
        for face in faces
    )


def moves_with(velocity: np.ndarray, others: Sequence[np.ndarray]) -> bool:
    """Whether something moving at ``velocity`` (px/frame) moves with one of ``others``
    (their velocities), or no motion tells (no other, or ``velocity`` too slow:
    ``plausible``, each other's velocity taken as a move of it). A part of a body
    moves with its face; a face passing another one does not.

    >>> moves_with(np.array([-7.0, -23]), [np.array([-1.5, 0])])
    False
    >>> moves_with(np.array([-7.0, -23]), [np.array([-8.0, -20])])
    True
    >>> moves_with(np.array([2.0, 1]), [np.array([-1.5, 0])])  # too slow to tell
    True
    >>> moves_with(np.array([-7.0, -23]), [])
    True
    """
    return not others or any(plausible(other, velocity) for other in others)


def on_faces(rect: PixelRect, faces: Sequence[np.ndarray]) -> bool:
    """Whether ``rect`` (x, y, w, h) holds the centre of one of ``faces`` (x, y, w, h)
    or has its own centre inside one of them.

    >>> face = [np.array([100, 100, 40, 40.0])]
    >>> on_faces((60, 60, 150, 150), face), on_faces((110, 110, 10, 10), face)
    (True, True)
    >>> on_faces((0, 0, 50, 50), face)
    False
    """
    centre = _centre(np.array(rect, np.float64))
    return any(
        _holds_centre(rect, face)
        or (face[0] <= centre[0] <= face[0] + face[2] and face[1] <= centre[1] <= face[1] + face[3])
        for face in faces
    )


def motion_grow(side: float) -> float:
    """Pixels a region of motion whose longer side is ``side`` px is grown by on each
    side before it is searched (``_motion``, ``_beside_motion``): a face moving makes
    a region of its own size or smaller at the edges of its motion.

    >>> motion_grow(40.0)
    18.0
    """
    return 0.25 * side + 8


def _emerging_region(host: np.ndarray) -> float:
    """The largest side of a region of motion (``_beside_motion``'s, grown by
    ``motion_grow``) that a face under ``SMALL_BESIDE`` times the size of the face
    ``host`` (x, y, w, h) beside it makes between two frames, moving up to
    ``UNKNOWN_SPEED`` px/frame.

    >>> _emerging_region(np.array([0, 0, 100, 100.0]))
    124.0
    """
    side = SMALL_BESIDE * float(max(host[2], host[3])) + UNKNOWN_SPEED
    return side + 2 * motion_grow(side)


def _small_beside(box: np.ndarray, faces: Sequence[np.ndarray]) -> bool:
    """Whether ``box`` (x, y, w, h) is under ``SMALL_BESIDE`` times the size of every
    one of ``faces`` whose box grown by ``EMERGE_RING`` of its size it touches (and
    touches one).

    >>> face = np.array([100, 100, 120, 120.0])
    >>> _small_beside(np.array([240, 110, 28, 28.0]), [face])
    True
    >>> _small_beside(np.array([110, 230, 80, 80.0]), [face])  # its size: a collar
    False
    >>> _small_beside(np.array([500, 110, 28, 28.0]), [face])  # beside no face
    False
    """
    near = [face for face in faces if touches_grown(box, face, EMERGE_RING)]
    side = float(max(box[2], box[3]))
    return bool(near) and all(side < SMALL_BESIDE * float(max(f[2], f[3])) for f in near)


def touches_grown(box: np.ndarray, face: np.ndarray, grow: float = 0.25) -> bool:
    """Whether ``box`` (x, y, w, h) overlaps ``face`` (x, y, w, h) grown by ``grow`` of
    its size on each side.

    >>> touches_grown(np.array([0, 24, 10, 10.0]), np.array([0, 0, 20, 20.0]))
    True
    >>> touches_grown(np.array([0, 25, 10, 10.0]), np.array([0, 0, 20, 20.0]))  # grown to y 25
    False
    """
    x, y, w, h = (float(v) for v in face)
    x0, y0, x1, y1 = x - grow * w, y - grow * h, x + (1 + grow) * w, y + (1 + grow) * h
    return bool(box[0] < x1 and x0 < box[0] + box[2] and box[1] < y1 and y0 < box[1] + box[3])


def sprawls(mask: np.ndarray, share: float = 0.5, regions: np.ndarray | None = None) -> bool:
    """Whether one connected region of a motion ``mask`` (grown by 2 px; ``regions``:
    its ``_grown_regions`` when already found) spans at least ``share`` of the frame's
    width and of its height: the camera's motion, not a thing moving (a thing the size
    of the frame is no face to look for).

    On a smooth picture panned slowly only its edges change — a retina's rim panned
    1.5 px/frame changed 28 % of the small copy, under the 30 % that has the camera's
    shift measured, yet as one ring over the whole frame: searched as one moving
    region, only for faces over 90 px, and a 40-px face coming out from behind a head
    in it was left sharp in 15 frames (seed ``--emerging 546``-7).

    >>> mask = np.zeros((40, 40), np.uint8); mask[2, 2:38] = 1
    >>> sprawls(mask)  # (a line along the top)
    False
    >>> mask[2:38, 2] = 1
    >>> sprawls(mask)  # (and down the side: one region over the whole frame)
    True
    """
    height, width = mask.shape
    boxes = _grown_regions(mask) if regions is None else regions
    return bool(np.any((boxes[:, 2] >= share * width) & (boxes[:, 3] >= share * height)))


def _grown_regions(mask: np.ndarray) -> np.ndarray:
    """The connected regions of a motion ``mask``, each grown by 2 px (pixels of one
    thing a little apart are one): a row of x, y, width, height, area per region."""
    count, _labels, stats, _centres = cv2.connectedComponentsWithStats(
        cv2.dilate(mask, np.ones((5, 5), np.uint8))
    )
    return np.asarray(stats[1:count])


def _blobs(mask: np.ndarray) -> int:
    """How many separate things changed in a motion ``mask`` (its connected regions, each
    grown by 2 px: pixels of one thing a little apart are one).

    >>> mask = np.zeros((20, 20), np.uint8); mask[2, 2] = mask[2, 5] = mask[15, 15] = 1
    >>> _blobs(mask)
    2
    """
    return len(_grown_regions(mask))


CONTEXT_FACE = 2.0  # a box this many times a face's size, centred on it, is that face
CONTEXT_CENTRE = 0.25  # ... centred: within this share of the box's side of the face's centre


def centred_around(box: np.ndarray, face: np.ndarray) -> bool:
    """Whether ``box`` (x, y, w, h) is ``face`` (x, y, w, h) seen larger: at least
    ``CONTEXT_FACE`` times its size, its centre within ``CONTEXT_CENTRE`` of its side
    of the face's centre.

    BlazeFace's coarse levels find a face together with its head and shoulders (or
    the background around it) as a second, larger face: a 434-px box around a
    171-px face, both found at frame 0 while the face was not yet sure, was tracked
    on its own and blurred ~870 × 670 px around it for 48 frames (blind seed 72931-5).

    >>> face = np.array([256, 477, 171, 178.0])
    >>> centred_around(np.array([117, 381, 434, 434.0]), face)
    True
    >>> centred_around(np.array([300, 381, 434, 434.0]), face)  # the face near its side
    False
    >>> centred_around(np.array([200, 420, 290, 290.0]), face)  # under twice its size
    False
    """
    side, inner = float(max(box[2], box[3])), float(max(face[2], face[3]))
    apart = float(np.hypot(*(_centre(box) - _centre(face))))
    return side >= CONTEXT_FACE * inner and apart <= CONTEXT_CENTRE * side


WITHIN_SLACK = 0.25  # of a face's side: how far it may reach out of a box and be within it


def _within(face: np.ndarray, rect: PixelRect) -> bool:
    """Whether ``face`` (x, y, w, h) lies within ``rect`` (x, y, w, h) grown by
    ``WITHIN_SLACK`` of the face's side.

    >>> _within(np.array([100, 100, 40, 40.0]), (60, 40, 90, 104))
    True
    >>> _within(np.array([100, 100, 40, 40.0]), (115, 40, 90, 104))  # 15 px of 40 out
    False
    """
    slack = WITHIN_SLACK * float(max(face[2], face[3]))
    x, y, w, h = rect
    return bool(
        face[0] >= x - slack
        and face[1] >= y - slack
        and face[0] + face[2] <= x + w + slack
        and face[1] + face[3] <= y + h + slack
    )


def _holds_centre(rect: PixelRect, box: np.ndarray) -> bool:
    """Whether ``rect`` (x, y, w, h) holds the centre of ``box`` (x, y, w, h), edges included."""
    x, y, w, h = rect
    cx, cy = _centre(box)
    return bool(x <= cx <= x + w and y <= cy <= y + h)


def view_pad(view: str | None, settings: CoverageSettings) -> float:
    """Extra pad (share of the box) for a face found by ``view``.

    A box found on a turned copy is mapped back by its centre: less precise,
    padded more. (Padding profile boxes less — they take in the whole side of
    the head — left a face's edge sharp where the first detection was frontal.)

    >>> view_pad("tilted", CoverageSettings()), view_pad("frontal", CoverageSettings())
    (0.1, 0.0)
    >>> view_pad("tilted?", CoverageSettings())  # found weakly
    0.1
    """
    return settings.tilted_pad if view is not None and view.rstrip("?") == "tilted" else 0.0


def is_weak(view: str | None) -> bool:
    """Whether a detection's label marks it weak (``detection label`` + ``?``).

    A weak detection (BlazeFace below its confident score) starts a *tentative*
    track: blurred — from its first detection, and back-filled — only once the
    next detection pass finds the face again, which the lookahead allows. A
    one-off false detection on texture is then never blurred.

    >>> is_weak("blazeface?"), is_weak("blazeface"), is_weak(None)
    (True, False, False)
    """
    return bool(view and view.endswith("?"))


def plausible(moved: np.ndarray, velocity: np.ndarray) -> bool:
    """Whether a face moving at ``velocity`` px per frame can have moved by ``moved``.

    A fast face whose flow suddenly says "still" (or jumps elsewhere) has had
    its points locked onto the background or onto a face it passes; the track
    then coasts at its velocity. A slow face, or a new track (velocity 0), may
    do anything.

    >>> plausible(np.array([18.0, 1]), np.array([19.0, 0]))
    True
    >>> plausible(np.zeros(2), np.array([19.0, 0]))
    False
    >>> plausible(np.array([12.0, 0]), np.zeros(2))
    True

    Across the motion the flow may stray less than along it. A 28-px face found
    moving (17, 6) px/frame had a flow step of (15.6, -3.8): within half its speed
    of it on each axis, it was taken, the velocity turned to (16.5, 2.1), the flow
    lost the face a frame later, and the box coasted above it: 7 frames left sharp
    as it left (seed --emerging 70868-5, drawn blind in session 44).

    >>> plausible(np.array([15.6, -3.8]), np.array([17.0, 6.0]))
    False
    >>> plausible(np.array([15.6, 4.0]), np.array([17.0, 6.0]))
    True
    """
    speed = float(np.abs(velocity).max())
    if speed < 6.0:
        return True
    # Along each axis, half the speed along it (``axis_speeds``: and a quarter of the
    # speed across it): a flow that jumps across the motion is off the face sooner.
    reach = 0.5 * np.array(axis_speeds(velocity)) + 2.0
    return bool((np.abs(moved - velocity) <= reach).all())


def same_face(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two boxes (x, y, w, h) are on one face: centres within half the smaller
    box's side of each other, sizes within a factor of two.

    (A track that lost its face to another one follows it as a duplicate; it is
    retired when the other was just detected and it was not.)

    >>> same_face(np.array([0, 0, 40, 40.0]), np.array([10, 5, 50, 50.0]))
    True
    >>> same_face(np.array([0, 0, 40, 40.0]), np.array([30, 0, 40, 40.0]))
    False
    """
    ca, cb = _centre(a), _centre(b)
    small, large = min(a[2], b[2]), max(a[2], b[2])
    return bool(np.abs(ca - cb).max() < 0.5 * small and large <= 2 * small)


def on_a_known_face(rect: PixelRect, known: Sequence[np.ndarray]) -> bool:
    """Whether detection ``rect`` (x, y, w, h) is ``same_face`` as one of ``known`` boxes.

    >>> on_a_known_face((10, 5, 50, 50), [np.array([0, 0, 40, 40.0])])
    True
    """
    box = np.array(rect, np.float64)
    return any(same_face(box, other) for other in known)


def steady_size(before: np.ndarray, detected: np.ndarray, shrink: float) -> np.ndarray:
    """The detected box (x, y, w, h), not smaller than ``shrink`` times the box before.

    A detector's boxes jitter in size by ~10 % from frame to frame; a box that
    suddenly shrank would uncover the edge of the face. The centre is the
    detection's.

    >>> steady_size(np.array([0, 0, 100, 100.0]), np.array([20, 20, 60, 60.0]), 0.85).tolist()
    [7.5, 7.5, 85.0, 85.0]
    """
    side = np.maximum(detected[2:], shrink * before[2:])
    centre = _centre(detected)
    return np.concatenate([centre - side / 2, side])


WEAK_INSIDE = 0.8  # of a weak detection inside a known face's box: a part of that face


def weak_part(track: _Track, detected: np.ndarray) -> bool:
    """Whether ``detected``, a weak detection matched to ``track`` (a face found
    confidently and measured), is a part of the face: no larger than its box and
    mostly inside it (so their union is at most 1.2x the box). The face is found
    again where its box already is: the box stays, not shrunk or moved onto the part.

    (BlazeFace's weak box on a known 216-px face lay on its upper left, 46 and 62 px
    off its centre, 177 px wide: taken as the face, it shrank the face's box to 186
    px and set it moving up; the face's right and lower parts were left sharp for 5
    frames, kept 0.17-0.28, seed 53576-6. Grown to hold the part instead, boxes
    cost 0.3-5 dB on a third of 321 clips.)

    >>> known = _Track(0, 0, 0, np.array([100, 100, 200, 200.0]), view="blazeface?")
    >>> known.strong, known.measured = True, True
    >>> weak_part(known, np.array([110, 90, 160, 160.0]))
    True
    >>> weak_part(known, np.array([200, 200, 160, 160.0]))
    False
    >>> weak_part(known, np.array([95, 95, 210, 210.0]))  # around it: the face itself
    False
    """
    if not (is_weak(track.view) and track.strong and track.measured):
        return False
    # (a part is not larger than the face: a 25-px weak box around a bobbing 23-px
    # face, held, left its box 12 px above the face two frames later, kept 0.15,
    # motion 71374-0)
    if (detected[2:] > track.box[2:]).any():
        return False
    return _mostly_inside(_box_rect(detected), [_box_rect(track.box)], WEAK_INSIDE)


def edge_sides(box: np.ndarray, width: int, height: int) -> np.ndarray:
    """Which sides of the frame (left, top, right, bottom) cut the box (x, y, w, h):
    it reaches them or beyond.

    >>> edge_sides(np.array([-30, 100, 80, 80.0]), 640, 480).tolist()
    [True, False, False, False]
    >>> edge_sides(np.array([100, 100, 80, 80.0]), 640, 480).tolist()
    [False, False, False, False]
    """
    x, y, w, h = box
    return np.array([x <= 0, y <= 0, x + w >= width, y + h >= height])


KNOWN_WHOLE = 4  # confident detections wholly in view: a face cut by the edge grows not along it
KNOWN_BEYOND = 1 / 3  # ... along it, while less than this share of its box is beyond the edge
EDGE_FULL = 0.25  # of a box's side beyond the frame's edge: from here it grows in full


def edge_shares(
    box: np.ndarray, width: int, height: int, full: float = EDGE_FULL
) -> tuple[float, ...]:
    """How much each side of the frame (left, top, right, bottom) cuts the box (x, y,
    w, h), from 0 (not at all) to 1 (``full`` of its side beyond that edge or more); a
    box just reaching an edge counts as a little beyond it.

    >>> edge_shares(np.array([-10, 100, 80, 80.0]), 640, 480)
    (0.5, 0.0, 0.0, 0.0)
    >>> edge_shares(np.array([600, 0, 80, 80.0]), 640, 480)[1:3]
    (0.05, 1.0)
    """
    x, y, w, h = (float(v) for v in box)
    beyond = (-x, -y, x + w - width, y + h - height)  # px (negative: inside)
    sides = (w, h, w, h)
    return tuple(
        min(1.0, max(px, 1.0) / side / full) if px >= 0 else 0.0
        for px, side in zip(beyond, sides, strict=True)
    )


# A detection cut by the frame's edge this many times its track's box, of a face not
# coming in by that edge (``leaving_size``), is the face seen with its mirror image.
EDGE_GROWTH = 1.2
EDGE_MIRROR_SHARE = 0.25  # of a cut detection's side beyond the edge: more is its mirror too
ENTERING_SPEED = 1.0  # px/frame inwards from the edge that cuts it: a face coming in


def leaving_size(
    box: np.ndarray, detected: np.ndarray, velocity: np.ndarray, width: int, height: int
) -> np.ndarray:
    """A detection ``detected`` (x, y, w, h) cut by the frame's edge, as the face its
    track's ``box`` follows can be: over ``EDGE_GROWTH`` times that box's size while
    the face is not coming in by that edge (moving inwards from it at
    ``ENTERING_SPEED``), it is the detector's view of what lies at the edge with its
    mirror image beyond (the search mirrors the frame), not the face grown — the
    face's part in view only shrinks as it leaves. Then only where it lies along
    the edge is taken: the box's own size and place across the edge, and along it
    the place inside the detection nearest the box's.

    A 281 × 364 px face leaving by the top edge, followed at 308-385 px, was found
    as a 476-px box reaching 304 px beyond the edge; the box took that size and,
    grown back over the look-ahead, blurred ~870 × 570 px for 20 frames (blind seed
    72931-5). A face coming in is found larger as more of it shows (``_grow_back``).

    >>> box = np.array([461.0, -155, 308, 319])
    >>> leaving_size(box, np.array([354.0, -304, 476, 482]), np.array([-10.8, -9.7]),
    ...              1920, 1080).tolist()  # leaving by the top, found 1.5x larger
    [461.0, -155.0, 308.0, 319.0]
    >>> leaving_size(box, np.array([160.0, -304, 476, 482]), np.array([-10.8, -9.7]),
    ...              1920, 1080).tolist()  # the face inside the detection: moved into it
    [328.0, -155.0, 308.0, 319.0]
    >>> leaving_size(box, np.array([354.0, -304, 476, 482]), np.array([0.0, 9.0]),
    ...              1920, 1080).tolist()  # coming in: as found
    [354.0, -304.0, 476.0, 482.0]
    >>> leaving_size(np.array([8.0, 250, 41, 41]), np.array([-8.0, 239, 65, 65]),
    ...              np.array([0.5, -1.1]), 640, 480).tolist()  # mostly in view: grown
    [-8.0, 239.0, 65.0, 65.0]
    """
    sides = edge_sides(detected, width, height)
    if float(max(detected[2], detected[3])) <= EDGE_GROWTH * float(max(box[2], box[3])):
        return detected
    # (a detection mostly in view is the face seen: one walking up to the camera
    # along the edge grows; motion seed 90698-0, held at 41 px while it grew to 63)
    if max(edge_shares(detected, width, height, 1.0)) < EDGE_MIRROR_SHARE:
        return detected
    inwards = np.array([velocity[0], velocity[1], -velocity[0], -velocity[1]])
    if (inwards[sides] >= ENTERING_SPEED).any():
        return detected
    kept = box.copy()
    across_x, across_y = bool(sides[0] or sides[2]), bool(sides[1] or sides[3])
    # Along the edge, the face lies somewhere inside the detection: of those places,
    # the nearest to the box (a 104-px weak box around a 43-px face leaving by the
    # top, centred 24 px to its left, moved the box off it: held-out-97930-6 kept
    # 0.71 at frame 36 without).
    x, y, w, h = detected
    if not across_x:
        kept[0] = float(np.clip(box[0], x, x + w - box[2]))
    if not across_y:
        kept[1] = float(np.clip(box[1], y, y + h - box[3]))
    # A box gone out of the frame holds nothing of a face the detector sees in view:
    # it ran ahead of the face (its speed measured off it), and the detection is
    # taken. (A 212-px face leaving by the top right corner at (-4.5, -19.5)
    # px/frame, its speed measured at (15, -29) after a detection matched off it,
    # coasted out of the frame and was kept there by a detection on the face:
    # held-out-501-3 kept 0.33-0.78 in 6 frames. Taking the detection wherever the
    # box holds under half of what it holds in view cost 7-15 dB on three clips
    # whose boxes were right: a face leaving by a corner is mostly beyond it.)
    if out_of_view(kept, width, height):
        return detected
    return kept


def reflected_back(
    detected: np.ndarray, box: np.ndarray, width: int, height: int, swing: float = 0.0
) -> np.ndarray:
    """A detection (x, y, w, h) mostly beyond the frame's edge, reflected back across
    it when it shows under half of what the track's ``box`` (followed to the
    detection's frame) shows in view across that edge, less by more than ``swing`` px
    (how far the face may have moved by itself since it was last found), and its
    reflection lies more on that box than it does itself.

    The search mirrors the frame beyond its edge, so a face cut by the edge is seen
    whole a second time, reflected: a box mostly beyond the edge is that face's
    reflection or the face leaving. The detector drops a reflection when it also
    finds the face (``mirror_images``); found alone, it moved the box of a still
    face at the right edge (57 x 69 px in view) 47 px outwards, onto 17 px of the
    face, which was left sharp in 12 frames (held-out-47508-4). The reflection holds the detection's
    part in view too, so taking it never uncovers what the detection covered. (A
    face walking away at the edge, its box followed a little inside it, was found
    with 46 of its box's 63 px in view: taking the reflection there, which lay more
    on the box, moved its track inwards and cost 7 dB, motion-71531-4. A face under a
    bobbing camera, followed at 12 px/frame, was found 4 frames later with 49 of its
    box's 108 px in view: it had swung back towards the edge, and the reflection
    cost 5.4 dB, motion-44517-0.)

    >>> box = np.array([576.0, 165, 67, 67])
    >>> reflected_back(np.array([623.0, 160, 75, 75]), box, 640, 480).tolist()
    [582.0, 160.0, 75.0, 75.0]
    >>> reflected_back(np.array([623.0, 160, 75, 75]), box + [40, 0, 0, 0], 640, 480).tolist()
    [623.0, 160.0, 75.0, 75.0]
    >>> reflected_back(np.array([594.0, 202, 99, 99]), np.array([577.0, 173, 106, 107]),
    ...                640, 480).tolist()  # 46 of the box's 63 px in view: as found
    [594.0, 202.0, 99.0, 99.0]
    >>> reflected_back(np.array([-90.0, 214, 139, 144]), np.array([-40.0, 210, 148, 148]),
    ...                640, 480, swing=97.0).tolist()  # 49 of 108: a face that swung back
    [-90.0, 214.0, 139.0, 144.0]
    """
    x, y, w, h = (float(v) for v in detected)
    bx, by, bw, bh = (float(v) for v in box)
    shown_x = min(width, bx + bw) - max(0.0, bx)  # the box's part in view
    shown_y = min(height, by + bh) - max(0.0, by)
    # (what the detection may show: under half its own side and of what the box shows)
    least_x = min(w / 2, shown_x / 2, shown_x - swing)
    least_y = min(h / 2, shown_y / 2, shown_y - swing)
    # by side of the frame (left, top, right, bottom): its part in view across that
    # side, and what it may show there
    shows = (x + w, least_x), (y + h, least_y), (width - x, least_x), (height - y, least_y)
    best, most = detected, _overlap_area(detected, box)
    for side, reflection in reflections(detected, width, height):
        in_view, least = shows[side]
        if in_view < least and (area := _overlap_area(reflection, box)) > most:
            best, most = reflection, area
    return best


def reflections(box: np.ndarray, width: int, height: int) -> list[tuple[int, np.ndarray]]:
    """Each side of the frame (0 left, 1 top, 2 right, 3 bottom) that ``box`` (x, y,
    w, h) reaches beyond, with the box reflected across it (in the order left, right,
    top, bottom).

    >>> [(side, r.tolist()) for side, r in reflections(np.array([-10.0, 5, 30, 20]), 100, 50)]
    [(0, [-20.0, 5.0, 30.0, 20.0])]
    """
    x, y, w, h = (float(v) for v in box)
    found = []
    if x < 0:
        found.append((0, np.array([-x - w, y, w, h])))
    if x + w > width:
        found.append((2, np.array([2 * width - x - w, y, w, h])))
    if y < 0:
        found.append((1, np.array([x, -y - h, w, h])))
    if y + h > height:
        found.append((3, np.array([x, 2 * height - y - h, w, h])))
    return found


def _overlap_area(a: np.ndarray, b: np.ndarray) -> float:
    """The area two boxes (x, y, w, h) share."""
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return float(max(0.0, w) * max(0.0, h))


def out_of_view(box: np.ndarray, width: int, height: int) -> bool:
    """Whether ``box`` (x, y, w, h) has nothing inside a ``width`` x ``height`` frame
    (one only touching its edge has nothing either).

    >>> out_of_view(np.array([-10.0, 20, 30, 40]), 100, 50)
    False
    >>> out_of_view(np.array([100.0, 20, 30, 40]), 100, 50)  # touching the right edge
    True
    """
    x, y, w, h = (float(v) for v in box)
    return x >= width or y >= height or x + w <= 0 or y + h <= 0


def edge_steady(before: np.ndarray, detected: np.ndarray, width: int, height: int) -> np.ndarray:
    """The box (x, y, w, h) of a face whose detection ``detected`` is cut by the frame's edge.

    A detector sees only the visible part of a face leaving (or entering) the
    frame: its box shrinks as less of the face shows, and a box that shrinks
    uncovers the rest of the face. So the box keeps the face's size known before
    (``before``'s, when larger: it never shrinks while cut), centred on the
    detection along the edge, and across it anchored to the detection's inner side
    (the part of the face in view), reaching beyond the edge.

    >>> edge_steady(np.array([1700, 300, 250, 300.0]), np.array([1790, 340, 130, 200.0]),
    ...             1920, 1080).tolist()
    [1790.0, 290.0, 250.0, 300.0]
    """
    side = np.maximum(detected[2:], before[2:])
    centre = _centre(detected)
    corner = centre - side / 2
    cut_left, cut_top, cut_right, cut_bottom = edge_sides(detected, width, height)
    for axis, low, high in ((0, cut_left, cut_right), (1, cut_top, cut_bottom)):
        if high and not low:  # leaving (or entering) past the far side: the near side holds
            corner[axis] = detected[axis]
        elif low and not high:
            corner[axis] = detected[axis] + detected[axis + 2] - side[axis]
    return np.concatenate([corner, side])


def inner_held(
    followed: np.ndarray,
    box: np.ndarray,
    then: np.ndarray,
    velocity: np.ndarray,
    frames: int,
    width: int,
    height: int,
) -> np.ndarray:
    """The box (x, y, w, h) of a face cut by the frame's edge, from its detection's
    ``box`` (``edge_steady``), when that box's inner side (the side facing into the
    frame) jumped towards the edge: across a cut edge, the track's box ``followed``
    to this frame holds where the face is when the inner side moved, since ``then``
    (the box at the last detection, ``frames`` ago), at a speed a face moving at
    ``velocity`` cannot have (``plausible``).

    A detector sees a face cut by the edge with its mirror image beyond (the search
    mirrors the frame) and may place it past the face's own part in view: a 224 ×
    353 px face leaving by the right edge at 8 px/frame was found with its inner
    side 154 px past the face's, was measured at 42 px/frame from that, and its
    rectangle ran ahead of it: kept 0.14-0.70 in 3 frames (blind held-out-30322-3,
    session 56). A face moving that way faster than its velocity said is followed
    on by its next detections; a box held back blurs background, not a face.
    Only a face moving towards that edge is held: one whose detection went the other
    way has turned, or the camera has (a bobbing camera's face found 6.5 px/frame
    back towards the left edge while followed at 7.1 away from it was right; held,
    motion-44517-0 lost 7.5 dB).

    >>> then = np.array([1677.0, 301, 308, 316])
    >>> followed = np.array([1701.0, 251, 308, 316])  # followed at (6.3, -13.1)
    >>> inner_held(followed, np.array([1842.0, 233, 312, 317]), then,
    ...            np.array([6.3, -13.1]), 4, 1920, 1080).tolist()  # 41 px/frame: held
    [1701.0, 233.0, 308.0, 317.0]
    >>> inner_held(followed, np.array([1712.0, 233, 312, 317]), then,
    ...            np.array([6.3, -13.1]), 4, 1920, 1080).tolist()  # 9 px/frame: taken
    [1712.0, 233.0, 312.0, 317.0]
    >>> inner_held(followed, np.array([1842.0, 233, 312, 317]), then,
    ...            np.array([-6.3, -13.1]), 4, 1920, 1080).tolist()  # moving away: taken
    [1842.0, 233.0, 312.0, 317.0]
    """
    held = box.copy()
    sides = edge_sides(box, width, height)
    cut_low, cut_high = sides[:2], sides[2:]
    for axis in (0, 1):
        if cut_low[axis] == cut_high[axis]:
            continue
        if cut_high[axis]:  # the inner side is the box's low side
            inner, inner_then, outward = box[axis], then[axis], box[axis] > followed[axis]
            leaving = velocity[axis] > 0
        else:
            inner = box[axis] + box[axis + 2]
            inner_then = then[axis] + then[axis + 2]
            outward = inner < followed[axis] + followed[axis + 2]
            leaving = velocity[axis] < 0
        moved = np.array(velocity, np.float64)
        moved[axis] = (inner - inner_then) / frames
        if outward and leaving and not plausible(moved, velocity):
            held[axis], held[axis + 2] = followed[axis], followed[axis + 2]
    return held


def _cost(item: ScanItem, min_face: int) -> int:
    """Pixels a search of ``item`` costs, counted at the finest scale."""
    (_x, _y, w, h), least = item
    return round(w * h * (min_face / least) ** 2)


UNKNOWN_SPEED = 32.0  # px/frame: how far a face whose speed is unknown may have moved
FAST_SPEED = 4.0  # px/frame: the least speed of a face blurred at a follow-up look
# Of a box's side: a weak detection's pixels moved at least this far from where the
# camera put them, and within it of where the detection found again says (_weak_again).
MOVED_ITSELF = 0.25
EMERGE_RING = 1.0  # of a larger face's side: how far around its box motion is looked at
# ... and below it, where the body that may hide a smaller face reaches (a 27-px face
# came out from behind a body 36 px below a 70-px face and left by the bottom edge at
# 28 px/frame, beyond the ring all along: emerging seed 99448-3, 5 frames sharp)
EMERGE_BELOW = 3.0
# Regions of motion beside larger faces a look searches (more are searched in turns:
# ``_look_beside``; until session 70, more were taken for a pan or moving texture and
# none searched). 4 until session 41: a 130-px head moving over brick uncovers and
# covers mortar lines in 5-6 regions around it, and a 27-px face coming out below it
# was never looked for (seed --emerging 880-3, 7 frames sharp); ~1.5 ms per frame more.
EMERGE_REGIONS = 8
# A weak find of the emerge look well under the size of the face beside it is a face
# when a second look at it scores this much (BlazeFace's own bar for a confident
# detection). A 32-px face coming up from behind a 212-px head at 8 px/frame was found
# there only weakly, at 28 (looked at 0.48) and 30 (0.71), and left sharp in frames
# 28-32 (motion-94316-0). At the fast bar (0.5) weak finds looked at 0.51-0.64 were
# taken too: parts of a 76-px face coming out (held-out-69011-7: 0 -> 2 frames partly
# sharp) and boxes costing 0.4-2.5 dB elsewhere; those it mended scored 0.66-0.71
# (session 60).
EMERGED_LOOK = 0.65
# A face the emerge look finds confidently under this many times the size of the face
# beside it needs only ``fast_verify`` at a second look (``_small_beside``).
SMALL_BESIDE = 0.4
EDGE_FACES = 3.7  # largest / smallest face searched in motion at the frame's edge
LOOK_FACES = 2.0  # largest / smallest face searched by the edge look after the first frame
NEW_MOTION = 0.2  # share of a moving region at the edge that did not move at the last pass


def match_distance(box: np.ndarray, rect: PixelRect, reach: float = 0.0) -> float | None:
    """The distance between the centres of a track's ``box`` (x, y, w, h) and a
    detection ``rect`` (x, y, w, h) when the detection may be that face (sizes within
    2.5x, centres within 0.75 of the larger side plus ``reach``); else None.

    >>> match_distance(np.array([0, 0, 40, 40.0]), (20, 0, 40, 40))
    20.0
    >>> match_distance(np.array([0, 0, 40, 40.0]), (0, 0, 120, 120)) is None  # another size
    True
    """
    _x, _y, w, h = box
    _rx, _ry, rw, rh = rect
    distance = _centre_distance(box, rect)
    # A face of another size nearby is another face (one passing in front).
    similar = max(w, rw) <= 2.5 * min(w, rw)
    near = distance < 0.75 * max(w, h, rw, rh) + reach
    return distance if similar and near else None


def _follow_reach(side: float) -> float:
    """How far (px) around a young face of ``side`` its follow-up looks, one frame later:
    as far as a face moves in a frame (at most its size), plus a quarter of its size.

    >>> _follow_reach(20.0), _follow_reach(82.0)
    (25.0, 52.5)
    """
    return min(side, UNKNOWN_SPEED) + 0.25 * side


def _centre_distance(box: np.ndarray, rect: PixelRect) -> float:
    """Distance (px) between the centres of ``box`` (x, y, w, h) and ``rect`` (x, y, w, h)."""
    x, y, w, h = box
    rx, ry, rw, rh = rect
    return float(np.hypot(x + w / 2 - (rx + rw / 2), y + h / 2 - (ry + rh / 2)))


def _best_match(box: np.ndarray, found: list[PixelRect], reach: float = 0.0) -> PixelRect | None:
    best, best_distance = None, math.inf
    for rect in found:
        distance = match_distance(box, rect, reach)
        if distance is not None and distance < best_distance:
            best, best_distance = rect, distance
    return best


def _features(grey: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Points to follow inside ``box``: corners, or a grid where there are few."""
    height, width = grey.shape
    x, y, w, h = (round(float(v)) for v in box)
    x0, y0, x1, y1 = max(0, x), max(0, y), min(width, x + w), min(height, y + h)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return np.empty((0, 1, 2), np.float32)
    corners = cv2.goodFeaturesToTrack(
        grey[y0:y1, x0:x1], maxCorners=24, qualityLevel=0.02, minDistance=max(2, w // 10)
    )
    if corners is None or len(corners) < 6:
        gx, gy = np.meshgrid(
            np.linspace(0.2, 0.8, 4) * (x1 - x0), np.linspace(0.2, 0.8, 4) * (y1 - y0)
        )
        corners = np.stack([gx.ravel(), gy.ravel()], axis=1)[:, None, :]
    shifted = np.asarray(corners, np.float32) + np.array([x0, y0], np.float32)
    return np.asarray(shifted.reshape(-1, 1, 2), np.float32)


class Pyramid:
    """A grey frame and its halved copies (2×2 means), each made when first asked for.

    Optical flow of a large face runs on a level where the face is still at
    least ``FLOW_FACE`` px across: the same points, a fraction of the pixels.
    Each frame's levels are made once and serve as "before" for the next frame.
    """

    def __init__(self, grey: np.ndarray) -> None:
        self._levels = [grey]

    def level(self, number: int) -> np.ndarray:
        while len(self._levels) <= number:
            above = self._levels[-1]
            size = (max(1, above.shape[1] // 2), max(1, above.shape[0] // 2))
            # INTER_AREA halving: a quarter of pyrDown's time (0.14 vs 0.56 ms at 1080p)
            self._levels.append(np.asarray(cv2.resize(above, size, interpolation=cv2.INTER_AREA)))
        return self._levels[number]


JOLT_STEPS = 8  # frames: a camera's usual step is the median of its steps over these
JOLT_WIDTH = 400  # px: the camera's steps are found on copies halved to at most this wide
JOLT_RESPONSE = 0.2  # a camera's step is known where its phase correlation peaks this high


def step_scale(width: int) -> int:
    """The factor (a power of 2) a frame ``width`` px wide is shrunk by to find the
    camera's step (``FaceCoverage._camera_step``): at most ``JOLT_WIDTH`` px wide.

    >>> [step_scale(w) for w in (320, 640, 1920, 3840)]
    [1, 2, 8, 16]
    """
    scale = 1
    while width // scale > JOLT_WIDTH:
        scale *= 2
    return scale


FLOW_FACE = 64  # px: optical flow runs on the pyramid level where a face is still this wide


def flow_level(side: float, deepest: int = 3) -> int:
    """The pyramid level for following a face ``side`` px across (0: full size).

    >>> [flow_level(s) for s in (20, 100, 128, 300, 2000)]
    [0, 0, 1, 2, 3]
    """
    if side < 2 * FLOW_FACE:
        return 0
    return min(deepest, int(math.log2(side / FLOW_FACE)))


def median_rows(values: np.ndarray) -> np.ndarray:
    """``np.median(values, axis=0)`` of a (K, D) float32 array, bit for bit, by sorting.

    The optical flow takes the median displacement of a track's points every frame,
    for every track: ``np.median`` spends ~100 µs a call in its generic machinery
    (partition, NaN check, ``mean`` of the middle pair) on arrays of a few dozen
    rows, sorting ~15 µs. The middle row for an odd K; for an even K the two middle
    rows added and halved in float32, as ``np.median`` does. Anything not finite
    goes to ``np.median`` itself (its NaN rule).

    >>> median_rows(np.array([[3, 1], [1, 2], [2, 5]], np.float32)).tolist()
    [2.0, 2.0]
    >>> median_rows(np.array([[0, 1], [1, 4]], np.float32)).tolist()
    [0.5, 2.5]
    """
    count = len(values)
    if count == 0 or not np.isfinite(values).all():
        return np.asarray(np.median(values, axis=0))
    ordered = np.sort(values, axis=0)
    middle = count // 2
    if count % 2:
        return np.asarray(ordered[middle])
    return np.asarray((ordered[middle - 1] + ordered[middle]) / values.dtype.type(2))


def _crossing(
    track: _Track, boxes: list[tuple[_Track, np.ndarray]]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The boxes (x, y, w, h) and velocities of the smaller faces found confidently
    that move apart from ``track`` (``moves_with``, either way): its points that move
    with one of them near it tell nothing of its own motion — a face passing in front
    carries them along (``_carried``).

    A 67-px face crossing a 148-px one at (8, 6) px/frame took the larger one's flow
    with it: its box, moving (-4, 5) px/frame as it left by the bottom edge, turned
    to follow the smaller face and left it sharp for 12 frames (blind seed 25983-6).
    """
    if not _settled(track):
        return []
    side = float(max(track.box[2], track.box[3]))
    return [
        (box, other.velocity)
        for other, box in boxes
        if other is not track
        and other.strong
        and _settled(other)
        and float(max(box[2], box[3])) < side
        and not (
            moves_with(track.velocity, [other.velocity])
            and moves_with(other.velocity, [track.velocity])
        )
    ]


def _settled(track: _Track) -> bool:
    """Whether ``track``'s velocity is known: followed 8 frames (0.6⁸ ≈ 2 % left of the
    start) or measured between two detections. (Judged by a new track's velocity of 0, a
    122-px box on a face's lower half moved apart from the face's own 94-px box: its points
    were all "carried", it stayed where it was found and took a detection 400 px away,
    motion-53485-0 41.0 → 29.1 dB.)"""
    return track.steps >= 8 or track.measured


def _flow(
    before: Pyramid,
    now: Pyramid,
    track: _Track,
    crossing: Sequence[tuple[np.ndarray, np.ndarray]] = (),
) -> np.ndarray | None:
    """Median displacement of the track's points from ``before`` to ``now``, or None;
    the points ``_carried`` by a ``crossing`` face (box, velocity) are followed but
    not counted."""
    points = track.points
    if points is None or len(points) < 3:
        return None
    x, y, w, h = track.box
    level = flow_level(min(w, h))
    scale = float(1 << level)
    old, new = before.level(level), now.level(level)
    height, width = new.shape
    reach = (max(w, h) + float(np.abs(track.velocity).max()) * 2 + 32) / scale
    x, y, w, h = x / scale, y / scale, w / scale, h / scale
    x0, y0 = max(0, int(x - reach)), max(0, int(y - reach))
    x1, y1 = min(width, int(x + w + reach)), min(height, int(y + h + reach))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    offset = np.array([x0, y0], np.float32)
    start = np.asarray(points / scale - offset, np.float32)
    moved, status, _error = cv2.calcOpticalFlowPyrLK(  # type: ignore[call-overload]
        old[y0:y1, x0:x1],
        new[y0:y1, x0:x1],
        start,
        None,
        winSize=(15, 15),
        maxLevel=3,
    )
    if moved is None:
        return None
    ok = status.ravel() == 1
    if ok.sum() < 3:
        track.points = None
        return None
    steps = (moved - start).reshape(-1, 2) * scale
    used = ok & ~_carried(points.reshape(-1, 2), steps, track.velocity, crossing)
    track.points = ((moved[ok] + offset) * scale).reshape(-1, 1, 2).astype(np.float32)
    if used.sum() < 3:
        return None
    return np.asarray(median_rows(steps[used]), np.float64)


BACK_JUMP = 4.0  # px/frame: a change of velocity from a frame to the next ends ``follow_back``
BACK_JUMP_SHARE = 0.08  # ... or this share of the face's side, if more
BACK_APART = 2.0  # px/frame: two velocities this far apart tell which face the flow follows
BACK_MATCH = 1.5  # px/frame (or a fifth of the other's speed): the flow moves as another face


def _follows(velocity: np.ndarray, other: np.ndarray, own: np.ndarray) -> bool:
    """Whether the flow's ``velocity`` going back from a new face is another face's
    (moving at ``other``) rather than the face's ``own``: within ``BACK_MATCH`` px/frame
    (or a fifth of its speed) of the other's and nearer it than the own, the two more
    than ``BACK_APART`` apart.

    >>> _follows(np.array([0.5, -4.0]), np.array([0.2, -4.3]), np.array([-5.0, 6.5]))
    True
    >>> _follows(np.array([-2.2, -4.2]), np.array([0.2, -4.3]), np.array([-5.0, 6.5]))
    False
    >>> _follows(np.array([7.0, 0.0]), np.array([7.0, 0.5]), np.array([7.5, 1.0]))  # alike
    False
    """
    near = float(np.hypot(*(velocity - other)))
    return (
        near < max(BACK_MATCH, 0.2 * float(np.hypot(*other)))
        and near < float(np.hypot(*(velocity - own)))
        and float(np.hypot(*(other - own))) > BACK_APART
    )


def follow_back(
    greys: Sequence[np.ndarray],
    box: np.ndarray,
    own: np.ndarray | None = None,
    others: Sequence[np.ndarray] = (),
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Where the pixels of ``box`` (x, y, w, h) in ``greys[0]`` — a face's first
    detection — were in each of the frames before it, ``greys[1:]`` (going back in
    time): the box moved by the optical flow's median step frame by frame (``_flow``),
    and its velocity then (px/frame, forward in time), until the flow loses them (the
    face came in by an edge, from behind something).

    The back-fill moves a new face's box back along the velocity measured *after*
    its first detection (``_early_velocity``): a face that moved otherwise before
    it was found is missed. A 49-px face coming down at 27 px/frame and then
    stopping, found at frame 8 while it stood, was back-filled standing and left
    sharp for 5 frames (motion-63181-4-stop-go); a 33-px face coming in by the
    right edge at 20 px/frame, found once it slowed, for 5 frames (motion-3587-7).

    Where the pixels followed are not the face's, the flow is given up:

    - where its velocity jumps by more than ``BACK_JUMP`` px/frame (or
      ``BACK_JUMP_SHARE`` of the box's side) from one frame to the next: a face
      slows and turns over frames (those stop-go faces by at most 3 px/frame a
      frame). A face coming out from behind another was followed back on the
      other's body, moving 18 px/frame otherwise from one frame to the next
      (held-out-43040-0: 38.2 → 34.0 dB without this);
    - where it moves as one of the ``others`` (the velocities of the faces tracked
      then) and not as the face's ``own`` (``_follows``): a face coming out from
      behind a larger one was followed back onto the other's body, turning by
      4.7-5.9 px/frame a frame, and blurred there 10 frames (emerging-41242-3: 65.5
      → 39.6 dB without either rule, 50.6 with this one alone); a weak 224-px box
      found at a clip's last frame around a 94-px face was followed back on that
      face (31.7 → 29.6 dB, emerging-61913-3);
    - in all, when they stood still (within ``STILL_MOVE`` of the box's side): that
      is what a false detection on scenery gives, the flow following the scenery (a
      55-px box on tissue, blurred 30 frames more where it was found:
      held-out-43040-3, 39.1 → 36.3 dB). A face standing unseen for a second, then
      found as it moved off, is missed as before.

    >>> rng = np.random.default_rng(1)
    >>> scene = cv2.GaussianBlur(rng.integers(0, 255, (120, 200)).astype(np.uint8), (5, 5), 0)
    >>> greys = [np.roll(scene, -6 * i, axis=1) for i in range(4)]  # it moved right
    >>> [b.round().tolist()[:2] for b, _v in follow_back(greys, np.array([90, 40, 30, 30.0]))]
    [[84.0, 40.0], [78.0, 40.0], [72.0, 40.0]]
    >>> follow_back(greys[:1] * 4, np.array([90, 40, 30, 30.0]))  # it stood still
    []
    """
    track = _Track(-1, 0, 0, np.asarray(box, np.float64).copy())
    track.points = _features(greys[0], track.box)
    jump = max(BACK_JUMP, BACK_JUMP_SHARE * float(max(box[2], box[3])))
    followed: list[tuple[np.ndarray, np.ndarray]] = []
    before = Pyramid(greys[0])
    for grey in greys[1:]:
        now = Pyramid(grey)
        step = _flow(before, now, track)
        if step is None:
            break
        velocity = -np.asarray(step, np.float64)
        if followed and float(np.abs(velocity - followed[-1][1]).max()) > jump:
            break  # (another thing's pixels: see above)
        if own is not None and any(_follows(velocity, other, own) for other in others):
            break  # (another face's pixels: see above)
        track.box = track.box + np.array([step[0], step[1], 0.0, 0.0])
        track.velocity = velocity
        followed.append((track.box.copy(), velocity))
        if track.points is None or len(track.points) < 6:
            track.points = _features(grey, track.box)
        before = now
    side, centre = float(max(box[2], box[3])), _centre(np.asarray(box, np.float64))
    if all(float(np.abs(_centre(b) - centre).max()) < STILL_MOVE * side for b, _v in followed):
        return []  # (stood still: see above)
    return followed


def _carried(
    points: np.ndarray,
    steps: np.ndarray,
    velocity: np.ndarray,
    crossing: Sequence[tuple[np.ndarray, np.ndarray]],
) -> np.ndarray:
    """Which (N, 2) ``points`` (x, y), moved by ``steps``, a ``crossing`` face (box
    x, y, w, h; velocity) carries: within half its side of its box, and stepping
    nearer its velocity than ``velocity``.

    >>> box, along = np.array([10, 10, 20, 20.0]), np.array([8.0, 6])
    >>> points = np.array([[15.0, 15], [15, 15], [80, 80]])
    >>> steps = np.array([[7.0, 6], [-4, 5], [7, 6]])
    >>> _carried(points, steps, np.array([-4.0, 5]), [(box, along)]).tolist()
    [True, False, False]
    """
    carried = np.zeros(len(points), bool)
    for (x, y, w, h), along in crossing:
        margin = 0.5 * max(w, h)
        near = (
            (points[:, 0] >= x - margin)
            & (points[:, 0] <= x + w + margin)
            & (points[:, 1] >= y - margin)
            & (points[:, 1] <= y + h + margin)
        )
        nearer = np.hypot(*(steps - along).T) < np.hypot(*(steps - velocity).T)
        carried |= near & nearer
    return carried


def _early_velocity(
    track: _Track,
    boxes: dict[int, np.ndarray] | None = None,
    size: tuple[int, int] | None = None,
) -> np.ndarray | None:
    """The face's velocity over its first tracked frames (to move it back in time).

    Between its first detection and its last one known within ``BACK_SPAN`` frames
    after it, centre to centre (``detection_velocity``; with the frame's ``size``,
    only detections whose box's centre is in the frame) when it was detected again;
    else over its first 6 tracked frames (the optical flow's boxes); None when it has
    no box after its first. ``boxes``: the track's boxes to measure on (default
    ``track.boxes``; see ``_first_boxes``).
    """
    boxes = track.boxes if boxes is None else boxes
    detected = detection_velocity(boxes, track.seen, track.born, size=size)
    if detected is not None:
        return detected
    later = [i for i in sorted(boxes) if i > track.born][:6]
    if not later:
        return None
    last = later[-1]
    return np.asarray((boxes[last][:2] - boxes[track.born][:2]) / (last - track.born))


def _in_frame(point: np.ndarray, size: tuple[int, int]) -> bool:
    """Whether ``point`` (x, y) lies in a frame of ``size`` (width, height)."""
    return bool(0 <= point[0] < size[0] and 0 <= point[1] < size[1])


def _first_boxes(track: _Track) -> list[dict[int, np.ndarray]]:
    """The track's boxes a back-fill starts from: its boxes, and — when its first box
    was grown back since (``_grow_back``) — the same with the first box as found.

    A face cut by the frame's edge, found at 62 px, was found one frame later at 89
    px: its first box, grown back to 89 px and anchored to the detection's inner
    side, gave a velocity of 2 px/frame between the two boxes for a face leaving at
    16 px/frame (the box at its first detection: 15.5), and the back-fill left it
    sharp where it came out from behind another face four frames earlier (seed
    14969-2, issue 14ag).
    """
    if track.first is None:
        return [track.boxes]
    return [track.boxes, {**track.boxes, track.born: track.first}]


def _union(rects: Sequence[PixelRect]) -> PixelRect:
    """The smallest rectangle (x, y, w, h) holding all of ``rects``.

    >>> _union([(0, 0, 10, 10), (5, 20, 10, 5)])
    (0, 0, 15, 25)
    """
    x0, y0 = min(r[0] for r in rects), min(r[1] for r in rects)
    x1, y1 = max(r[0] + r[2] for r in rects), max(r[1] + r[3] for r in rects)
    return (x0, y0, x1 - x0, y1 - y0)


BACK_SPAN = 30  # frames after a track's first detection its back-fill velocity is measured over


def detection_velocity(
    boxes: dict[int, np.ndarray],
    seen: dict[int, int],
    born: int,
    span: int = BACK_SPAN,
    size: tuple[int, int] | None = None,
) -> np.ndarray | None:
    """The velocity (px/frame) between a track's box at its first detection (frame
    ``born``) and at its last detection within ``span`` frames after it, centre to
    centre; None when it was not detected again (``seen``: frame -> its last
    detection at or before it; ``boxes``: frame -> its box x, y, w, h).

    The back-fill moves a new face's box back along this velocity, up to a second
    before its first detection. Over the first tracked frames' corners (before
    issue 14z) one detection's jitter — a box found 11 px larger — set the
    direction: a still 78-px face found at frame 28 was back-filled 3.5 px/frame
    downwards and its forehead left sharp at frame 0 (seed 36859-4).

    >>> boxes = {0: np.array([10, 10, 20, 20.0]), 4: np.array([16, 8, 24, 24.0])}
    >>> detection_velocity(boxes, {0: 0, 1: 0, 4: 4}, 0).tolist()
    [2.0, 0.0]
    >>> detection_velocity(boxes, {0: 0, 1: 0}, 0) is None
    True

    With the frame's ``size`` (width, height), a detection whose box's centre lies
    beyond the frame's edge measures nothing: the box of a face leaving keeps its
    size and moves on past the edge (``leaving_size``), from a part of it or its
    mirror image. A 24-px face that had left by the bottom edge was "found"
    there once more (a weak 63-px box), its box kept at its size 20 px beside
    its path and below the frame: its back-fill, measured to that box, moved
    1.5 px/frame the wrong way across, and 10 frames back a strip of the face
    was left sharp (seed --emerging 76938-7).

    >>> boxes[8] = np.array([40, 60, 20, 20.0])  # (centre 50, 70: below a 64-px frame)
    >>> detection_velocity(boxes, {0: 0, 4: 4, 8: 8}, 0, size=(64, 64)).tolist()
    [2.0, 0.0]
    """
    found = [f for f in set(seen.values()) if born < f <= born + span and f in boxes]
    if size is not None:
        found = [f for f in found if _in_frame(_centre(boxes[f]), size)]
    if born not in boxes or not found:
        return None
    last = max(found)
    return np.asarray((_centre(boxes[last]) - _centre(boxes[born])) / (last - born), np.float64)
