"""BlazeFace (MediaPipe's short-range face detector) in regions of a frame, via ``cv2.dnn``.

The weights (``models/face_detection_short_range.tflite``, 229 kB, Apache-2.0 —
see ``models/NOTICE.md``) ship inside the repository: nothing is downloaded at
run time, and OpenCV's own TFLite importer runs them (no TensorFlow, no extra
package).

The network is fully convolutional: on an input of any size (a multiple of 16)
it scores anchors on a grid of 8 and of 16 pixels and finds faces of roughly
24–90 pixels *of its input*, frontal, in profile and tilted alike. A region is
therefore scaled so that the smallest face wanted there is ``target`` pixels,
and searched again at coarser scales (a pyramid, factor ``band``) while larger
faces could still fit. Where a region touches the frame's edge it is extended by
a mirror image of itself: half a face cut by the edge becomes a face the
network recognises (the face *is* partly outside the frame — its visible part
is what must be blurred).
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Sequence
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from chalicelib.faces.detection import load_cascade
from chalicelib.faces.tracking import RegionDetector, reflections, touches_grown

PixelRect = tuple[int, int, int, int]  # x, y, width, height


MODEL = Path(__file__).with_name("models") / "face_detection_short_range.tflite"
# The same network as ONNX for onnxruntime: any input size, one (grey) channel
# (converted from MODEL; how, in models/NOTICE.md).
ONNX_MODEL = MODEL.with_suffix(".onnx")
STRIDES = ((8, 2), (16, 6))  # (grid step in input pixels, anchors per cell)
MULTIPLE = 16  # input sides must be multiples of the coarsest grid step
# Inputs of this many pixels and more (the finest scale of a whole 1080p or 720p frame)
# run without onnxruntime's memory pattern (``BlazeFaceDetector._session_for``).
LARGE_INPUT = 1_000_000
FACE_GROW = 1.25  # BlazeFace's box (brows to chin) grown to the whole face, forehead included
FACE_UP = 0.1  # and its centre moved up the face by this share of its height
# A face in profile (nose tip far off the box's centre line): BlazeFace's box stops
# short of the forehead and of the back of the face (measured on the test set's
# profile faces: top 0.15 of the height low, back 0.07-0.1 of the width short).
PROFILE_UP = 0.15  # of the height, added above a profile face
PROFILE_BACK = 0.1  # of the width, added on the side away from the nose
# A profile's extent (``decode_faces``, what is blurred) also grows below by this share
# of its height: the turned box still stopped short of the jaw (issue 14q's probe).
PROFILE_DOWN = 0.05
# A detection whose box holds a few bright points on a dark field (the skewness of its
# grey values above this) is a star field or specks, not a face (``sparse_bright``).
# Measured on whole-frame searches of 10 tuning seeds' frames: boxes on faces 1.35 at
# most (a dark face beside a dark background); false ones on the Hubble deep field 1.1
# in the median, 38 % of them over 1.5 (docs/face-blurring.md, session 39). None: off.
SPARSE_SKEW: float | None = 1.5
# A box cut by the frame's edge is judged on its middle (this share of it each way)
# in view, at this skewness at least: its part in view beside the face may be all
# background (a face leaving a star field by the edge scored 1.6 on its whole part).
SPARSE_CUT_MIDDLE = 0.6
SPARSE_CUT_SKEW = 2.0


@cache
def _read_model(path: Path) -> bytes:
    if not path.is_file():
        raise RuntimeError(f"BlazeFace weights missing: {path}")
    return path.read_bytes()


def _model_bytes(path: Path) -> np.ndarray:
    return np.frombuffer(_read_model(path), np.uint8)


def grey_net(path: Path = MODEL) -> cv2.dnn.Net:
    """The network for grey images: its first convolution's weights summed over the
    three colour channels, so it takes one channel.

    Fed a grey image as three equal channels, the first convolution computes
    Σ_c w_c * g = (Σ_c w_c) * g: the same network on a third of the input (the
    grey-to-BGR copy, the three-channel blob and two thirds of the first layer's
    multiplications are gone; ~13 % of a forward pass). The outputs agree to
    float rounding (logits within 1e-3 of ~±250).
    """
    net = cv2.dnn.readNetFromTFLite(_model_bytes(path))
    for name in net.getLayerNames():
        number = net.getLayerId(name)
        blobs = net.getLayer(number).blobs
        if blobs and blobs[0].ndim == 4:  # the first convolution: (out, 3, kh, kw)
            if blobs[0].shape[1] != 3:
                raise RuntimeError(f"unexpected first layer in {path.name}: {blobs[0].shape}")
            net.setParam(number, 0, np.ascontiguousarray(blobs[0].sum(axis=1, keepdims=True)))
            return net
    raise RuntimeError(f"no convolution found in {path.name}")


def onnx_session(path: Path, required: bool = False, pattern: bool = True) -> Any:
    """An onnxruntime session for ``path`` on as many threads as OpenCV uses (one in
    the benchmark), or None when onnxruntime is not installed (unless ``required``).

    onnxruntime runs this network in ~60 % of cv2.dnn's CPU time (its 1×1
    convolutions, additions and ReLUs fused; docs/face-blurring.md), with the same
    outputs to float rounding. ``pattern``: onnxruntime's memory pattern (one block
    planned per input shape, made at the shape's second run) — a few per cent faster
    for shapes that come back, but for a large input seen once in a while (the whole
    frame) that block is ~400 MB of fresh memory at its second run (page faults,
    ~0.25 s at 1080p); without it, the memory of the first run is reused.
    """
    try:
        import onnxruntime
    except ImportError:
        if required:
            raise
        return None
    if not path.is_file():
        raise RuntimeError(f"BlazeFace weights missing: {path}")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = max(1, cv2.getNumThreads())
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no busy waits
    options.log_severity_level = 3
    options.enable_mem_pattern = pattern
    if _shared_arena():  # (sessions share one arena: memory one has used, another reuses)
        options.add_session_config_entry("session.use_env_allocators", "1")
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@cache
def _shared_arena() -> bool:
    """Register one onnxruntime CPU arena for all sessions of this process (once).

    The session for large inputs and the one for the rest (``_session_for``), and
    the sessions of several detectors, then draw on the same memory: what the first
    whole-frame search took (~400 MB at 1080p) serves every later run, instead of
    each session faulting in memory of its own (~18 000 more page faults in a 1080p
    clip with two arenas).
    """
    import onnxruntime

    info = onnxruntime.OrtMemoryInfo(
        "Cpu", onnxruntime.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, onnxruntime.OrtMemType.DEFAULT
    )
    onnxruntime.create_and_register_allocator(info, onnxruntime.OrtArenaCfg(0, -1, -1, -1))
    return True


def anchor_centres(height: int, width: int) -> np.ndarray:
    """Centres (x, y) in input pixels of the network's anchors, in its output order.

    >>> anchor_centres(16, 32).tolist()[:3]
    [[4.0, 4.0], [4.0, 4.0], [12.0, 4.0]]
    >>> len(anchor_centres(128, 128))  # 16·16·2 + 8·8·6
    896
    """
    parts = []
    for step, per_cell in STRIDES:
        ys, xs = np.mgrid[0 : height // step, 0 : width // step]
        centres = np.stack([(xs + 0.5) * step, (ys + 0.5) * step], axis=-1).reshape(-1, 1, 2)
        parts.append(np.repeat(centres, per_cell, axis=1).reshape(-1, 2))
    return np.concatenate(parts).astype(np.float64)


@lru_cache(maxsize=64)
def _anchors(height: int, width: int) -> np.ndarray:
    """``anchor_centres``, made once per input size (read-only)."""
    centres = anchor_centres(height, width)
    centres.flags.writeable = False
    return centres


def decode(
    scores: np.ndarray, regressors: np.ndarray, height: int, width: int, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Face boxes (x, y, w, h, input pixels) and probabilities of anchors over ``threshold``.

    ``scores``: (N,) logits; ``regressors``: (N, 16) — centre offset and size in
    input pixels, then six key points (eyes first) as offsets from the anchor.
    BlazeFace's box runs from the brows to the chin of an upright face; the box
    returned covers the whole face: ``FACE_GROW`` times larger, its centre moved
    up the face by ``FACE_UP`` of its height, and — for a face tilted by the
    angle of the line through its eyes — the upright bounds of that turned box.
    (``decode_faces`` also gives each face's profile extent.)

    >>> s = np.full(896, -9.0); s[0] = 3.0
    >>> r = np.zeros((896, 16)); r[0, :4] = (1, 2, 20, 24); r[0, 4:8] = (-5, 0, 5, 0)
    >>> boxes, p = decode(s, r, 128, 128, 0.5)
    >>> boxes.round(2).tolist(), round(float(p[0]), 3)
    ([[-7.5, -12.0, 25.0, 30.0]], 0.953)
    >>> r[0, 4:8] = (-5, -5, 5, 5)  # eyes on a diagonal: tilted 45°
    >>> decode(s, r, 128, 128, 0.5)[0].round(1).tolist()
    [[-12.3, -15.6, 38.9, 38.9]]
    """
    boxes, _extents, probability = decode_faces(scores, regressors, height, width, threshold)
    return boxes, probability


