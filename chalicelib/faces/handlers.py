"""Zip-Lambda side of face blurring: start the workflow and its light task steps.

No OpenCV here. Detection with OpenCV, tracking, blurring and joining run in
the face-blur container function (the workflow's PlanSegments, BlurSegments and
JoinSegments states). These steps drive Amazon Rekognition when the stage's
``FACE_DETECTOR`` is ``rekognition``, and record failures. Every step takes the
workflow state and returns it updated.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from chalicelib import aws, observability
from chalicelib.config import PROJECT_DIR, Settings, get_settings
from chalicelib.errors import InvalidInput
from chalicelib.faces.messages import FaceBlurJob, Sample, execution_name, is_video_key
from chalicelib.faces.rekognition import RekognitionFaces
from chalicelib.storage import Bucket, is_folder_marker

log = logging.getLogger(__name__)

STATE_MACHINE_FILE = PROJECT_DIR / "statemachines" / "face-blur.asl.json"
# ASL substitution variable -> the @app.lambda_function it names (container: Settings field)
TASK_FUNCTIONS = {
    "StartFaceDetectionArn": "start_face_detection",
    "GetFaceDetectionStatusArn": "get_face_detection_status",
    "GetFaceDetectionsArn": "get_face_detections",
    "RecordFaceBlurFailureArn": "record_face_blur_failure",
}
CONTAINER_TASKS = {"FaceBlurFunctionArn": "face_blur_function"}


def state_machine_definition(arns: dict[str, str], path: Path = STATE_MACHINE_FILE) -> str:
    """The ASL file with ``${Name}`` placeholders replaced by function ARNs."""
    text = path.read_text()
    for name, arn in arns.items():
        text = text.replace("${" + name + "}", arn)
    if "${" in text:
        raise ValueError(f"unresolved placeholder in {path.name}")
    return text


class FaceBlurWorkflow:
    def __init__(
        self,
        settings: Settings,
        s3: Any,
        stepfunctions: Any,
        lambda_client: Any,
        rekognition: Any = None,
    ) -> None:
        self._settings = settings
        self._s3 = s3
        self._sfn = stepfunctions
        self._lambda = lambda_client
        self._rekognition = RekognitionFaces(rekognition) if rekognition is not None else None

    # -- the S3 trigger ---------------------------------------------------------------
    def on_video_uploaded(self, bucket: str, key: str) -> str:
        """Start one execution per uploaded object version; returns what happened."""
        if is_folder_marker(key):  # (``clips/``): no video, no result
            log.info("s3://%s/%s is a folder marker: not blurred", bucket, key)
            return "ignored"
        if not is_video_key(key):
            self._write_result(
                _job(self._settings, bucket, key, ""),
                {
                    "status": "error",
                    "bucket": bucket,
                    "key": key,
                    "error": {
                        "type": "unsupported_type",
                        "reason": "not a video: expected .mp4, .mov or .avi",
                    },
                },
            )
            return "rejected"
        head = Bucket(self._s3, bucket).head(key)
        if head is None:
            return "gone"
        observability.adopt(observability.from_metadata(head.get("Metadata")))
        etag = head["ETag"].strip('"')
        job = _job(self._settings, bucket, key, etag, head.get("VersionId"))
        job = replace(job, strict=job.strict or wants_strict(head.get("Metadata") or {}))
        name = execution_name(bucket, key, head.get("VersionId") or etag)
        try:
            self._sfn.start_execution(
                stateMachineArn=self.state_machine_arn(),
                name=name,
                input=json.dumps(job.to_state()),
            )
        except self._sfn.exceptions.ExecutionAlreadyExists:
            log.info("duplicate event for s3://%s/%s: execution %s exists", bucket, key, name)
            return "duplicate"
        log.info("face blurring s3://%s/%s: execution %s", bucket, key, name)
        return "started"

    def state_machine_arn(self) -> str:
        machines = self._sfn.get_paginator("list_state_machines").paginate()
        for page in machines:
            for machine in page["stateMachines"]:
                if machine["name"] == self._settings.face_blur_state_machine:
                    return str(machine["stateMachineArn"])
        raise RuntimeError(f"state machine {self._settings.face_blur_state_machine} not found")

    # -- the task steps -----------------------------------------------------------------
    def start_detection(self, job: FaceBlurJob) -> FaceBlurJob:
        """Rekognition only: OpenCV detection runs inside each segment task."""
        _require_rekognition(job)
        job_id = self._rekognition_faces().start(job.bucket, job.key, job.version_id)
        return job.with_detection(job_id=job_id, status="IN_PROGRESS")

    def detection_status(self, job: FaceBlurJob) -> FaceBlurJob:
        _require_rekognition(job)
        status, reason = self._rekognition_faces().status(job.detection.job_id)
        return job.with_detection(status=status, reason=reason)

    def face_detections(self, job: FaceBlurJob) -> FaceBlurJob:
        """Write Rekognition's detections to S3 as JSON; pass on only their key."""
        _require_rekognition(job)
        samples = self._rekognition_faces().samples(job.detection.job_id)
        key = job.work_prefix + "detections.json"
        document = {
            "status": "SUCCEEDED",
            "detector": "rekognition",
            "samples": [s.to_dict() for s in samples],
        }
        Bucket(self._s3, job.output_bucket).write_json(key, document)
        return FaceBlurJob.from_state({**job.to_state(), "detections_key": key})

    def record_failure(self, job: FaceBlurJob) -> FaceBlurJob:
        """Write the error result JSON next to where the output video would be."""
        error = dict(job.error or {})
        reason = error.get("Cause") or job.detection.reason or "face detection failed"
        kind = error.get("Error") or "DetectionFailed"
        observability.metric("Failures", 1, f"faces:{kind}")
        reason = _error_message(reason)
        self._write_result(
            job,
            {
                "status": "error",
                "bucket": job.bucket,
                "key": job.key,
                "etag": job.etag,
                "error": {"type": kind, "reason": str(reason)},
            },
        )
        return job

    # -- helpers ----------------------------------------------------------------------
    def _rekognition_faces(self) -> RekognitionFaces:
        return self._rekognition or RekognitionFaces(aws.client("rekognition"))

    def _write_result(self, job: FaceBlurJob, document: dict[str, Any]) -> None:
        Bucket(self._s3, job.output_bucket).write_json(job.result_key, document)


