"""Container side of face blurring: plan segments, blur one segment, join them; on S3 objects.

``handle_face_blur`` is the entry point of the face-blur container function
(``containers/face-blur``); locally the emulator calls it in-process. The
workflow (``statemachines/face-blur.asl.json``) calls it three ways:

- ``plan``: probe the video, refuse what must not be done, split it into
  segments that one invocation blurs well within Lambda's limits;
- ``segment`` (the Map state's items): detect, track and blur one segment, with
  context frames either side so tracking and holding see across the cut;
- ``join``: concatenate the segments without re-encoding, lay the source's audio
  over them in one piece, write the video, its review sheet and result JSON.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from chalicelib import aws, observability
from chalicelib.config import Settings, get_settings
from chalicelib.errors import CorruptInput, InvalidInput, TooLarge
from chalicelib.faces import process, video
from chalicelib.faces.blazeface import shared_detector
from chalicelib.faces.detection import HaarFaceDetector, blur_boxes
from chalicelib.faces.handlers import samples_from
from chalicelib.faces.messages import FaceBlurJob, SegmentTask, plan_segments
from chalicelib.faces.tracking import CoverageSettings
from chalicelib.storage import Bucket

log = logging.getLogger(__name__)

# Tracking and holding need this much video either side of a segment (seconds).
CONTEXT_SECONDS = 1.5

# Step Functions takes 256 KiB of state per step; past it the execution fails with
# States.DataLimitExceeded, which no Catch takes (RecordFailure never runs, no result).
# The plan refuses a video whose join input could pass it (an upper estimate).
MAX_STATE_BYTES = 250_000
# A segment's summary (``FaceBlurService.segment``) without its two keys, numbers at their widest.
PART_BYTES = 320  # (304 with every number at its widest: 5-digit index, 11-digit counts)


class FaceBlurService:
    def __init__(self, settings: Settings, s3: Any) -> None:
        self._settings = settings
        self._s3 = s3

    # -- plan -------------------------------------------------------------------------
    def plan(self, job: FaceBlurJob) -> dict[str, Any]:
        """The state with ``segments``: the Map's items."""
        with tempfile.TemporaryDirectory() as folder:
            source = self._download(job, Path(folder))
            info, times = process.checked_video(source, self._settings.max_video_seconds)
        per_segment = segment_frames(self._settings, info)
        context = math.ceil(CONTEXT_SECONDS * info.fps)
        items = [
            SegmentTask(
                job,
                number,
                start,
                count,
                context,
                job.timeout_seconds,
                # each frame's own time: at a variable rate frame i is not at i / fps
                video.seek_time(times, max(0, start - context)),
            ).to_state()
            for number, (start, count) in enumerate(plan_segments(info.frames, per_segment))
        ]
        if not items:
            raise InvalidInput("the video has no frames")
        state = {**job.to_state(), "segments": items}
        size = state_bytes(FaceBlurJob.from_state(state))
        if size > MAX_STATE_BYTES:
            raise TooLarge(
                f"the video needs {len(items)} segments of {per_segment} frames "
                f"({info.width}x{info.height} at {info.fps:.4g} fps): the workflow's state "
                f"would reach ~{size // 1000} kB, over the {MAX_STATE_BYTES // 1000} kB "
                "it may hold"
            )
        return state

    # -- one segment ------------------------------------------------------------------
    def segment(self, task: SegmentTask) -> dict[str, Any]:
        """Blur one segment; upload it and its review sheet; return a short summary."""
        job = task.job
        strict = CoverageSettings.for_mode(job.strict)
        with tempfile.TemporaryDirectory() as folder:
            source = self._download(job, Path(folder))
            info = video.probe(source)
            target = Path(folder) / "part.mp4"
            part = process.Segment(task.start, task.count, task.context, task.at)
            if job.detector == "rekognition":
                done = self._blur_samples(job, source, target, info, part)
            else:
                done = process.anonymise(
                    source, target, shared_detector(), info, settings=strict, segment=part
                )
            if done.frames < task.count:  # the index promised frames the data does not hold
                raise CorruptInput(
                    f"the video is truncated or corrupt: segment {task.index} read "
                    f"{done.frames} of its {task.count} frames (from frame {task.start})"
                )
            if done.frames != task.count:
                raise RuntimeError(
                    f"segment {task.index}: {done.frames} frames written, {task.count} expected"
                )
            bucket = Bucket(self._s3, job.output_bucket)
            bucket.upload(target, task.part_key)
            if done.review_png:
                bucket.put_bytes(task.review_key, done.review_png, "image/png")
        return {
            "index": task.index,
            "key": task.part_key,
            "review_key": task.review_key if done.review_png else None,
            "frames": done.frames,
            "rects_blurred": done.rects_blurred,
            "frames_fully_blurred": done.stats.frames_fully_blurred,
            "tracks": done.stats.tracks,
            "max_faces": done.stats.max_faces,
            "timings_ms": done.timings.as_ms(),
        }

    def _blur_samples(
        self,
        job: FaceBlurJob,
        source: Path,
        target: Path,
        info: video.VideoInfo,
        part: process.Segment,
    ) -> process.Anonymised:
        if not job.detections_key:
            raise InvalidInput("no detections for a rekognition segment")
        detections = Bucket(self._s3, job.output_bucket).read_json(job.detections_key) or {}
        # each frame's own time: Rekognition's are real, and at a variable rate frame i
        # is not at i / fps (its boxes would land on other frames)
        times = self._times(source, info)
        return process.blur_samples(
            source, target, samples_from(detections), info, part, times=times
        )

    def _times(self, source: Path, info: video.VideoInfo) -> list[float | None] | None:
        """The source's frames' own times (``video.packet_times``), up to the length limit."""
        return video.packet_times(source, int(self._settings.max_video_seconds * info.fps) + 1)

    # -- join -------------------------------------------------------------------------
    def join(self, job: FaceBlurJob) -> dict[str, Any]:
        """Join the segments in order; write the video, review sheet and result JSON."""
        started = time.perf_counter()
        parts = sorted(job.parts or [], key=lambda p: int(p["index"]))
        if not parts or len(parts) != len(job.segments or []):
            raise InvalidInput("the segments are missing or incomplete")
        bucket = Bucket(self._s3, job.output_bucket)
        with tempfile.TemporaryDirectory() as folder:
            source = self._download(job, Path(folder))
            info = video.probe(source)
            files = []
            for part in parts:
                path = Path(folder) / f"part-{int(part['index']):04d}.mp4"
                bucket.download(str(part["key"]), path)
                files.append(path)
            target = Path(folder) / "blurred.mp4"
            # each frame's own time: a variable-rate source's frames are shown when it shows them
            times = self._times(source, info)
            video.join(files, target, audio_from=source, times=times)
            self._s3.upload_file(
                str(target),
                job.output_bucket,
                job.output_key,
                ExtraArgs={
                    "ContentType": "video/mp4",
                    "Metadata": observability.object_metadata(None),
                },
            )
            sheets = [bucket.get_bytes(str(p["review_key"])) for p in parts if p.get("review_key")]
            if sheets:
                bucket.put_bytes(job.review_key, stack_sheets(sheets), "image/png")
        result = self._result(job, info, parts, time.perf_counter() - started)
        bucket.write_json(job.result_key, result)
        for part in parts:
            bucket.delete(str(part["key"]))
        log.info("blurred %d frames of s3://%s/%s", result["frames"], job.bucket, job.key)
        if info.fps:
            observability.metric("VideoSecondsBlurred", round(result["frames"] / info.fps, 3))
        return {
            **job.without_lists(),
            "result": {k: result[k] for k in ("output", "frames", "segments", "review")},
        }

    def _result(
        self, job: FaceBlurJob, info: video.VideoInfo, parts: list[Any], join_s: float
    ) -> dict[str, Any]:
        def total(name: str) -> int:
            return sum(int(p[name]) for p in parts)

        return {
            "status": "ok",
            "bucket": job.bucket,
            "key": job.key,
            "etag": job.etag,
            "output": {"bucket": job.output_bucket, "key": job.output_key},
            "review": {"bucket": job.output_bucket, "key": job.review_key},
            "detector": job.detector,
            "strict": job.strict,
            "frames": total("frames"),
            "width": info.width,
            "height": info.height,
            "fps": info.fps,
            "codec": video.output_codec(),
            "segments": len(parts),
            "face_boxes_blurred": total("rects_blurred"),
            "frames_fully_blurred": total("frames_fully_blurred"),
            "faces_max_per_frame": max(int(p["max_faces"]) for p in parts),
            "segment_timings_ms": [p["timings_ms"] for p in parts],
            "join_ms": round(join_s * 1e3, 1),
        }

    def blur_image(self, bucket: str, key: str) -> dict[str, Any]:
        """Blur every face in one image; write it to the output bucket under the same key."""
        from chalicelib.cells import imaging

        body = self._s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        image, _header = imaging.decode(body, max_pixels=100_000_000)
        frame = imaging.to_bgr(image)
        faces = HaarFaceDetector(width=min(640, frame.shape[1])).detect(frame)
        blur_boxes(frame, faces)
        output = self._settings.blurred_videos_bucket
        Bucket(self._s3, output).put_bytes(
            key,
            imaging.encode(frame, key),
            "image/jpeg" if key.lower().endswith((".jpg", ".jpeg")) else "image/png",
        )
        return {"faces": len(faces), "output": f"s3://{output}/{key}"}

    def _download(self, job: FaceBlurJob, folder: Path) -> Path:
        path = folder / ("source" + Path(job.key).suffix.lower())
        extra = {"VersionId": job.version_id} if job.version_id else None
        self._s3.download_file(job.bucket, job.key, str(path), ExtraArgs=extra)
        return path

    def _put_json(self, bucket: str, key: str, document: dict[str, Any]) -> None:
        Bucket(self._s3, bucket).write_json(key, document)


