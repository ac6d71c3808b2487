"""Container side of face blurring: detect (our OpenCV job) and blur, on S3 objects.

``handle_face_blur`` is the entry point of the face-blur container function
(``containers/face-blur``); locally the emulator calls it in-process.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from chalicelib import aws
from chalicelib.config import Settings, get_settings
from chalicelib.errors import InvalidInput
from chalicelib.faces import process
from chalicelib.faces.detection import HaarFaceDetector, blur_boxes
from chalicelib.faces.handlers import samples_from
from chalicelib.faces.messages import FaceBlurJob
from chalicelib.storage import Bucket

log = logging.getLogger(__name__)


class FaceBlurService:
    def __init__(self, settings: Settings, s3: Any) -> None:
        self._settings = settings
        self._s3 = s3

    def detect(self, job: FaceBlurJob) -> dict[str, Any]:
        """Run our detector as an asynchronous job; its status document is its result.

        Failures are recorded in the document (the workflow polls it and records
        the error result), so a detection never leaves the workflow waiting.
        """
        key = job.work_prefix + "detections.json"
        try:
            with tempfile.TemporaryDirectory() as folder:
                source = self._download(job, Path(folder))
                found = process.detect(
                    source,
                    HaarFaceDetector(),
                    sample_hz=self._settings.face_sample_hz,
                    max_seconds=self._settings.max_video_seconds,
                )
            document: dict[str, Any] = {
                "status": "SUCCEEDED",
                "detector": "opencv",
                "frames": found.frames,
                "fps": found.info.fps,
                "samples": [s.to_dict() for s in found.samples],
            }
        except InvalidInput as error:
            document = {"status": "FAILED", "reason": str(error)}
        except Exception as error:
            log.exception("face detection failed for s3://%s/%s", job.bucket, job.key)
            document = {"status": "FAILED", "reason": f"internal error: {error}"}
        self._put_json(job.output_bucket, key, document)
        return document

    def blur(self, job: FaceBlurJob) -> dict[str, Any]:
        """Blur every detected face; write the video and its result JSON. Returns the state."""
        started = time.perf_counter()
        detections = json.loads(
            self._s3.get_object(Bucket=job.output_bucket, Key=job.detections_key)["Body"].read()
        )
        samples = samples_from(detections)
        with tempfile.TemporaryDirectory() as folder:
            source = self._download(job, Path(folder))
            info = process.check_video(source, self._settings.max_video_seconds)
            target = Path(folder) / "blurred.mp4"
            done = process.blur(source, target, samples, info)
            self._s3.upload_file(
                str(target),
                job.output_bucket,
                job.output_key,
                ExtraArgs={"ContentType": "video/mp4"},
            )
        result = {
            "status": "ok",
            "bucket": job.bucket,
            "key": job.key,
            "etag": job.etag,
            "output": {"bucket": job.output_bucket, "key": job.output_key},
            "detector": job.detector,
            "frames": done.frames,
            "width": info.width,
            "height": info.height,
            "fps": info.fps,
            "codec": done.codec,
            "faces_max_per_sample": max((len(s.boxes) for s in samples), default=0),
            "face_boxes_blurred": done.boxes_blurred,
            "samples": len(samples),
            "elapsed_ms": round((time.perf_counter() - started) * 1e3, 1),
            "timings_ms": done.timings.as_ms(),
        }
        self._put_json(job.output_bucket, job.result_key, result)
        return {**job.to_state(), "result": {k: result[k] for k in ("output", "frames", "codec")}}

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


def handle_face_blur(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Lambda entry point of the face-blur container function.

    ``action``: ``detect`` (our detector, as an asynchronous job), ``blur`` (the
    workflow's task; the default) or ``blur_image`` (one image, for the workers).
    """
    if not isinstance(event, dict):
        raise InvalidInput("the event must be a JSON object")
    action = event.get("action", "blur")
    service = FaceBlurService(get_settings(), aws.client("s3"))
    if action == "blur_image":
        return service.blur_image(str(event["bucket"]), str(event["key"]))
    job = FaceBlurJob.from_state({k: v for k, v in event.items() if k != "action"})
    if action == "detect":
        return service.detect(job)
    if action == "blur":
        return service.blur(job)
    raise InvalidInput(f"unknown action {action!r}")