def _job(
    settings: Settings, bucket: str, key: str, etag: str, version_id: str | None = None
) -> FaceBlurJob:
    return FaceBlurJob(
        bucket=bucket,
        key=key,
        etag=etag,
        version_id=version_id,
        output_bucket=settings.blurred_videos_bucket,
        detector=settings.face_detector,
        poll_seconds=settings.face_poll_seconds,
        strict=settings.face_strict == "on",
        timeout_seconds=settings.face_segment_timeout_seconds,
        correlation_id=observability.correlation_id(),
    )


def wants_strict(metadata: dict[str, str]) -> bool:
    """Per upload: S3 user metadata ``face-strict: on`` (``x-amz-meta-face-strict``).

    >>> wants_strict({"face-strict": "On"}), wants_strict({})
    (True, False)
    """
    return metadata.get("face-strict", "").strip().lower() in ("on", "true", "yes", "1")


def _require_rekognition(job: FaceBlurJob) -> None:
    if job.detector != "rekognition":
        raise InvalidInput(f"the {job.detector!r} detector runs in the segment tasks")


def _error_message(cause: str) -> str:
    """A Lambda error's ``Cause`` is JSON with ``errorMessage``; anything else as is."""
    try:
        parsed = json.loads(cause)
    except (TypeError, ValueError):
        return cause
    return str(parsed.get("errorMessage", cause)) if isinstance(parsed, dict) else cause


def samples_from(document: dict[str, Any]) -> list[Sample]:
    return [Sample.from_dict(s) for s in document.get("samples", [])]


def default_workflow() -> FaceBlurWorkflow:
    return FaceBlurWorkflow(
        get_settings(), aws.client("s3"), aws.client("stepfunctions"), aws.client("lambda")
    )


def run_step(step: str, state: dict[str, Any]) -> dict[str, Any]:
    """Entry for the ``@app.lambda_function`` task steps: state in, state out."""
    job = FaceBlurJob.from_state(state)
    workflow = default_workflow()
    steps = {
        "start": workflow.start_detection,
        "status": workflow.detection_status,
        "faces": workflow.face_detections,
        "failure": workflow.record_failure,
    }
    if step not in steps:
        raise InvalidInput(f"unknown step {step!r}")
    return steps[step](job).to_state()


def on_video_uploaded(bucket: str, key: str) -> str:
    return default_workflow().on_video_uploaded(bucket, key)