def segment_frames(settings: Settings, info: video.VideoInfo) -> int:
    """Frames per segment: ``FACE_SEGMENT_SECONDS`` when set, else as many as one core
    blurs in ``FACE_SEGMENT_BUDGET_SECONDS`` at the measured ``FACE_PIXEL_RATE``
    (pixels per second, end to end), context frames included — well inside Lambda's 900 s.

    When the context would take most of the budget (4K: 86 frames of budget, 90 of
    context), a segment may take up to twice the budget so that it writes as many frames
    as it reads for context — not 1 frame per 91 read, a plan of thousands of segments.

    >>> from chalicelib.config import Settings
    >>> segment_frames(Settings(), video.VideoInfo(1920, 1080, 30.0, 18000))
    257
    >>> segment_frames(Settings(), video.VideoInfo(3840, 2160, 30.0, 18000))
    82
    """
    if settings.face_segment_seconds > 0:
        return max(1, round(settings.face_segment_seconds * info.fps))
    per_frame = info.width * info.height
    budget = int(settings.face_pixel_rate * settings.face_segment_budget_seconds / per_frame)
    context = 2 * math.ceil(CONTEXT_SECONDS * info.fps)  # read and tracked, not written
    return max(1, budget - context, min(context, 2 * budget - context))


def state_bytes(job: FaceBlurJob) -> int:
    """At most the bytes of JSON JoinSegments receives for ``job``'s plan: the plan's state
    (its ``segments``) and the Map's results, one summary per segment.

    >>> job = FaceBlurJob("b", "clip.mp4", "e", "out", "opencv", 1)
    >>> state_bytes(job) == len(json.dumps(job.to_state()))
    True
    """
    tasks = [SegmentTask.from_state(item) for item in job.segments or []]
    parts = sum(len(json.dumps([t.part_key, t.review_key])) + PART_BYTES for t in tasks)
    return len(json.dumps(job.to_state())) + parts


