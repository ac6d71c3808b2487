"""What crosses a boundary in the face-blurring pipeline: the workflow's state."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import PurePosixPath
from typing import Any

from chalicelib.errors import InvalidInput

VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi")

Box = tuple[float, float, float, float]  # left, top, width, height, relative to the frame


@dataclass(frozen=True)
class Sample:
    t_ms: float
    boxes: tuple[Box, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "t_ms": round(self.t_ms, 1),
            "boxes": [[round(v, 5) for v in b] for b in self.boxes],
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Sample:
        boxes = tuple(tuple(float(v) for v in box) for box in data["boxes"])  # type: ignore[attr-defined]
        return cls(float(data["t_ms"]), boxes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Detection:
    job_id: str = ""
    status: str = ""  # IN_PROGRESS | SUCCEEDED | FAILED
    reason: str = ""


@dataclass(frozen=True)
class FaceBlurJob:
    """The Step Functions state: small, only S3 keys, passed from task to task."""

    bucket: str
    key: str
    etag: str
    output_bucket: str
    detector: str
    poll_seconds: int
    version_id: str | None = None
    detection: Detection = field(default_factory=Detection)
    detections_key: str | None = None
    strict: bool = False  # over-blur when unsure (per stage, or per upload: metadata)
    timeout_seconds: int = 600  # a segment task that runs longer is failed (ASL path)
    segments: list[Mapping[str, Any]] | None = None  # Map items: ``SegmentTask`` states
    parts: list[Mapping[str, Any]] | None = None  # the Map's results, one per segment
    result: Mapping[str, Any] | None = None
    error: Mapping[str, Any] | None = None
    correlation_id: str = ""  # chalicelib/observability.py: follows the video to its result

    @property
    def output_key(self) -> str:
        """``a/b/clip.mov`` → ``a/b/clip.mov.blurred.mp4`` (in the output bucket)."""
        return output_names(self.key)["output"]

    @property
    def result_key(self) -> str:
        """The JSON result (success or error) sits next to the output video."""
        return output_names(self.key)["result"]

    @property
    def review_key(self) -> str:
        """The review sheet (PNG contact sheet) sits next to the output video."""
        return output_names(self.key)["review"]

    @property
    def work_prefix(self) -> str:
        return f"_work/{self.key}/{self.etag}/"

    def without_lists(self) -> dict[str, Any]:
        """The state minus the Map's items and results (what one segment task needs)."""
        state = self.to_state()
        state.pop("segments", None)
        state.pop("parts", None)
        return state

    def with_detection(self, **changes: str) -> FaceBlurJob:
        return replace(self, detection=replace(self.detection, **changes))

    def to_state(self) -> dict[str, Any]:
        state = asdict(self)
        return {k: v for k, v in state.items() if v is not None}

    @classmethod
    def from_state(cls, state: Any) -> FaceBlurJob:
        if not isinstance(state, Mapping):
            raise InvalidInput("the workflow state must be a JSON object")
        try:
            values = dict(state)
            values["detection"] = Detection(**(values.get("detection") or {}))
            return cls(**values)
        except TypeError as exc:
            raise InvalidInput(f"malformed workflow state: {exc}") from exc


def output_names(key: str) -> dict[str, str]:
    """Where an upload's outputs go in the output bucket: the whole key plus a suffix.

    The key is used as it is (no path normalisation, the extension kept), so distinct
    uploads never share an output — ``clip.mov`` and ``clip.mp4``, ``a//b.mp4`` and
    ``a/b.mp4``, ``a.mp4/`` and ``a.mp4`` — and keys without a name (``/``, ``.``) still
    have somewhere to put their error.

    >>> output_names("a/clip.mov")["output"], output_names("a/clip.mov")["result"]
    ('a/clip.mov.blurred.mp4', 'a/clip.mov.json')
    """
    return {
        "output": f"{key}.blurred.mp4",
        "result": f"{key}.json",
        "review": f"{key}.review.png",
    }


def is_video_key(key: str) -> bool:
    return PurePosixPath(key).suffix.lower() in VIDEO_EXTENSIONS


def execution_name(bucket: str, key: str, version: str) -> str:
    """A Step Functions execution name that is the same for the same object version,
    so a duplicate S3 event cannot start a second run (≤ 80 chars of [A-Za-z0-9-_]).

    >>> execution_name("b", "dir/My clip.mp4", "e1")[:12]
    'My-clip-mp4-'
    """
    digest = hashlib.sha256(f"{bucket}/{key}#{version}".encode()).hexdigest()[:32]
    readable = re.sub(r"[^A-Za-z0-9_-]+", "-", PurePosixPath(key).name)[:40].strip("-")
    return f"{readable}-{digest}"


@dataclass(frozen=True)
class SegmentTask:
    """One item of the workflow's Map state: blur frames ``start`` .. ``start + count``."""

    job: FaceBlurJob
    index: int
    start: int
    count: int
    context: int  # frames read on each side for tracking, not written
    timeout_seconds: int
    at: float | None = None  # seconds where reading starts is sought (``video.seek_time``)

    @property
    def part_key(self) -> str:
        return f"{self.job.work_prefix}part-{self.index:04d}.mp4"

    @property
    def review_key(self) -> str:
        return f"{self.job.work_prefix}part-{self.index:04d}.review.png"

    def to_state(self) -> dict[str, Any]:
        return {
            "action": "segment",
            "job": self.job.without_lists(),
            "index": self.index,
            "start": self.start,
            "count": self.count,
            "context": self.context,
            "timeout_seconds": self.timeout_seconds,
            **({"at": self.at} if self.at is not None else {}),
            "correlation_id": self.job.correlation_id,  # read by the function's logging
        }

    @classmethod
    def from_state(cls, state: Any) -> SegmentTask:
        if not isinstance(state, Mapping) or not isinstance(state.get("job"), Mapping):
            raise InvalidInput("a segment task must be a JSON object with a job")
        try:
            return cls(
                job=FaceBlurJob.from_state(state["job"]),
                index=int(state["index"]),
                start=int(state["start"]),
                count=int(state["count"]),
                context=int(state.get("context", 0)),
                timeout_seconds=int(state.get("timeout_seconds", 600)),
                at=None if state.get("at") is None else float(state["at"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"malformed segment task: {exc}") from exc


def plan_segments(frames: int, per_segment: int) -> list[tuple[int, int]]:
    """(start, count) of consecutive segments covering ``frames``, none over ``per_segment``,
    all about the same length.

    >>> plan_segments(10, 4)
    [(0, 4), (4, 3), (7, 3)]
    >>> plan_segments(0, 4)
    []
    """
    if frames <= 0:
        return []
    count = -(-frames // max(1, per_segment))
    base, extra = divmod(frames, count)
    segments, start = [], 0
    for number in range(count):
        length = base + (1 if number < extra else 0)
        segments.append((start, length))
        start += length
    return segments
