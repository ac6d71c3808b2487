"""Cell counting through the app's handlers (chalice.test.Client) on in-memory AWS."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from chalicelib.cells.container import CellCounter, handle_count_request
from chalicelib.cells.handlers import Intake
from chalicelib.cells.messages import CountRequest, ResultKeys
from chalicelib.config import Settings
from tests.images import DISCS, discs, encode, png_header_only


def upload(s3: Any, settings: Settings, key: str, body: bytes, **extra: Any) -> str:
    put = s3.put_object(Bucket=settings.images_bucket, Key=key, Body=body, **extra)
    return put["ETag"].strip('"')


def result(s3: Any, settings: Settings, key: str) -> dict[str, Any]:
    body = s3.get_object(Bucket=settings.results_bucket, Key=ResultKeys.for_image(key).result)
    return json.loads(body["Body"].read())


def fire_upload(client: Any, settings: Settings, key: str) -> None:
    event = client.events.generate_s3_event(bucket=settings.images_bucket, key=key)
    client.lambda_.invoke("on_image_uploaded", event)


def test_upload_is_validated_and_sent_to_the_counter(client, s3, fake_lambda, settings) -> None:
    etag = upload(s3, settings, "plate 1/a.png", encode(discs(), ".png"))
    fire_upload(client, settings, "plate 1/a.png")
    [invocation] = fake_lambda.invocations
    assert invocation["FunctionName"] == settings.cell_counter_function
    assert invocation["InvocationType"] == "Event"
    assert invocation["Payload"]["key"] == "plate 1/a.png" and invocation["Payload"]["etag"] == etag


def test_counter_writes_results_that_the_route_returns(client, s3, fake_lambda, settings) -> None:
    upload(s3, settings, "a.png", encode(discs(), ".png"))
    fire_upload(client, settings, "a.png")
    document = handle_count_request(fake_lambda.invocations[0]["Payload"])
    assert document["status"] == "ok" and document["count"] == len(DISCS)
    response = client.http.get("/counts?key=a.png")
    assert response.status_code == 200
    body = json.loads(response.body)
    assert body["count"] == len(DISCS) and (body["width"], body["height"]) == (180, 180)
    assert {"bucket", "key", "etag", "method", "parameters", "cells", "elapsed_ms"} <= set(body)
    assert set(body["cells"][0]) >= {"x", "y", "r"}
    keys = ResultKeys.for_image("a.png")
    assert (
        s3.get_object(Bucket=settings.results_bucket, Key=keys.annotated)["ContentType"]
        == "image/png"
    )
    csv = s3.get_object(Bucket=settings.results_bucket, Key=keys.cells)["Body"].read().decode()
    assert len(csv.strip().splitlines()) == 1 + len(DISCS)


@pytest.mark.parametrize(
    "key, body, reason",
    [
        ("empty.png", b"", "empty"),
        ("notes.txt", b"hello", "unsupported file extension .txt"),
        ("noext", b"\x89PNG", "unsupported file extension (none)"),
    ],
)
def test_intake_rejects_with_an_error_result(client, s3, fake_lambda, settings, key, body, reason):
    upload(s3, settings, key, body)
    fire_upload(client, settings, key)
    assert fake_lambda.invocations == []
    document = result(s3, settings, key)
    assert document["status"] == "error" and reason in document["error"]["reason"]


def test_oversized_object_is_rejected_before_download(s3, fake_lambda, settings) -> None:
    upload(s3, settings, "big.png", encode(discs(), ".png"))
    intake = Intake(Settings(max_image_bytes=100), s3, fake_lambda)
    assert intake.accept(settings.images_bucket, "big.png") == "rejected"
    assert result(s3, settings, "big.png")["error"]["type"] == "too_large"


def test_object_deleted_before_the_event_is_handled(s3, fake_lambda, settings) -> None:
    intake = Intake(settings, s3, fake_lambda)
    assert intake.accept(settings.images_bucket, "gone.png") == "gone"
    assert fake_lambda.invocations == []


@pytest.mark.parametrize(
    "key, body, kind, reason",
    [
        ("fake.png", b"this is not an image at all", "unsupported_type", "not a PNG, JPEG or TIFF"),
        ("cut.jpg", encode(discs(), ".jpg")[:300], "corrupt_input", "truncated"),
        ("bomb.png", png_header_only(20_000, 10_000), "too_large", "megapixels"),
    ],
)
def test_counter_answers_bad_images_with_error_results(s3, settings, key, body, kind, reason):
    etag = upload(s3, settings, key, body)
    document = handle_count_request({"bucket": settings.images_bucket, "key": key, "etag": etag})
    assert document["status"] == "error"
    stored = result(s3, settings, key)
    assert stored["error"]["type"] == kind and reason in stored["error"]["reason"]


@pytest.mark.parametrize(
    "ext, dtype, channels",
    [
        (".tif", np.uint16, 1),
        (".png", np.uint16, 1),
        (".jpg", np.uint8, 3),
        (".png", np.uint8, 4),
    ],
)
def test_counter_reads_every_supported_kind(s3, settings, ext, dtype, channels) -> None:
    import cv2

    image = discs(dtype=dtype)
    if channels > 1:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR if channels == 3 else cv2.COLOR_GRAY2BGRA)
    etag = upload(s3, settings, f"img{ext}", encode(image, ext))
    document = handle_count_request(
        {"bucket": settings.images_bucket, "key": f"img{ext}", "etag": etag}
    )
    assert document["count"] == len(DISCS)


def test_duplicate_event_does_not_count_twice(s3, settings) -> None:
    etag = upload(s3, settings, "a.png", encode(discs(), ".png"))
    payload = {"bucket": settings.images_bucket, "key": "a.png", "etag": etag}
    first = handle_count_request(payload)
    writes = len(s3.puts)
    assert handle_count_request(payload)["count"] == first["count"]
    assert len(s3.puts) == writes


def test_event_for_an_overwritten_object_is_skipped(s3, settings) -> None:
    old = upload(s3, settings, "a.png", encode(discs(), ".png"))
    new = upload(s3, settings, "a.png", encode(discs(centres=((50, 50),)), ".png"))
    assert (
        handle_count_request({"bucket": settings.images_bucket, "key": "a.png", "etag": old})[
            "status"
        ]
        == "skipped"
    )
    document = handle_count_request({"bucket": settings.images_bucket, "key": "a.png", "etag": new})
    assert document["count"] == 1 and result(s3, settings, "a.png")["etag"] == new


def test_per_upload_parameters_travel_as_metadata(client, s3, fake_lambda, settings) -> None:
    upload(
        s3,
        settings,
        "a.png",
        encode(discs(), ".png"),
        Metadata={"count-method": "hough", "count-min-radius": "20", "count-max-radius": "40"},
    )
    fire_upload(client, settings, "a.png")
    document = handle_count_request(fake_lambda.invocations[0]["Payload"])
    assert document["parameters"]["min_radius"] == 20 and document["count"] == 0


def test_bad_parameters_give_an_error_result(client, s3, fake_lambda, settings) -> None:
    upload(s3, settings, "a.png", encode(discs(), ".png"), Metadata={"count-method": "magic"})
    fire_upload(client, settings, "a.png")
    handle_count_request(fake_lambda.invocations[0]["Payload"])
    assert "unknown counting method" in result(s3, settings, "a.png")["error"]["reason"]


def test_route_errors_have_real_status_codes(client, s3) -> None:
    missing = client.http.get("/counts")
    assert missing.status_code == 400 and "key" in json.loads(missing.body)["reason"]
    assert client.http.get("/counts?key=never.png").status_code == 404


def count_upload(client: Any, s3: Any, fake_lambda: Any, settings: Settings, key: str) -> dict:
    fire_upload(client, settings, key)
    return handle_count_request(fake_lambda.invocations[-1]["Payload"])


def test_new_parameters_count_again_and_older_runs_stay_readable(
    client, s3, fake_lambda, settings
) -> None:
    body = encode(discs(), ".png")
    upload(s3, settings, "p.png", body)
    first = count_upload(client, s3, fake_lambda, settings, "p.png")
    assert first["count"] == len(DISCS)
    upload(s3, settings, "p.png", body, Metadata={"count-method": "hough", "count-param2": "1000"})
    second = count_upload(client, s3, fake_lambda, settings, "p.png")
    assert second["run"] != first["run"] and second["method"] == "hough" and second["count"] == 0
    latest = json.loads(client.http.get("/counts?key=p.png").body)
    assert latest["run"] == second["run"] and latest["count"] == 0
    older = json.loads(client.http.get(f"/counts?key=p.png&run={first['run']}").body)
    assert older["count"] == len(DISCS) and older["method"] == "watershed"
    runs = json.loads(client.http.get("/counts?key=p.png&runs=1").body)["runs"]
    assert [r["run"] for r in runs] == [first["run"], second["run"]]
    assert client.http.get("/counts?key=p.png&run=../x").status_code == 400
    assert client.http.get("/counts?key=p.png&run=watershed-000000000000").status_code == 404


def test_the_same_object_and_parameters_are_counted_once(client, s3, fake_lambda, settings) -> None:
    upload(s3, settings, "once.png", encode(discs(), ".png"))
    first = count_upload(client, s3, fake_lambda, settings, "once.png")
    again = handle_count_request(fake_lambda.invocations[-1]["Payload"])
    assert again["written"] == first_written(s3, settings, "once.png", first["run"])


def first_written(s3: Any, settings: Settings, key: str, run: str) -> str:
    body = s3.get_object(Bucket=settings.results_bucket, Key=ResultKeys.for_run(key, run).result)
    return str(json.loads(body["Body"].read())["written"])


def test_a_chat_bot_count_never_overwrites_an_uploads_result(
    client, s3, fake_lambda, settings
) -> None:
    upload(s3, settings, "shared.png", encode(discs(), ".png"))
    mine = count_upload(client, s3, fake_lambda, settings, "shared.png")
    other_bucket = settings.images_bucket + "-other"
    s3.create_bucket(Bucket=other_bucket)
    put = s3.put_object(
        Bucket=other_bucket, Key="shared.png", Body=encode(np.zeros((64, 64), np.uint8), ".png")
    )
    bot = handle_count_request(
        {
            "bucket": other_bucket,
            "key": "shared.png",
            "etag": put["ETag"].strip('"'),
            "origin": "bot",
        }
    )
    assert bot["count"] == 0 and bot["origin"] == "bot" and bot["run"] != mine["run"]
    latest = json.loads(client.http.get("/counts?key=shared.png").body)
    assert latest["run"] == mine["run"] and latest["count"] == len(DISCS)
    kept = json.loads(client.http.get(f"/counts?key=shared.png&run={bot['run']}").body)
    assert kept["bucket"] == other_bucket and kept["count"] == 0


def test_result_has_qc_and_the_csv_marks_flagged_objects(client, s3, fake_lambda, settings) -> None:
    image = discs(shape=(200, 260), centres=((30, 40), (30, 160), (230, 170)), radius=8)
    import cv2

    cv2.line(image, (70, 40), (220, 130), 255, 14)
    upload(s3, settings, "fibre.png", encode(image, ".png"), Metadata={"count-diameter": "16"})
    document = count_upload(client, s3, fake_lambda, settings, "fibre.png")
    assert document["count"] == 3 and len(document["flagged"]) == 1
    qc = document["qc"]
    assert qc["image_type"] == "fluorescence" and qc["flagged_objects"] == 1
    assert {
        "image_type_confidence",
        "diameter_px",
        "saturated_fraction",
        "focus",
        "warnings",
    } <= set(qc)
    assert isinstance(document["reliable"], bool)
    csv_text = (
        s3.get_object(Bucket=settings.results_bucket, Key=ResultKeys.for_image("fibre.png").cells)[
            "Body"
        ]
        .read()
        .decode()
    )
    header, *rows = csv_text.strip().splitlines()
    assert header.startswith("ObjectNumber,Counted,Flag,")
    assert [row.split(",")[1] for row in rows] == ["1", "1", "1", "0"]
    assert "long" in rows[-1]


def test_an_image_keyed_inside_another_images_runs_is_not_one_of_its_runs(
    client, s3, fake_lambda, settings
) -> None:
    # S3 keys are free text: "p.png/runs/x.png" is an image of its own, whose results
    # sit under counts/p.png/runs/x.png/ — inside p.png's runs prefix.
    upload(s3, settings, "p.png/runs/x.png", encode(discs(), ".png"))
    other = count_upload(client, s3, fake_lambda, settings, "p.png/runs/x.png")
    assert other["status"] == "ok"
    listed = json.loads(client.http.get("/counts?key=p.png&runs=1").body)
    assert listed["runs"] == []
    response = client.http.get("/counts?key=p.png")
    assert response.status_code == 404 and "no result" in response.body.decode()
    upload(s3, settings, "p.png", encode(discs(), ".png"))
    own = count_upload(client, s3, fake_lambda, settings, "p.png")
    runs = json.loads(client.http.get("/counts?key=p.png&runs=1").body)["runs"]
    assert [r["run"] for r in runs] == [own["run"]]


class FailingOnce:
    """The S3 client, but the first write of one key fails as an outage would."""

    def __init__(self, inner: Any, key: str) -> None:
        self._inner = inner
        self._key = key
        self.failed = False

    def put_object(self, **kwargs: Any) -> Any:
        if kwargs["Key"] == self._key and not self.failed:
            self.failed = True
            raise ConnectionError("S3 went away mid-run")
        return self._inner.put_object(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_a_count_interrupted_after_its_run_was_written_still_replaces_the_latest(
    client, s3, fake_lambda, settings
) -> None:
    # The run's files are written first, then the copy GET /counts returns. An outage
    # between them used to leave the retry seeing "already counted" (the run's JSON)
    # and stop, so GET /counts kept answering the previous upload's count.
    upload(s3, settings, "q.png", encode(discs(), ".png"))
    assert count_upload(client, s3, fake_lambda, settings, "q.png")["count"] == len(DISCS)
    upload(s3, settings, "q.png", encode(discs(centres=DISCS[:2]), ".png"))  # a new version
    fire_upload(client, settings, "q.png")
    payload = fake_lambda.invocations[-1]["Payload"]
    flaky = FailingOnce(s3, ResultKeys.for_image("q.png").annotated)
    counter = CellCounter(settings, flaky)
    with pytest.raises(ConnectionError):
        counter.process(CountRequest.from_payload(payload))
    assert flaky.failed
    assert counter.process(CountRequest.from_payload(payload))["count"] == 2  # the retry
    latest = json.loads(client.http.get("/counts?key=q.png").body)
    assert latest["count"] == 2 and latest["etag"] == payload["etag"]
    annotated = s3.get_object(
        Bucket=settings.results_bucket, Key=ResultKeys.for_image("q.png").annotated
    )
    assert annotated["ContentLength"] > 0