def stack_sheets(sheets: list[bytes]) -> bytes:
    """One PNG of the segments' review sheets, one under the other."""
    images = [
        np.asarray(cv2.imdecode(np.frombuffer(s, np.uint8), cv2.IMREAD_COLOR)) for s in sheets
    ]
    width = max(i.shape[1] for i in images)
    padded = [
        cv2.copyMakeBorder(i, 0, 2, 0, width - i.shape[1], cv2.BORDER_CONSTANT) for i in images
    ]
    ok, encoded = cv2.imencode(".png", np.vstack(padded))
    if not ok:
        raise RuntimeError("could not encode the review sheet")
    return bytes(encoded.tobytes())


@observability.instrumented("faces")
def handle_face_blur(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Lambda entry point of the face-blur container function.

    ``action``: ``plan`` and ``join`` (state in ``state``), ``segment`` (a Map
    item) or ``blur_image`` (one image, for the workers).
    """
    if not isinstance(event, dict):
        raise InvalidInput("the event must be a JSON object")
    action = event.get("action")
    service = FaceBlurService(get_settings(), aws.client("s3"))
    if action == "blur_image":
        return service.blur_image(str(event["bucket"]), str(event["key"]))
    if action == "segment":
        return service.segment(SegmentTask.from_state(event))
    if action in ("plan", "join"):
        job = FaceBlurJob.from_state(event.get("state"))
        return service.plan(job) if action == "plan" else service.join(job)
    raise InvalidInput(f"unknown action {action!r}")