def decode_faces(
    scores: np.ndarray,
    regressors: np.ndarray,
    height: int,
    width: int,
    threshold: float,
    extents: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``decode``'s boxes and probabilities, and each face's *extent* (x, y, w, h): the
    box of a profile turned by the roll of the line from its eyes to its mouth and
    grown below by ``PROFILE_DOWN`` of its height (the jaw); a frontal face's box.

    BlazeFace places both eye key points on the one eye a profile shows, so the
    eye line gives a profile's roll wrongly (the mirrored cameraman turned 25°:
    4.8°; upright: −12°), while the line from the eyes to the mouth gives it
    (21°, −0.5°; frontal faces: both lines within 2–5°). The box's roll is the eye
    line's plus the profile share times the difference (0 for a frontal face).
    The boxes stay those of the eye line (what suppression, tracking and the
    searches compare); only what is blurred takes in the extent (issue 14t).
    Without ``extents`` (a second look: boxes and scores only) the boxes come back
    in their place, not computed.

    >>> s = np.full(896, -9.0); s[0] = 3.0
    >>> r = np.zeros((896, 16)); r[0, :4] = (0, 0, 20, 24)
    >>> r[0, 4:12] = (-5, 0, 5, 0, 0, 4, 0, 9)  # frontal: nose and mouth under the eyes
    >>> boxes, extents, _p = decode_faces(s, r, 128, 128, 0.5)
    >>> bool((boxes == extents).all())
    True
    >>> r[0, 4:12] = (6, -2, 7, -2, 9, 4, 9, 9)  # a profile, its mouth off the eye line's normal
    >>> boxes, extents, _p = decode_faces(s, r, 128, 128, 0.5)
    >>> boxes.round(1).tolist(), extents.round(1).tolist()
    ([[-11.0, -19.0, 27.5, 34.5]], [[-15.8, -21.3, 34.8, 41.4]])
    """
    # Only the anchors whose logit could reach ``threshold`` get a probability (the
    # same formula, element by element: the same values); on most region searches
    # none does, and ``decode`` costs ~10 instead of ~100 µs.
    flat = scores.reshape(-1)
    candidates = np.flatnonzero(flat > logit_floor(threshold))
    logits = np.clip(flat[candidates], -80, 80)
    probability = 1 / (1 + np.exp(-logits))
    keep = probability > threshold
    if not keep.any():
        return np.zeros((0, 4)), np.zeros((0, 4)), probability[keep]
    chosen = candidates[keep]
    centres = _anchors(height, width)[chosen]
    found = regressors.reshape(-1, 16)[chosen, :12].astype(np.float64)
    cx, cy = found[:, 0] + centres[:, 0], found[:, 1] + centres[:, 1]
    w, h = found[:, 2] * FACE_GROW, found[:, 3] * FACE_GROW
    eyes = found[:, 6:8] - found[:, 4:6]
    angle = np.arctan2(eyes[:, 1], eyes[:, 0])
    across = np.stack([np.cos(angle), np.sin(angle)], axis=1)  # along the eye line
    # How far the nose tip lies off the centre line, along the eye line: ~0 for a
    # frontal face, ~0.45 of the box for a profile; the profile's box grows up
    # and away from the nose.
    nose = np.sum((found[:, 8:10] - found[:, 0:2]) * across, axis=1) / np.maximum(found[:, 2], 1)
    profile = np.clip((np.abs(nose) - 0.15) / 0.2, 0, 1)
    up, back = PROFILE_UP * profile * h, PROFILE_BACK * profile * w
    h, w = h + up, w + back
    boxes = _turned_bounds(cx, cy, w, h, angle, -np.sign(nose) * back / 2, up)
    if not extents:
        return boxes, boxes, probability[keep]
    # The roll of the line from between the eyes down to the mouth (0: upright).
    down = found[:, 10:12] - (found[:, 4:6] + found[:, 6:8]) / 2
    mouth = np.arctan2(-down[:, 0], down[:, 1])
    turn = np.angle(np.exp(1j * (mouth - angle)))  # (wrapped to ±π)
    chin = PROFILE_DOWN * profile * h
    reach = _turned_bounds(
        cx, cy, w, h + chin, angle + profile * turn, -np.sign(nose) * back / 2, up - chin
    )
    return boxes, reach, probability[keep]


def sparse_bright(grey: np.ndarray, box: np.ndarray, most: float) -> bool:
    """Whether the grey values of ``box`` (x, y, w, h, frame pixels) are skewed to the
    bright side by more than ``most``: a few bright points on a dark field. A box cut
    by the frame's edge is judged on its middle in view (``SPARSE_CUT_MIDDLE``), at
    ``SPARSE_CUT_SKEW`` at least.

    >>> field = np.zeros((40, 40), np.uint8); field[::8, ::8] = 255
    >>> sparse_bright(field, np.array([0.0, 0, 40, 40]), 1.5)
    True
    >>> sparse_bright(np.full((40, 40), 90, np.uint8), np.array([0.0, 0, 40, 40]), 1.5)
    False
    >>> face = np.full((40, 40), 8, np.uint8); face[:, :6] = 120  # a face leaving by the left
    >>> sparse_bright(face, np.array([-20.0, 0, 40, 40]), 1.5)  # its middle in view: half face
    False
    >>> sparse_bright(face, np.array([0.0, 0, 40, 40]), 1.5)  # a box in view, mostly black
    True
    """
    height, width = grey.shape[:2]
    x, y, w, h = box
    x0, y0 = int(x), int(y)
    x1, y1 = math.ceil(x + w), math.ceil(y + h)
    if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
        # A face cut by the edge: the box's middle (its share ``SPARSE_CUT_MIDDLE`` each
        # way) within the frame, judged at ``SPARSE_CUT_SKEW`` — the rest of its part in
        # view may be the background beside the face.
        margin_x, margin_y = w * (1 - SPARSE_CUT_MIDDLE) / 2, h * (1 - SPARSE_CUT_MIDDLE) / 2
        x0, y0 = max(0, int(x + margin_x)), max(0, int(y + margin_y))
        x1 = min(width, math.ceil(x + w - margin_x))
        y1 = min(height, math.ceil(y + h - margin_y))
        most = max(most, SPARSE_CUT_SKEW)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return False
    patch = grey[y0:y1, x0:x1]
    if patch.ndim == 3:
        patch = cv2.cvtColor(patch, cv2.COLOR_BGR2GRAY)
    values = patch.astype(np.float32).ravel()
    spread = float(values.std())
    if spread < 1.0:
        return False
    centred = values - values.mean()
    return float(np.mean(centred**3)) / spread**3 > most


def logit_floor(threshold: float) -> float:
    """A logit under which an anchor's probability (``1 / (1 + exp(-logit))`` in
    float32) cannot exceed ``threshold``: the threshold's own logit less a margin
    far wider than float32's rounding (the sigmoid's slope is at most 1/4).

    >>> round(logit_floor(0.5), 3), logit_floor(0.0), logit_floor(1.0)
    (-0.01, -inf, inf)
    """
    if threshold <= 0:
        return -math.inf
    if threshold >= 1:
        return math.inf
    return math.log(threshold / (1 - threshold)) - LOGIT_MARGIN


LOGIT_MARGIN = 0.01


def _turned_bounds(
    cx: np.ndarray,
    cy: np.ndarray,
    w: np.ndarray,
    h: np.ndarray,
    angle: np.ndarray,
    shift_back: np.ndarray,
    up: np.ndarray,
) -> np.ndarray:
    """The upright bounds (x, y, w, h) of faces ``w`` × ``h`` rolled by ``angle``, whose
    BlazeFace centre (``cx``, ``cy``) moves ``shift_back`` across the face and up it
    by ``FACE_UP`` of its height plus half of ``up`` (what was added above it)."""
    cx = cx + np.cos(angle) * shift_back
    cy = cy + np.sin(angle) * shift_back
    # Up the face: (sin, -cos) of the roll (straight up when level).
    cx = cx + np.sin(angle) * (FACE_UP * h + up / 2)
    cy = cy - np.cos(angle) * (FACE_UP * h + up / 2)
    cos, sin = np.abs(np.cos(angle)), np.abs(np.sin(angle))
    wide, high = w * cos + h * sin, w * sin + h * cos
    return np.stack([cx - wide / 2, cy - high / 2, wide, high], axis=1)


def suppress(boxes: np.ndarray, scores: np.ndarray, overlap: float = 0.3) -> list[int]:
    """Indices kept by non-maximum suppression (intersection over union above ``overlap``).

    >>> boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [50, 0, 10, 10.0]])
    >>> suppress(boxes, np.array([0.6, 0.9, 0.7]))
    [1, 2]
    """
    overlaps = iou_matrix(boxes)  # (each pair once)
    kept: list[int] = []
    for i in np.argsort(-scores, kind="stable"):
        if kept and float(overlaps[i, kept].max()) > overlap:
            continue  # a duplicate of a higher-scored box
        kept.append(int(i))
    return sorted(kept)


def iou_matrix(boxes: np.ndarray, others: np.ndarray | None = None) -> np.ndarray:
    """Intersection over union of each of ``boxes`` (N, 4: x, y, w, h) with each of
    ``others`` (M, 4; ``boxes`` by default): an N × M matrix.

    >>> iou_matrix(np.array([[0, 0, 10, 10], [5, 0, 10, 10.0]])).round(3).tolist()
    [[1.0, 0.333], [0.333, 1.0]]
    """
    others = boxes if others is None else others
    x, y, w, h = (boxes[:, k : k + 1] for k in range(4))  # (N, 1)
    bx, by, bw, bh = (others[:, k] for k in range(4))  # (M,)
    ix = np.clip(np.minimum(x + w, bx + bw) - np.maximum(x, bx), 0, None)
    iy = np.clip(np.minimum(y + h, by + bh) - np.maximum(y, by), 0, None)
    union = w * h + bw * bh - ix * iy
    return np.asarray(ix * iy / np.maximum(union, 1e-9))


class BlazeFaceDetector:
    """BlazeFace in regions of a frame, at the scales the wanted faces need.

    Parameters
    ----------
    min_face : int
        Smallest face width to find, in source pixels.
    target : int
        Width, in the network's input, the smallest wanted face is scaled to.
    band : float
        Ratio of the largest to the smallest face one scale finds; the next
        (coarser) scale starts a little below the last one's largest.
    threshold : float
        Face probability a detection needs.
    confident : float
        Below this probability a detection is labelled ``blazeface?`` (weak):
        ``tracking`` blurs it only once the face is found again at the next pass.
    mirror : float
        Where a region touches the frame's edge, it is extended by a mirror image
        this many times the level's largest face wide (faces cut by the edge).
    scan_target : int or None
        For the searches of still regions (``upright_only``: the whole frame at the
        start and at cuts, the rolling scan) that look for faces smaller than
        ``scan_below``: the smallest wanted face is scaled to this width instead of
        ``target`` (larger: the network's recall on 20–28-px faces scaled to 24 px
        is low; ``HybridDetector`` leaves such regions to it instead of the Haar
        cascade).
    fine_target : int or None
        Where a new face may be (moving regions: not still, no ``prefer``), regions
        asking for faces under ``fine_below`` are also searched with the smallest
        wanted face enlarged to this width (``_fine_level``), boxes up to
        ``fine_span`` times that face kept — unless the usual levels found a larger
        face holding the region (``holds_larger_face``). At 24 px BlazeFace misses
        most 20-px grey and tilted faces it finds at 40 (issue 14w).
    """

    name = "blazeface"

    def __init__(
        self,
        min_face: int = 20,
        target: int = 24,
        band: float = 3.7,
        threshold: float = 0.5,
        confident: float = 0.65,
        mirror: float = 0.5,
        model: Path = MODEL,
        runtime: str = "auto",
        scan_target: int | None = None,
        scan_below: int = 28,
        large_input: int = LARGE_INPUT,
        fine_target: int | None = None,
        fine_below: int = 28,
        fine_span: float = 2.5,
    ) -> None:
        if runtime not in ("auto", "onnxruntime", "opencv"):
            raise ValueError(f"unknown runtime: {runtime}")
        self._model = model
        # Grey images (the pipeline's): onnxruntime when it is installed (the ONNX
        # copy of the default model), else OpenCV's cv2.dnn; colour images: cv2.dnn.
        self._session = None
        if runtime != "opencv" and model == MODEL:
            self._session = onnx_session(ONNX_MODEL, required=runtime == "onnxruntime")
        self.runtime = "onnxruntime" if self._session is not None else "opencv"
        self._large_input = large_input
        self._large: Any = None  # onnxruntime without the memory pattern, for large inputs
        self._net = grey_net(model) if self._session is None else None
        self._outputs = () if self._net is None else self._net.getUnconnectedOutLayersNames()
        self._colour: tuple[cv2.dnn.Net, Sequence[str]] | None = None  # (net, output names)
        self.min_face = min_face
        self.target = target
        self.band = band
        self.threshold = threshold
        self.confident = confident
        self.mirror = mirror
        self.scan_target = scan_target
        self.scan_below = scan_below
        self.fine_target = fine_target
        self.fine_below = fine_below
        self.fine_span = fine_span

    def target_for(self, least: int, still: bool) -> int:
        """The width the smallest wanted face (``least`` px) is scaled to in a region
        (``still``: a search of a still region, ``upright_only``).

        >>> BlazeFaceDetector(scan_target=28).target_for(20, True)
        28
        >>> BlazeFaceDetector(scan_target=28).target_for(20, False)
        24
        >>> BlazeFaceDetector(scan_target=28).target_for(28, True)
        24
        """
        if still and self.scan_target is not None and least < self.scan_below:
            return self.scan_target
        return self.target

    def run(
        self, image: np.ndarray, threshold: float | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Faces in one BGR (or grey) image at its own scale: boxes (x, y, w, h) and scores
        (those scoring ``threshold``, by default the detector's own)."""
        boxes, _boxes, scores = self.run_faces(image, threshold, extents=False)
        return boxes, scores

    def run_faces(
        self, image: np.ndarray, threshold: float | None = None, extents: bool = True
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``run``'s boxes and scores, and each face's extent (``decode_faces``; without
        ``extents``, the boxes again)."""
        height, width = image.shape[:2]
        padded_h = -(-height // MULTIPLE) * MULTIPLE
        padded_w = -(-width // MULTIPLE) * MULTIPLE
        if (padded_h, padded_w) != (height, width):
            image = cv2.copyMakeBorder(
                image, 0, padded_h - height, 0, padded_w - width, cv2.BORDER_REPLICATE
            )
        if image.ndim == 2:
            blob = cv2.dnn.blobFromImage(image, 1 / 127.5, (padded_w, padded_h), 127.5)
            if self._session is not None:
                outputs = self._session_for(padded_h * padded_w).run(None, {"input": blob})
            else:
                assert self._net is not None
                self._net.setInput(blob)
                outputs = self._net.forward(self._outputs)
        else:
            if self._colour is None:
                colour = cv2.dnn.readNetFromTFLite(_model_bytes(self._model))
                self._colour = (colour, colour.getUnconnectedOutLayersNames())
            net, names = self._colour
            blob = cv2.dnn.blobFromImage(
                image, 1 / 127.5, (padded_w, padded_h), (127.5, 127.5, 127.5), swapRB=True
            )
            net.setInput(blob)
            outputs = net.forward(names)
        scores = next(o for o in outputs if o.shape[-1] == 1)
        regressors = next(o for o in outputs if o.shape[-1] == 16)
        floor = self.threshold if threshold is None else threshold
        return decode_faces(scores, regressors, padded_h, padded_w, floor, extents)

    def _session_for(self, pixels: int) -> Any:
        """The onnxruntime session for an input of ``pixels``: inputs of
        ``large_input`` pixels and more (the whole frame's finest scale, at the start
        and at cuts) run in a session of their own without the memory pattern
        (``onnx_session``), made on first use; the same outputs."""
        if pixels < self._large_input:
            return self._session
        if self._large is None:
            self._large = onnx_session(ONNX_MODEL, required=True, pattern=False)
        return self._large

    def search(
        self,
        grey: np.ndarray,
        regions: Sequence[PixelRect],
        smallest: Sequence[int] | None = None,
        upright_only: Sequence[bool] | None = None,
        prefer: Sequence[str | None] | None = None,
        largest: Sequence[int | None] | None = None,
    ) -> list[tuple[PixelRect, str]]:
        """Faces inside each region of a frame (grey or BGR), labelled ``blazeface``.

        ``smallest``/``largest``: per region, the range of face widths to look for
        (``largest`` None: up to the region's size). ``upright_only`` marks the
        searches of still regions (see ``scan_target``). ``prefer`` (a choice
        between Haar views; one network sees every pose) marks the searches around
        a tracked face, follow-ups and edge searches: no fine level there
        (``fine_target``).
        """
        return self.search_extents(grey, regions, smallest, upright_only, prefer, largest)[0]

    def search_extents(
        self,
        grey: np.ndarray,
        regions: Sequence[PixelRect],
        smallest: Sequence[int] | None = None,
        upright_only: Sequence[bool] | None = None,
        prefer: Sequence[str | None] | None = None,
        largest: Sequence[int | None] | None = None,
        fine: Sequence[bool] | None = None,
    ) -> tuple[list[tuple[PixelRect, str]], dict[PixelRect, PixelRect]]:
        """``search``'s faces, and the extent (x, y, w, h) of each found face whose extent
        differs from its box (``decode_faces``: a profile's box turned by its eyes-to-mouth
        line). Every choice among the boxes (suppression, mirror images, weak boxes
        beside faces) is made on the boxes; the extents only ride along.

        ``fine``: per region, searched at the fine level (``fine_target``) whatever
        ``prefer`` and ``upright_only`` say and whatever the smallest face, when the
        usual levels found no face there confidently (a follow-up look for a face found
        confidently at the pass before: the smallest it asks for is half that face, so
        the level sees it at 80 px of the network's input and less; the emerge look's
        regions of motion beside a larger face, searched upright only)."""
        frame_h, frame_w = grey.shape[:2]
        boxes: list[np.ndarray] = []
        reaches: list[np.ndarray] = []
        scores: list[np.ndarray] = []
        for number, (x, y, w, h) in enumerate(regions):
            least = max(self.min_face, smallest[number]) if smallest else self.min_face
            if w < least or h < least:
                continue
            most = largest[number] if largest else None
            most = min(most or max(w, h), max(w, h))
            crop = grey[y : y + h, x : x + w]
            edges = (x <= 0, y <= 0, x + w >= frame_w, y + h >= frame_h)
            still = bool(upright_only and upright_only[number])
            target = self.target_for(least, still)
            scale = target / least
            first = len(boxes)
            levels = []
            while True:
                level, extent, score = self._level(crop, scale, edges, target)
                boxes.append(level + np.array([x, y, 0, 0]))
                reaches.append(extent + np.array([x, y, 0, 0]))
                scores.append(score)
                levels.append(scale)
                reach = target * self.band / scale  # the largest face this level finds
                if reach >= most:
                    break
                scale /= self.band * 0.8
            # (a region of motion at the edge, not around a tracked face: there the
            # face and its mirror image were also found as one larger face, and the
            # track took that box — a 280-px face leaving by the left edge of a 1080p
            # frame blurred 220 px past its side, held-out-51446-1: 43.3 → 33.3 dB;
            # over 408 clips 4 fewer at 35 dB and no frame less exposed, session 60)
            around = bool(prefer and prefer[number])
            if any(edges) and not still and not around and len(levels) > 1:
                # (faces the usual levels missed: on none of their boxes)
                more = self._between_levels(crop, (x, y), levels, edges, target, grey.shape)
                usual = np.concatenate(boxes[first:])
                sure = usual[np.concatenate(scores[first:]) >= self.threshold]
                for level, extent, score in more:
                    alone = ~(iou_matrix(level, sure) > 0.0).any(axis=1)
                    boxes.append(level[alone])
                    reaches.append(extent[alone])
                    scores.append(score[alone])
            # (asked for: only when the usual levels found no face confidently there)
            asked = bool(fine and fine[number]) and not any(
                (level_scores >= self.confident).any() for level_scores in scores[first:]
            )
            if (
                self.fine_target
                and (asked or not still)
                and (asked or (not around and least < self.fine_below))
                and not holds_larger_face(
                    np.concatenate(boxes[first:]) - np.array([x, y, 0, 0]),
                    np.concatenate(scores[first:]),
                    (w, h),
                    self.fine_span * least,
                    self.confident,
                )
            ):
                level, extent, score = self._fine_level(crop, least, edges)
                boxes.append(level + np.array([x, y, 0, 0]))
                reaches.append(extent + np.array([x, y, 0, 0]))
                scores.append(score)
        if not boxes:
            return [], {}
        every = np.concatenate(boxes)
        extents = np.concatenate(reaches)
        probability = np.concatenate(scores)
        # Faces found only in a mirror image beyond the edge are not in the frame;
        # a large one mostly beyond it is the mirror's own symmetry, not a face.
        share = _inside_share(every, frame_w, frame_h)
        large = np.maximum(every[:, 2], every[:, 3]) > 0.5 * min(frame_w, frame_h)
        inside = (share >= 0.2) & ((share >= 0.5) | ~large)
        every, probability, share = every[inside], probability[inside], share[inside]
        extents = extents[inside]
        # A face cut by the edge is also found as its own reflection, mostly beyond it.
        real = ~mirror_images(every, share, frame_w, frame_h)
        every, probability, extents = every[real], probability[real], extents[real]
        kept = suppress(every, probability)
        confident = [i for i in kept if probability[i] >= self.confident]
        chosen = [
            i for i in kept if i in confident or not beside_other_size(every[i], every[confident])
        ]
        if SPARSE_SKEW is not None:
            chosen = [i for i in chosen if not sparse_bright(grey, every[i], SPARSE_SKEW)]
        found = [(_rect(every[i]), "blazeface" if i in confident else "blazeface?") for i in chosen]
        extent_of = {
            rect: _rect(extents[i])
            for i, (rect, _view) in zip(chosen, found, strict=True)
            if _rect(extents[i]) != rect
        }
        return found, extent_of

    def second_look(self, grey: np.ndarray, rect: PixelRect, enough: float = 1.0) -> float:
        """How surely a detection ``rect`` (x, y, w, h, frame pixels) of a grey frame is
        a face, looked at again: the best score (0–1) of a face of about its size at
        its place in crops of the network's own input size (128 × 128), centred on the
        detection, with the face scaled to ``VERIFY_FACES`` widths of that input.

        A region search sees a face at one scale and one alignment to the network's
        anchor grid among many windows; texture it half-believes there (fur, star
        fields, cells, a chest) rarely looks like a face again when centred and
        scaled otherwise, while a face does (measured on the tuning seeds: see
        docs/face-blurring.md, issue 14l). The frame's edges are mirrored, as in
        the search. Stops at the first crop scoring ``enough``.
        """
        if grey.ndim == 3:
            grey = cv2.cvtColor(grey, cv2.COLOR_BGR2GRAY)
        x, y, w, h = rect
        side = float(max(w, h, 1))
        centre_x, centre_y = x + w / 2, y + h / 2
        best = 0.0
        for face in VERIFY_FACES:
            crop = _square(grey, centre_x, centre_y, side * VERIFY_INPUT / (face * FACE_GROW))
            if crop is None:
                continue
            scale = VERIFY_INPUT / crop.shape[0]
            interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            image = cv2.resize(crop, (VERIFY_INPUT, VERIFY_INPUT), interpolation=interpolation)
            boxes, scores = self.run(image, VERIFY_FLOOR)
            best = max(best, _best_near(boxes, scores, side, scale))
            if best >= enough:
                break
        return best

    def _between_levels(
        self,
        crop: np.ndarray,
        origin: tuple[int, int],
        levels: Sequence[float],
        edges: tuple[bool, bool, bool, bool],
        target: int,
        frame: tuple[int, ...],
    ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Faces cut by the frame's edge in ``crop`` (a region at ``origin`` touching the
        edges ``edges``) found at a scale between each two of the pyramid's ``levels``
        (their geometric mean): boxes and extents in frame pixels, and scores.

        A face cut by the edge is seen with its mirror image beyond it, and that
        pair may be found only at scales between the usual levels: a 56-px face
        entering by the right edge of a 640 × 480 frame, 20 px of it in view, scored
        0 at scales 1.1-1.6 of a region searched from 20 px (the levels 1.2 and 0.41)
        and 0.51-0.75 at 0.68-1.0; it was left sharp for 16 frames (held-out-79843-6).
        Only boxes reaching beyond the edge are kept: at these scales a face leaving
        and its mirror image are also found as one larger face in view (a 314 × 317
        rectangle around an 86-px face at the bottom edge, held-out-33257-6: 36.9 →
        31.1 dB without this condition). The caller keeps only those on no box the
        usual levels found.
        """
        offset = np.array([*origin, 0, 0])
        height, width = frame[:2]
        found = []
        for finer, coarser in itertools.pairwise(levels):
            level, extent, score = self._level(crop, math.sqrt(finer * coarser), edges, target)
            level, extent = level + offset, extent + offset
            cut = _beyond_edge(level, width, height)
            found.append((level[cut], extent[cut], score[cut]))
        return found

    def _fine_level(
        self, crop: np.ndarray, least: int, edges: tuple[bool, bool, bool, bool]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Faces of ``least`` to ``fine_span`` × ``least`` px in ``crop``, searched with the
        smallest enlarged to ``fine_target`` px of the network's input: boxes, extents
        and scores as ``_level``'s, those larger dropped.

        At ``target`` (24 px) BlazeFace misses most faces of 20-28 px, upright or
        tilted, that it finds when they are 40-50 px of its input (a 20-px face
        tilted 25°, its box 28 px: best score 0.06-0.35 at 24-32 px, 0.50-0.75 at
        48 px; docs/face-blurring.md, issue 14w). The level also sees larger faces,
        found by the coarser levels already; its boxes of those are dropped (an
        enlarged search finds texture of its own at large sizes).
        """
        target = self.fine_target or self.target
        found, extent, score = self._level(crop, target / least, edges, target)
        small = np.maximum(found[:, 2], found[:, 3]) <= self.fine_span * least
        return found[small], extent[small], score[small]

    def _level(
        self,
        crop: np.ndarray,
        scale: float,
        edges: tuple[bool, bool, bool, bool],
        target: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Faces in ``crop`` searched at ``scale``: boxes and extents in the crop's pixels,
        and scores."""
        if scale != 1.0:
            interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            image = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=interpolation)
        else:
            image = crop
        margin = math.ceil(self.mirror * (target or self.target) * self.band)
        left, top, right, bottom = (margin if edge else 0 for edge in edges)
        height, width = image.shape[:2]
        # A mirror no wider than the image itself (BORDER_REFLECT needs that).
        left, right = min(left, width - 1), min(right, width - 1)
        top, bottom = min(top, height - 1), min(bottom, height - 1)
        if left or top or right or bottom:
            image = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_REFLECT_101)
        found, extent, score = self.run_faces(image)
        for boxes in (found, extent):
            boxes[:, 0] -= left
            boxes[:, 1] -= top
            boxes /= scale
        return found, extent, score


VERIFY_INPUT = 128  # the network's own input size, for a second look at a detection
# Widths (BlazeFace's brows-to-chin box, input pixels) a detected face is scaled to
# for the second look: most faces score best at the middle one, so it comes first.
VERIFY_FACES = (48, 64, 36)
VERIFY_FLOOR = 0.02  # scores kept in a second look (any face-like answer counts)
VERIFY_NEAR = 0.3  # of the detection's side: how far off its centre the answer may be


def _square(grey: np.ndarray, centre_x: float, centre_y: float, side: float) -> np.ndarray | None:
    """The square of ``side`` pixels centred on (``centre_x``, ``centre_y``) of a grey
    frame, the frame mirrored beyond its edges; None when empty.

    >>> grey = np.arange(16, dtype=np.uint8).reshape(4, 4)
    >>> _square(grey, 0.0, 0.0, 2.0).tolist()  # the corner, mirrored up and left
    [[5, 4], [1, 0]]
    """
    x0, y0 = round(centre_x - side / 2), round(centre_y - side / 2)
    x1, y1 = round(centre_x + side / 2), round(centre_y + side / 2)
    if x1 <= x0 or y1 <= y0:
        return None
    height, width = grey.shape[:2]
    margin = max(0, -x0, -y0, x1 - width, y1 - height)
    if not margin:
        crop = grey[y0:y1, x0:x1]
        return crop if crop.size else None
    # (a square reaching further beyond the edge than the frame is wide: clipped)
    margin = min(margin, min(height, width) - 1)
    x0, x1 = max(-margin, x0), min(width + margin, x1)
    y0, y1 = max(-margin, y0), min(height + margin, y1)
    if x1 <= x0 or y1 <= y0:
        return None
    # Only the part of the frame the square and its mirror image take is mirrored
    # (the whole 1080p frame cost ~0.8 ms a crop): the same pixels.
    left, right, first_x, last_x = mirror_span(x0, x1, width)
    top, bottom, first_y, last_y = mirror_span(y0, y1, height)
    part = grey[first_y:last_y, first_x:last_x]
    mirrored = cv2.copyMakeBorder(part, top, bottom, left, right, cv2.BORDER_REFLECT_101)
    crop = mirrored[
        y0 - first_y + top : y1 - first_y + top, x0 - first_x + left : x1 - first_x + left
    ]
    return crop if crop.size else None


def mirror_span(start: int, stop: int, size: int) -> tuple[int, int, int, int]:
    """For positions ``start``–``stop`` (end excluded) along an axis of ``size`` pixels,
    mirrored beyond its ends (``BORDER_REFLECT_101``, at most ``size - 1`` beyond
    either end): the border before and after the axis, and the span of it
    (first, last, end excluded) that those positions and their mirror images take —
    what ``cv2.copyMakeBorder`` needs to make them from a slice of the axis.

    >>> mirror_span(-3, 5, 10)  # 3 beyond the start: pixels 0-4 and the mirror of 1-3
    (3, 0, 0, 5)
    >>> mirror_span(-3, 1, 10)  # the mirror of 1-3 reaches past the positions in view
    (3, 0, 0, 4)
    >>> mirror_span(7, 12, 10)  # 2 beyond the end: 7-9 and the mirror of 7-8
    (0, 2, 7, 10)
    >>> mirror_span(2, 6, 10)
    (0, 0, 2, 6)
    """
    before, after = max(0, -start), max(0, stop - size)
    first, last = (0 if before else start), (size if after else stop)
    if before:  # position -k is pixel k
        last = max(last, min(size, before + 1))
    if after:  # position size - 1 + k is pixel size - 1 - k
        first = min(first, max(0, size - 1 - after))
    return before, after, first, last


def holds_larger_face(
    boxes: np.ndarray, scores: np.ndarray, size: tuple[int, int], larger: float, confident: float
) -> bool:
    """Whether a region of ``size`` (w, h) is a larger face's: one of its ``boxes``
    (x, y, w, h, region pixels) scoring ``confident`` or more and wider than ``larger``,
    grown by half its side, holds the region's centre.

    A moving face makes a moving region about itself, searched for faces down to an
    eighth of the region's side: the fine level there would look for small faces in
    a face already found (a 70-px tilted face on grass: 6 ms per VGA frame; issue 14w).

    >>> face = np.array([[40.0, 40, 60, 60]])
    >>> holds_larger_face(face, np.array([0.9]), (160, 160), 50, 0.65)
    True
    >>> holds_larger_face(face, np.array([0.6]), (160, 160), 50, 0.65)  # weak
    False
    >>> holds_larger_face(face, np.array([0.9]), (400, 400), 50, 0.65)  # beside the centre
    False
    >>> holds_larger_face(face, np.array([0.9]), (160, 160), 60, 0.65)  # a small face
    False
    """
    centre = np.array([size[0] / 2, size[1] / 2])
    for (x, y, w, h), score in zip(boxes, scores, strict=True):
        side = max(w, h)
        if score < confident or side <= larger:
            continue
        if np.all(np.abs(centre - (x + w / 2, y + h / 2)) <= (w / 2 + side / 2, h / 2 + side / 2)):
            return True
    return False


def beside_other_size(box: np.ndarray, faces: np.ndarray) -> bool:
    """Whether ``box`` (x, y, w, h) is under half the size of a face of ``faces`` and
    its centre lies within that face's box grown by half its size, or under 0.75
    times its size and touching that face's box grown by a quarter — or over twice
    its size with that face's centre inside it.

    A weak detection there is part of that face or of the body under it (a chin,
    a collar, a badge), or the head and shoulders around it — and is blurred with
    that face's padded box if it is not.

    >>> faces = np.array([[100, 100, 60, 60.0]])
    >>> beside_other_size(np.array([120, 165, 25, 25.0]), faces)
    True
    >>> beside_other_size(np.array([300, 165, 25, 25.0]), faces), beside_other_size(faces[0], faces)
    (False, False)
    >>> beside_other_size(np.array([40, 40, 200, 200.0]), faces)
    True
    """
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    side = max(box[2], box[3])
    for x, y, w, h in faces:
        near = x - w / 2 <= cx <= x + 1.5 * w and y - h / 2 <= cy <= y + 1.5 * h
        if near and side < 0.5 * max(w, h):
            return True
        # smaller and touching it (the face grown by a quarter): a chin, a collar
        if side < 0.75 * max(w, h) and touches_grown(box, np.array([x, y, w, h])):
            return True
        # or over twice its size with that face inside (the head and shoulders around it)
        inside = box[0] <= x + w / 2 <= box[0] + box[2] and box[1] <= y + h / 2 <= box[1] + box[3]
        if inside and side > 2 * max(w, h):
            return True
    return False


def mirror_images(boxes: np.ndarray, share: np.ndarray, width: int, height: int) -> np.ndarray:
    """Which boxes (x, y, w, h) are the reflection of another box across the frame's
    edge: mostly beyond the edge (``share`` inside under a half) and, reflected
    back across it, overlapping a box more inside the frame by over half (IoU).

    The mirror beyond the edge makes a face cut by the edge whole — and shows it a
    second time, reflected; a track that followed the reflection drifted off the
    face (a 203-px profile leaving the frame, found 100 px short of its inner side).

    >>> boxes = np.array([[-45, 580, 240, 240], [-190, 585, 232, 236.0], [400, 0, 50, 50]])
    >>> share = _inside_share(boxes, 1920, 1080)
    >>> mirror_images(boxes, share, 1920, 1080).tolist()
    [False, True, False]
    """
    ghost = np.zeros(len(boxes), bool)
    for i, one in enumerate(boxes):
        if share[i] >= 0.5:
            continue
        # (boxes of the same face straddling the edge — overlapping this one — are
        # left to the non-maximum suppression)
        apart = _iou(boxes[i : i + 1], boxes) < 0.3
        for _side, reflection in reflections(one, width, height):
            mirrored = reflection[None]
            others = boxes[(share > share[i]) & apart]
            if len(others) and float(_iou(mirrored, others).max()) > 0.5:
                ghost[i] = True
    return ghost


def _beyond_edge(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Which boxes (x, y, w, h) reach beyond the edge of a ``width`` × ``height`` frame.

    >>> _beyond_edge(np.array([[-2, 5, 10, 10], [5, 5, 10, 10.0]]), 20, 20).tolist()
    [True, False]
    """
    x, y, w, h = boxes.T
    return np.asarray((x < 0) | (y < 0) | (x + w > width) | (y + h > height))


def _iou(one: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of the box ``one`` (1, 4) with each of ``boxes`` (N, 4)."""
    return np.asarray(iou_matrix(one, boxes)[0])


def _inside_share(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Share of each box (x, y, w, h) inside a frame of ``width`` × ``height``."""
    x0 = np.clip(boxes[:, 0], 0, width)
    y0 = np.clip(boxes[:, 1], 0, height)
    x1 = np.clip(boxes[:, 0] + boxes[:, 2], 0, width)
    y1 = np.clip(boxes[:, 1] + boxes[:, 3], 0, height)
    area = np.maximum(boxes[:, 2] * boxes[:, 3], 1e-9)
    return np.asarray((x1 - x0) * (y1 - y0) / area)


def _best_near(boxes: np.ndarray, scores: np.ndarray, side: float, scale: float) -> float:
    """The best score (0 when none) of the ``boxes`` (x, y, w, h, in a second look's
    input) of about a face of ``side`` px of the frame (``scale``: input pixels per
    frame pixel) at its centre: within ``VERIFY_NEAR`` of its side of the middle,
    within 1.6× of its size. (Array-wise: a second look's
    input on texture holds hundreds of answers over ``VERIFY_FLOOR``.)

    >>> boxes = np.array([[40, 40, 48, 48], [0, 0, 48, 48], [44, 44, 40, 40.0]])
    >>> _best_near(boxes, np.array([0.6, 0.9, 0.8], np.float32), 24.0, 2.0)
    0.800000011920929
    >>> _best_near(boxes[1:2], np.array([0.9], np.float32), 24.0, 2.0)
    0.0
    """
    if len(boxes) == 0:
        return 0.0
    middle = VERIFY_INPUT / 2
    x, y, w, h = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    ratio = np.maximum(w, h) / (side * scale)
    near = np.maximum(np.abs(x + w / 2 - middle), np.abs(y + h / 2 - middle))
    wanted = (near < VERIFY_NEAR * side * scale) & (ratio > 1 / 1.6) & (ratio < 1.6)
    return float(scores[wanted].max()) if wanted.any() else 0.0


def _rect(box: np.ndarray) -> PixelRect:
    x, y, w, h = (float(v) for v in box)
    return (math.floor(x), math.floor(y), math.ceil(w), math.ceil(h))


# A weak BlazeFace detection (0.5-0.65) of ``HAAR_CONFIRM`` px in whose padded crop the
# frontal Haar cascade also finds a face at its place and size (``haar_agrees``) is
# labelled ``CONFIRMED_VIEW``: two independent detectors agree, a face at once (no
# second look, not tentative). A 72-px grey face BlazeFace scored 0.6-0.7 at every
# pass was left sharp 12 frames on seed 16883-1 (docs/face-blurring.md, issue 14y).
HAAR_CONFIRM = (30, 120)
CONFIRMED_VIEW = "blazeface+frontal"
CONFIRM_WINDOW = 40  # the weak box scaled to this many px for the cascade (20-px window)


def haar_agrees(box: PixelRect, found: Sequence[PixelRect]) -> bool:
    """Whether one of the Haar cascade's ``found`` rects (x, y, w, h) is the face of
    ``box``: its centre inside ``box``, ``box``'s centre inside it, and a side
    within 1.6x of ``box``'s.

    >>> haar_agrees((100, 100, 60, 60), [(105, 108, 55, 55)])
    True
    >>> haar_agrees((100, 100, 60, 60), [(140, 100, 60, 60)])  # beside it
    False
    >>> haar_agrees((100, 100, 60, 60), [(120, 120, 20, 20)])  # an eye
    False
    """
    x, y, w, h = box
    side = max(w, h)
    for fx, fy, fw, fh in found:
        ratio = max(fw, fh) / max(side, 1)
        if not 1 / 1.6 < ratio < 1.6:
            continue
        cx, cy = fx + fw / 2, fy + fh / 2
        inside = x <= cx <= x + w and y <= cy <= y + h
        if inside and fx <= x + w / 2 <= fx + fw and fy <= y + h / 2 <= fy + fh:
            return True
    return False


def haar_confirms(grey: np.ndarray, box: PixelRect, cascade: cv2.CascadeClassifier) -> bool:
    """Whether the frontal ``cascade`` finds the face of a detection ``box`` in its
    crop (padded by half its side), scaled so the box is ``CONFIRM_WINDOW`` px, at
    the scales 1/1.6-1.6x the box (a few dozen windows' rows: ~0.1-0.3 ms)."""
    x, y, w, h = box
    side = max(w, h, 1)
    pad = side // 2
    x0, y0 = max(0, x - pad), max(0, y - pad)
    x1, y1 = min(grey.shape[1], x + w + pad), min(grey.shape[0], y + h + pad)
    if x1 - x0 < side or y1 - y0 < side:
        return False
    scale = CONFIRM_WINDOW / side
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    crop = cv2.resize(grey[y0:y1, x0:x1], None, fx=scale, fy=scale, interpolation=interpolation)
    least = max(20, round(CONFIRM_WINDOW / 1.6))
    most = round(CONFIRM_WINDOW * 1.6)
    rects = cascade.detectMultiScale(
        crop, scaleFactor=1.1, minNeighbors=3, minSize=(least, least), maxSize=(most, most)
    )
    found = [
        (x0 + round(fx / scale), y0 + round(fy / scale), round(fw / scale), round(fh / scale))
        for fx, fy, fw, fh in rects
    ]
    return haar_agrees(box, found)


# The largest face the Haar cascade looks for in still regions (the whole frame at the
# start and at cuts, the rolling scan): its scales of 20, 24 and 28.8 px, the sizes
# BlazeFace's recall is low at (under 28 px). Its 34.6- and 41.5-px scales cost ~23 %
# of the cascade's time there (up to ~0.3 s per whole 1080p frame on grass) and found no
# face BlazeFace did not (docs/face-blurring.md, issue 14o). Where something moves or a
# face is tracked the cascade still looks up to 1.5 × ``haar_below`` (42 px).
STILL_HAAR_UP_TO = 29


def _frontal_cascade(small: RegionDetector) -> cv2.CascadeClassifier:
    """``small``'s loaded frontal cascade (a ``MultiViewDetector``'s), or a new one."""
    own = getattr(small, "cascade", None)
    found = own("frontal") if callable(own) else None
    return found if found is not None else load_cascade("frontal")


class HybridDetector:
    """BlazeFace everywhere, plus Haar cascades for the smallest faces only.

    BlazeFace finds faces of every pose from about 28 px up, and faces cut by the
    frame's edge; below that its recall falls (20-px faces), where the frontal
    Haar cascade (a 20-px window) still sees them. So regions that ask for faces
    smaller than ``haar_below`` are also searched by ``small`` (a
    ``detection.MultiViewDetector``) for faces up to 1.5 × ``haar_below`` px where
    something moved or a face is tracked, and up to ``still_up_to`` px (the sizes
    BlazeFace does not see well) in still regions (``upright_only``: the whole frame
    at the start and at cuts, the rolling scan) —
    except still regions for which ``blaze`` has a ``scan_target``: there
    BlazeFace looks at the smallest faces enlarged further instead.
    """

    name = "blazeface+haar"

    def __init__(
        self,
        blaze: BlazeFaceDetector,
        small: RegionDetector,
        haar_below: int = 28,
        still_up_to: int | None = STILL_HAAR_UP_TO,
        confirm: bool = True,
    ) -> None:
        self.blaze = blaze
        self.small = small
        self.haar_below = haar_below
        self.still_up_to = still_up_to or haar_below * 3 // 2
        self.min_face = min(blaze.min_face, small.min_face)
        # The frontal cascade that confirms weak detections (``HAAR_CONFIRM``); None: off.
        # The small-face views' own when they have one: the same file, read once.
        self.confirm = _frontal_cascade(small) if confirm else None

    def second_look(self, grey: np.ndarray, rect: PixelRect, enough: float = 1.0) -> float:
        """BlazeFace's second look at a detection (``BlazeFaceDetector.second_look``)."""
        return self.blaze.second_look(grey, rect, enough)

    def search(
        self,
        grey: np.ndarray,
        regions: Sequence[PixelRect],
        smallest: Sequence[int] | None = None,
        upright_only: Sequence[bool] | None = None,
        prefer: Sequence[str | None] | None = None,
        largest: Sequence[int | None] | None = None,
    ) -> list[tuple[PixelRect, str]]:
        """``BlazeFaceDetector.search``, and the Haar views where small faces are wanted
        (not in still regions BlazeFace searches at its ``scan_target``)."""
        return self.search_extents(grey, regions, smallest, upright_only, prefer, largest)[0]

    def search_extents(
        self,
        grey: np.ndarray,
        regions: Sequence[PixelRect],
        smallest: Sequence[int] | None = None,
        upright_only: Sequence[bool] | None = None,
        prefer: Sequence[str | None] | None = None,
        largest: Sequence[int | None] | None = None,
        fine: Sequence[bool] | None = None,
    ) -> tuple[list[tuple[PixelRect, str]], dict[PixelRect, PixelRect]]:
        """``search``, and BlazeFace's extents of its faces (the Haar views' have none);
        ``fine``: as ``BlazeFaceDetector.search_extents``'."""
        found, extents = self.blaze.search_extents(
            grey, regions, smallest, upright_only, prefer, largest, fine
        )
        least = (
            [max(self.min_face, s) for s in smallest]
            if smallest
            else [self.min_face] * len(regions)
        )
        still = upright_only or [False] * len(regions)
        if grey.ndim == 3:  # (the Haar cascades read grey)
            grey = cv2.cvtColor(grey, cv2.COLOR_BGR2GRAY)
        if self.confirm is not None:
            low, high = HAAR_CONFIRM
            found = [
                (rect, CONFIRMED_VIEW)
                if view == "blazeface?"
                and low <= max(rect[2], rect[3]) <= high
                and haar_confirms(grey, rect, self.confirm)
                else (rect, view)
                for rect, view in found
            ]
        small = [
            i
            for i, s in enumerate(least)
            if s < self.haar_below and self.blaze.target_for(s, still[i]) == self.blaze.target
        ]
        # The tilted view (frontal cascade on turned copies, ~4x the upright cost)
        # where a new face may be: not around a face tracked upright (``prefer``).
        tracked = prefer or [None] * len(regions)
        upright = [
            bool(upright_only and upright_only[i])
            or (view is not None and view.rstrip("?") != "tilted")
            for i, view in enumerate(tracked)
        ]
        if small:
            haar = self.small.search(
                grey,
                [regions[i] for i in small],
                [least[i] for i in small],
                [upright[i] for i in small],
                None,
                [self.still_up_to if still[i] else self.haar_below * 3 // 2 for i in small],
            )
            # The tilted view (a weaker vote, turned copies) also finds texture and
            # parts of larger faces: its detections are weak (blurred once the next
            # pass finds them again), and none beside a face BlazeFace found of
            # another size (an eye, a cheek of that face).
            faces = np.array([r for r, view in found if view == "blazeface"], np.float64)
            for rect, view in haar:
                if view != "tilted":
                    found.append((rect, view))
                elif not (len(faces) and beside_other_size(np.array(rect, np.float64), faces)):
                    found.append((rect, "tilted?"))
        return found, extents


# With a width here, still regions (the whole frame at the start and at cuts, the
# rolling scan) would be searched for 20-28-px faces by BlazeFace with them scaled to
# it (28: 1.36x the pixels), instead of at ``target`` plus the Haar cascade: cheaper
# (the whole-frame search at 1080p 0.6-0.7 s whatever the background) but it finds
# other small faces than the hybrid, and a tuning seed lost one (docs/face-blurring.md,
# issue 14k). Off.
SCAN_TARGET: int | None = None
# Where something moved or a face is tracked (not still regions), regions asking for
# faces under 28 px are also searched by BlazeFace with the smallest face enlarged to
# this width (``BlazeFaceDetector.fine_target``; issue 14w).
FINE_TARGET: int | None = 40


def shared_detector() -> HybridDetector:
    """``default_detector()``, made on first use and kept for the life of the process
    (one per thread: OpenCV's cascades are not thread-safe).

    A warm container (and the benchmark, case after case) then neither reads the
    model and the cascades again (~0.05–0.1 s) nor pays onnxruntime's first use of
    its memory again: the first search of a whole 1080p frame takes ~400 MB of fresh
    memory, ~90 000 page faults and ~0.2–0.3 s of system time zeroing it — once
    per session. The detector keeps no state between videos.
    """
    detector: HybridDetector | None = getattr(_SHARED, "detector", None)
    if detector is None:
        detector = _SHARED.detector = default_detector()
    return detector


_SHARED = threading.local()


def default_detector(
    min_face: int = 20, scan_target: int | None = SCAN_TARGET, fine_target: int | None = FINE_TARGET
) -> HybridDetector:
    """The pipeline's detector: BlazeFace, and the frontal Haar cascade for faces under
    28 px (with ``scan_target``, only where something moved or a face is tracked);
    where something moved or a face is tracked, faces under 28 px are also looked for
    by BlazeFace enlarged to ``fine_target``."""
    from chalicelib.faces.detection import MultiViewDetector

    return HybridDetector(
        BlazeFaceDetector(min_face=min_face, scan_target=scan_target, fine_target=fine_target),
        MultiViewDetector(min_face=min_face, views=("frontal", "tilted")),
    )
