"""Face blurring end to end on the emulator: upload -> S3 event -> the ASL file run by
moto's Step Functions, its Lambda tasks answered by our handlers -> blurred video."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib import aws
from chalicelib.faces import handlers as workflow
from chalicelib.faces import video
from devtools.local.cloud import LocalCloud
from devtools.synthetic.faces import moving_face
from tests.integration.conftest import eventually, read_json

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(port=0, retry_delay=0) as running:
        yield running


def result_of(cloud: LocalCloud, key: str) -> dict:
    assert cloud.settings is not None
    s3 = aws.client("s3")
    return eventually(lambda: read_json(s3, cloud.settings.blurred_videos_bucket, key), 60)


def executions(cloud: LocalCloud) -> list[dict]:
    sfn = aws.client("stepfunctions")
    arn = workflow.default_workflow().state_machine_arn()
    return list(sfn.list_executions(stateMachineArn=arn)["executions"])


def states_entered(execution_arn: str) -> list[str]:
    events = aws.client("stepfunctions").get_execution_history(executionArn=execution_arn)["events"]
    return [
        e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e
    ]


def test_uploaded_video_is_blurred_through_the_state_machine(
    cloud: LocalCloud, tmp_path: Path
) -> None:
    assert cloud.settings is not None
    source = tmp_path / "clip.mp4"
    moving_face(source, frames=20, size=(320, 240), fps=10.0)
    aws.client("s3").upload_file(str(source), cloud.settings.videos_bucket, "lab/clip one.mp4")
    result = result_of(cloud, "lab/clip one.json")
    assert result["status"] == "ok" and result["frames"] == 20 and result["codec"] == "h264"
    assert result["faces_max_per_sample"] == 1 and result["face_boxes_blurred"] >= 20
    out = tmp_path / "out.mp4"
    aws.client("s3").download_file(
        cloud.settings.blurred_videos_bucket, "lab/clip one.mp4", str(out)
    )
    assert video.probe(out).width == 320 and len(list(video.frames(out))) == 20
    [execution] = [e for e in executions(cloud) if e["name"].startswith("clip-one")]
    assert eventually(
        lambda: (
            aws.client("stepfunctions").describe_execution(executionArn=execution["executionArn"])[
                "status"
            ]
            == "SUCCEEDED"
        )
    )
    entered = states_entered(execution["executionArn"])
    assert entered[:3] == ["StartFaceDetection", "WaitForDetection", "GetDetectionStatus"]
    assert entered[-3:] == ["GetFaceDetections", "BlurFaces", "Done"]
    # A duplicate event for the same object starts nothing new.
    assert (
        workflow.on_video_uploaded(cloud.settings.videos_bucket, "lab/clip one.mp4") == "duplicate"
    )
    assert len([e for e in executions(cloud) if e["name"].startswith("clip-one")]) == 1


def test_a_broken_video_ends_in_an_error_result(cloud: LocalCloud) -> None:
    assert cloud.settings is not None
    aws.client("s3").put_object(
        Bucket=cloud.settings.videos_bucket,
        Key="bad/broken.mp4",
        Body=b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 50,
    )
    result = result_of(cloud, "bad/broken.json")
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
    result = result_of(cloud, "misc/notes.json")
    assert result["error"]["type"] == "unsupported_type"
    assert not [e for e in executions(cloud) if e["name"].startswith("notes")]
    assert json.dumps(result)
