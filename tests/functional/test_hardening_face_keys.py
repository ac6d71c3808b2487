"""Face blurring: odd upload keys get an error result, distinct keys distinct outputs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.config import Settings
from chalicelib.faces.messages import FaceBlurJob, output_names


@pytest.mark.parametrize("key", [".", "..", "a/."])  # "/", "a/": folder markers (qa8)
def test_a_key_without_a_name_gets_an_error_result(client, s3: Any, settings: Settings, key):
    s3.put_object(Bucket=settings.videos_bucket, Key=key, Body=b"x")
    event = client.events.generate_s3_event(bucket=settings.videos_bucket, key=key)
    client.lambda_.invoke("on_video_uploaded", event)  # raised ValueError before
    body = s3.get_object(Bucket=settings.blurred_videos_bucket, Key=output_names(key)["result"])
    document = json.loads(body["Body"].read())
    assert document["status"] == "error" and document["key"] == key
    assert document["error"]["type"] == "unsupported_type"


COLLIDING = [
    ["clip.mov", "clip.mp4", "clip.MP4", "clip.avi", "clip.mov.mp4"],
    ["a/b.mp4", "a//b.mp4", "a/./b.mp4", "a/b.mp4/", "/a/b.mp4", "./a/b.mp4"],
    ["a.mp4", "a.mp4/", "a.mp4."],
]


@pytest.mark.parametrize("keys", COLLIDING)
def test_distinct_uploads_never_share_an_output(keys: list[str]) -> None:
    written = [name for key in keys for name in output_names(key).values()]
    assert len(set(written)) == len(written)  # clip.mov and clip.mp4 both wrote clip.mp4


def test_ordinary_names_stay_readable() -> None:
    job = FaceBlurJob("in", "lab/clip one.mov", "e1", "out", "opencv", 1)
    assert job.output_key == "lab/clip one.mov.blurred.mp4"
    assert job.result_key == "lab/clip one.mov.json"
    assert job.review_key == "lab/clip one.mov.review.png"
