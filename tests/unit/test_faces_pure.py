"""Face blurring's pure parts: boxes across frames, the workflow state, the ASL file."""

from __future__ import annotations

import json

import numpy as np
import pytest
from botocore.stub import Stubber

from chalicelib.faces.detection import blur_boxes, boxes_for, to_pixels
from chalicelib.faces.handlers import (
    CONTAINER_TASKS,
    STATE_MACHINE_FILE,
    TASK_FUNCTIONS,
    state_machine_definition,
)
from chalicelib.faces.messages import FaceBlurJob, Sample, execution_name, is_video_key
from chalicelib.faces.rekognition import RekognitionFaces

SAMPLES = [
    Sample(0, ((0.1, 0.1, 0.2, 0.2),)),
    Sample(200, ((0.5, 0.1, 0.2, 0.2),)),
    Sample(400, ()),
]


@pytest.mark.parametrize("t, expected", [(0, 1), (100, 2), (200, 1), (300, 1), (500, 0)])
def test_frames_between_samples_get_both_neighbours_boxes(t: float, expected: int) -> None:
    assert len(boxes_for(SAMPLES, t)) == expected


def test_boxes_are_padded_and_clamped() -> None:
    assert to_pixels((0.0, 0.0, 0.5, 0.5), 100, 100, pad=0.2) == (0, 0, 60, 60)
    assert to_pixels((0.9, 0.9, 0.5, 0.5), 100, 100, pad=0.0) == (90, 90, 100, 100)
    x0, y0, x1, y1 = to_pixels((2.0, 2.0, 0.1, 0.1), 100, 100)
    assert x1 <= x0 or y1 <= y0  # off-frame: empty


def test_blur_changes_only_the_padded_box() -> None:
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (100, 100, 3), np.uint8)
    before = frame.copy()
    assert blur_boxes(frame, [(0.4, 0.4, 0.2, 0.2)], pad=0.25) == 1
    changed = np.any(frame != before, axis=2)
    ys, xs = np.nonzero(changed)
    assert ys.min() >= 35 and ys.max() < 65 and xs.min() >= 35 and xs.max() < 65
    assert frame[40:60, 40:60].std() < before[40:60, 40:60].std() / 3


def test_state_round_trips_and_names_outputs() -> None:
    job = FaceBlurJob("in", "clips/a b.mov", "e1", "out", "opencv", 1)
    again = FaceBlurJob.from_state(json.loads(json.dumps(job.to_state())))
    assert again == job
    assert job.output_key == "clips/a b.mov.blurred.mp4"
    assert job.result_key == "clips/a b.mov.json"
    assert job.with_detection(status="SUCCEEDED").detection.status == "SUCCEEDED"


def test_execution_name_is_stable_and_valid() -> None:
    name = execution_name("b", "x/" + "long name " * 20 + ".mp4", "v1")
    assert name == execution_name("b", "x/" + "long name " * 20 + ".mp4", "v1")
    assert name != execution_name("b", "x/" + "long name " * 20 + ".mp4", "v2")
    assert len(name) <= 80 and all(c.isalnum() or c in "-_" for c in name)


@pytest.mark.parametrize(
    "key, ok", [("a.mp4", True), ("a.MOV", True), ("a.avi", True), ("a.mkv", False), ("mp4", False)]
)
def test_video_keys(key: str, ok: bool) -> None:
    assert is_video_key(key) is ok


def test_state_machine_has_the_workflow_shape() -> None:
    names = {
        **{k: f"arn:fn:{v}" for k, v in TASK_FUNCTIONS.items()},
        **{k: f"arn:fn:{v}" for k, v in CONTAINER_TASKS.items()},
    }
    machine = json.loads(state_machine_definition(names))
    states = machine["States"]
    assert machine["TimeoutSeconds"] > 0
    assert states["WaitForDetection"]["Type"] == "Wait"
    choice = states["DetectionDone?"]
    assert {c["Next"] for c in choice["Choices"]} == {"GetFaceDetections", "RecordFailure"}
    assert choice["Default"] == "WaitForDetection"
    assert states["WhichDetector?"]["Default"] == "PlanSegments"
    # Segments are blurred by a Map state; each item's task has a timeout from the state.
    blur = states["BlurSegments"]
    assert blur["Type"] == "Map" and blur["ItemsPath"] == "$.segments"
    inner = blur["ItemProcessor"]["States"]["BlurSegment"]
    assert inner["Resource"] == "arn:fn:face_blur_function"
    assert inner["TimeoutSecondsPath"] == "$.timeout_seconds"
    assert blur["Catch"][0]["Next"] == "RecordFailure"
    assert states["PlanSegments"]["Next"] == "BlurSegments"
    assert states["BlurSegments"]["Next"] == "JoinSegments"
    for name, state in states.items():
        if state["Type"] == "Task":
            assert any("Lambda.ServiceException" in r["ErrorEquals"] for r in state["Retry"])
            assert 0 < state["TimeoutSeconds"] <= 900  # nothing waits for an hour
            if name != "RecordFailure":
                assert state["Catch"][0]["Next"] == "RecordFailure"


def test_unresolved_placeholders_are_refused() -> None:
    with pytest.raises(ValueError):
        state_machine_definition({}, STATE_MACHINE_FILE)


def test_rekognition_pages_are_gathered_by_timestamp() -> None:
    import boto3

    client = boto3.client(
        "rekognition", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    box = {"Left": 0.1, "Top": 0.2, "Width": 0.3, "Height": 0.4}
    with Stubber(client) as stub:
        stub.add_response(
            "get_face_detection",
            {
                "JobStatus": "SUCCEEDED",
                "NextToken": "t2",
                "Faces": [
                    {"Timestamp": 0, "Face": {"BoundingBox": box}},
                    {"Timestamp": 0, "Face": {"BoundingBox": box}},
                ],
            },
            {"JobId": "j", "MaxResults": 1000},
        )
        stub.add_response(
            "get_face_detection",
            {"JobStatus": "SUCCEEDED", "Faces": [{"Timestamp": 200, "Face": {"BoundingBox": box}}]},
            {"JobId": "j", "MaxResults": 1000, "NextToken": "t2"},
        )
        samples = RekognitionFaces(client).samples("j")
    assert [(s.t_ms, len(s.boxes)) for s in samples] == [(0, 2), (200, 1)]
    assert samples[0].boxes[0] == (0.1, 0.2, 0.3, 0.4)


def test_the_encoder_runs_at_a_constant_quantiser_unless_a_crf_is_asked_for() -> None:
    from pathlib import Path

    from chalicelib.faces.video import ENCODER_QP, _ffmpeg_command

    def rate(command: list[str]) -> list[str]:
        at = next(i for i, arg in enumerate(command) if arg in ("-qp", "-crf"))
        return command[at : at + 2]

    product = _ffmpeg_command("ffmpeg", Path("o.mp4"), 64, 48, 30.0, None)
    assert rate(product) == ["-qp", str(ENCODER_QP)] and "-crf" not in product
    assert rate(_ffmpeg_command("ffmpeg", Path("o.mp4"), 64, 48, 30.0, None, crf=18)) == [
        "-crf",
        "18",
    ]
