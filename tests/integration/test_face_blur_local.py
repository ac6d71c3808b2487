"""Face blurring end to end on the emulator: upload -> S3 event -> the ASL file run by
moto's Step Functions, its Lambda tasks answered by our handlers -> blurred video."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from chalicelib import aws
from chalicelib.faces import handlers, video
from chalicelib.faces.messages import FaceBlurJob
from devtools.local.cloud import LocalCloud
from devtools.synthetic.faces import moving_face, psnr, sharpness, with_tone
from tests.integration.conftest import eventually, read_json

pytestmark = pytest.mark.integration


SEGMENT_SECONDS = "1"  # short segments: a 4 s test video becomes four Map items


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    saved = os.environ.get("FACE_SEGMENT_SECONDS")
    os.environ["FACE_SEGMENT_SECONDS"] = SEGMENT_SECONDS
    try:
        with LocalCloud(port=0, retry_delay=0) as running:
            yield running
    finally:
        if saved is None:
            os.environ.pop("FACE_SEGMENT_SECONDS", None)
        else:
            os.environ["FACE_SEGMENT_SECONDS"] = saved


def result_of(cloud: LocalCloud, key: str, timeout: float = 90) -> dict:
    assert cloud.settings is not None
    s3 = aws.client("s3")
    return eventually(lambda: read_json(s3, cloud.settings.blurred_videos_bucket, key), timeout)


def executions(cloud: LocalCloud) -> list[dict]:
    sfn = aws.client("stepfunctions")
    arn = handlers.default_workflow().state_machine_arn()
    return list(sfn.list_executions(stateMachineArn=arn)["executions"])


def history(execution_arn: str) -> list[dict]:
    sfn = aws.client("stepfunctions")
    return list(sfn.get_execution_history(executionArn=execution_arn)["events"])


def states_entered(execution_arn: str) -> list[str]:
    return [
        e["stateEnteredEventDetails"]["name"]
        for e in history(execution_arn)
        if "stateEnteredEventDetails" in e
    ]


def finished(execution_arn: str, status: str) -> bool:
    sfn = aws.client("stepfunctions")
    return bool(sfn.describe_execution(executionArn=execution_arn)["status"] == status)


def test_a_video_is_blurred_in_segments_through_the_map_state(
    cloud: LocalCloud, tmp_path: Path
) -> None:
    assert cloud.settings is not None
    silent = tmp_path / "silent.mp4"
    faces = moving_face(silent, frames=40, size=(320, 240), fps=10.0)
    source = tmp_path / "clip.mp4"
    with_tone(silent, source)
    aws.client("s3").upload_file(str(source), cloud.settings.videos_bucket, "lab/clip one.mp4")
    result = result_of(cloud, "lab/clip one.mp4.json")
    assert result["status"] == "ok", result
    assert result["frames"] == 40 and result["segments"] == 4 and result["codec"] == "h264"
    assert result["faces_max_per_frame"] >= 1 and result["face_boxes_blurred"] >= 40
    out = tmp_path / "out.mp4"
    bucket = cloud.settings.blurred_videos_bucket
    aws.client("s3").download_file(bucket, "lab/clip one.mp4.blurred.mp4", str(out))
    # Every frame once, in order (a frame shifted across a seam would leave its face sharp),
    # the background untouched, the audio as long as the video (no drift).
    original, blurred = list(video.frames(source)), list(video.frames(out))
    assert len(blurred) == 40
    for (x0, y0, x1, y1), a, b in zip(faces, original, blurred, strict=True):
        assert sharpness(b[y0:y1, x0:x1]) < 0.1 * sharpness(a[y0:y1, x0:x1])
        keep = np.ones(a.shape[:2], bool)
        w, h = x1 - x0, y1 - y0
        keep[max(0, y0 - h) : y1 + h, max(0, x0 - w) : x1 + w] = False
        assert psnr(a[keep], b[keep]) >= 35
    audio = video.audio_duration(out)
    assert audio is not None and abs(audio - 4.0) < 0.1
    review = aws.client("s3").get_object(Bucket=bucket, Key="lab/clip one.mp4.review.png")
    assert review["Body"].read()[:4] == b"\x89PNG"
    [execution] = [e for e in executions(cloud) if e["name"].startswith("clip-one")]
    arn = execution["executionArn"]
    assert eventually(lambda: finished(arn, "SUCCEEDED"))
    entered = states_entered(arn)
    assert entered[:3] == ["WhichDetector?", "PlanSegments", "BlurSegments"]
    assert entered.count("BlurSegment") == 4  # the Map's iterations, in the history
    assert entered[-2:] == ["JoinSegments", "Done"]
    # A duplicate event for the same object starts nothing new.
    assert handlers.on_video_uploaded(
        bucket=cloud.settings.videos_bucket, key="lab/clip one.mp4"
    ) == ("duplicate")
    assert len([e for e in executions(cloud) if e["name"].startswith("clip-one")]) == 1


def test_a_segment_that_runs_past_its_timeout_ends_the_run_with_an_error(
    cloud: LocalCloud, tmp_path: Path
) -> None:
    """A hung or slow detector: the Task's TimeoutSecondsPath fails it; RecordFailure runs."""
    assert cloud.settings is not None
    source = tmp_path / "long.mp4"
    # 2 segments of 60 frames at 720p: several seconds of work each, far over the 1-s
    # timeout on any machine (12 frames, 6 a segment, took under 1 s on a fast one)
    moving_face(source, frames=120, size=(1280, 720), fps=60.0)
    aws.client("s3").upload_file(str(source), cloud.settings.videos_bucket, "slow/long.mp4")
    head = aws.client("s3").head_object(Bucket=cloud.settings.videos_bucket, Key="slow/long.mp4")
    job = FaceBlurJob(
        bucket=cloud.settings.videos_bucket,
        key="slow/long.mp4",
        etag=head["ETag"].strip('"'),
        output_bucket=cloud.settings.blurred_videos_bucket,
        detector="opencv",
        poll_seconds=1,
        timeout_seconds=1,  # far less than a 720p segment takes
    )
    sfn = aws.client("stepfunctions")
    started = time.monotonic()
    arn = sfn.start_execution(
        stateMachineArn=handlers.default_workflow().state_machine_arn(),
        name="slow-run",
        input=json.dumps(job.to_state()),
    )["executionArn"]
    result = result_of(cloud, "slow/long.mp4.json", timeout=60)
    assert result["status"] == "error" and "States.Timeout" in json.dumps(result)
    assert eventually(lambda: finished(arn, "FAILED"), 30)
    assert time.monotonic() - started < 60
    assert states_entered(arn)[-2:] == ["RecordFailure", "Failed"]


def test_a_broken_video_ends_in_an_error_result(cloud: LocalCloud) -> None:
    assert cloud.settings is not None
    aws.client("s3").put_object(
        Bucket=cloud.settings.videos_bucket,
        Key="bad/broken.mp4",
        Body=b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 50,
    )
    result = result_of(cloud, "bad/broken.mp4.json")
    assert result["status"] == "error" and "video" in result["error"]["reason"]
    [execution] = [e for e in executions(cloud) if e["name"].startswith("broken")]
    eventually(
        lambda: (
            aws.client("stepfunctions").describe_execution(executionArn=execution["executionArn"])[
                "status"
            ]
            == "FAILED"
        )
    )
    assert states_entered(execution["executionArn"])[-2:] == ["RecordFailure", "Failed"]


def test_not_a_video_extension_is_answered_without_a_workflow(cloud: LocalCloud) -> None:
    assert cloud.settings is not None
    aws.client("s3").put_object(
        Bucket=cloud.settings.videos_bucket, Key="misc/notes.txt", Body=b"hello"
    )
    result = result_of(cloud, "misc/notes.txt.json")
    assert result["error"]["type"] == "unsupported_type"
    assert not [e for e in executions(cloud) if e["name"].startswith("notes")]
    assert json.dumps(result)
