"""``make smoke STAGE=…``: after a deploy, one of everything, end to end, with one correlation id.

1. uploads a sample image (``samples/coins.png``) to the images bucket and waits for
   its count through ``GET /counts``;
2. uploads the sample video with a face (``samples/face.mp4``) to the videos bucket
   and waits for the face-blur result JSON next to the blurred video;
3. uploads the bundled ExampleVitra pipeline and images to the data bucket, sends a
   painting message and waits for ``GET /painting/jobs/{id}`` to finish;
4. sends a chat job (the bot's plain text ``count s3://…``) and waits for its reply on
   the results queue;
5. calls ``POST /predict`` with one row.

Every upload and message carries the run's correlation id (S3 metadata, SQS
attribute, HTTP header). Each result is printed, then the dashboard URL; the exit
status is non-zero when any step failed or timed out. ``make test`` runs the same
:class:`Smoke` against the local cloud (``tests/integration/test_smoke_local.py``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib import observability
from chalicelib.config import PROJECT_DIR, Settings

SAMPLE_IMAGE = PROJECT_DIR / "samples" / "coins.png"
SAMPLE_VIDEO = PROJECT_DIR / "samples" / "face.mp4"
PREDICT_ROW = {
    "meanConcavePoints": 0.07951,
    "worstRadius": 24.86,
    "worstTexture": 26.58,
    "worstArea": 1866.0,
    "worstConcavePoints": 0.1789,
}
TERMINAL_PAINTING = ("succeeded", "failed", "rejected")


@dataclass
class Step:
    name: str
    ok: bool = False
    result: Any = None
    problem: str = ""
    seconds: float = 0.0


class Api:
    """The stage's REST API: JSON in and out, with the caller's credentials."""

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str] | None = None,
        sign: Callable[[str, str, bytes, dict[str, str]], dict[str, str]] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = dict(headers or {})
        self.sign = sign

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else b""
        url = self.base_url + path
        headers = {
            **self.headers,
            "Content-Type": "application/json",
            "Connection": "close",
            observability.HEADER: observability.correlation_id(),
        }
        if self.sign is not None:
            headers = self.sign(method, url, data, headers)
        request = urllib.request.Request(url, data=data or None, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            text = error.read()
            try:
                return error.code, json.loads(text)
            except ValueError:
                return error.code, text.decode(errors="replace")


@dataclass
class Smoke:
    """One run against a stage: ``clients`` gives boto3 clients, ``api`` the REST API."""

    settings: Settings
    clients: Callable[[str], Any]
    api: Api
    timeout: float = 600.0
    painting_timeout: float = 1800.0  # Batch starts an instance first: minutes
    poll: float = 2.0
    run_id: str = field(default_factory=lambda: time.strftime("%Y%m%dT%H%M%S"))
    # (s3, bucket, prefix) -> the painting message's pipeline/input/output keys
    painting_dataset: Callable[[Any, str, str], dict[str, str]] = field(
        default_factory=lambda: upload_example_plate
    )
    steps: list[Step] = field(default_factory=list)

    @property
    def prefix(self) -> str:
        return f"smoke/{self.run_id}/"

    def run(self) -> list[Step]:
        """Start everything, then wait for each result in turn."""
        with observability.correlated() as correlation_id:
            self.correlation_id = correlation_id
            waits = [
                ("count an uploaded image", self.upload_image),
                ("blur faces in an uploaded video", self.upload_video),
                ("Cell Painting message", self.send_painting),
                ("chat job", self.send_chat_job),
                ("POST /predict", self.predict),
            ]
            pending = []
            for name, start in waits:
                step = Step(name)
                self.steps.append(step)
                try:
                    pending.append((step, start(), time.monotonic()))
                except Exception as error:  # noqa: BLE001 - a smoke test reports, not raises
                    step.problem = f"could not start: {type(error).__name__}: {error}"
            for step, wait, started in pending:
                self._finish(step, wait, started)
        return self.steps

    def _finish(self, step: Step, wait: Callable[[], tuple[bool, Any]], started: float) -> None:
        try:
            step.ok, step.result = wait()
        except Exception as error:  # noqa: BLE001
            step.problem = f"{type(error).__name__}: {error}"
        if not step.ok and not step.problem:
            step.problem = "failed" if step.result is not None else "timed out"
        step.seconds = time.monotonic() - started

    # -- the five things ---------------------------------------------------------------------
    def upload_image(self) -> Callable[[], tuple[bool, Any]]:
        key = self.prefix + SAMPLE_IMAGE.name
        self._put(self.settings.images_bucket, key, SAMPLE_IMAGE.read_bytes())

        def wait() -> tuple[bool, Any]:
            result = self._until(lambda: self._api_json("GET", f"/counts?key={key}"))
            return bool(result and result.get("status") == "ok" and result["count"] > 0), result

        return wait

    def upload_video(self) -> Callable[[], tuple[bool, Any]]:
        from chalicelib.faces.messages import FaceBlurJob

        key = self.prefix + SAMPLE_VIDEO.name
        self._put(self.settings.videos_bucket, key, SAMPLE_VIDEO.read_bytes())
        result_key = FaceBlurJob("", key, "", "", "", 0).result_key  # next to the output video
        bucket = self.settings.blurred_videos_bucket

        def wait() -> tuple[bool, Any]:
            result = self._until(lambda: self._s3_json(bucket, result_key))
            return bool(result and result.get("status") == "ok"), result

        return wait

    def send_painting(self) -> Callable[[], tuple[bool, Any]]:
        from chalicelib.painting import layout

        bucket = self.settings.data_bucket
        message = self.painting_dataset(self.clients("s3"), bucket, self.prefix + "painting/")
        self._send(self.settings.painting_queue, json.dumps(message))
        job_id = layout.job_key(bucket, message["pipeline"], message["input"], message["output"])

        def wait() -> tuple[bool, Any]:
            def finished() -> Any:
                status = self._api_json("GET", f"/painting/jobs/{job_id}")
                return status if status and status.get("state") in TERMINAL_PAINTING else None

            status = self._until(finished, self.painting_timeout)
            return bool(status and status["state"] == "succeeded"), status

        return wait

    def send_chat_job(self) -> Callable[[], tuple[bool, Any]]:
        from devtools.bot import BotClient

        image = self.prefix + "chat-" + SAMPLE_IMAGE.name
        self._put(self.settings.data_bucket, image, SAMPLE_IMAGE.read_bytes(), metadata=False)
        text = f"count s3://{self.settings.data_bucket}/{image}"
        job_id = self._send(self.settings.jobs_queue, text, chat_id="smoke")

        def wait() -> tuple[bool, Any]:
            reply = BotClient(self.settings, self.clients("sqs")).wait(job_id, self.timeout)
            return bool(reply and reply.get("status") == "ok"), reply

        return wait

    def predict(self) -> Callable[[], tuple[bool, Any]]:
        status, body = self.api.call("POST", "/predict", PREDICT_ROW)

        def wait() -> tuple[bool, Any]:
            ok = status == 200 and isinstance(body, dict) and "prediction" in body
            return ok, {"http_status": status, "body": body}

        return wait

    # -- helpers -----------------------------------------------------------------------------
    def _put(self, bucket: str, key: str, body: bytes, metadata: bool = True) -> None:
        extra = {"Metadata": {observability.METADATA_KEY: self.correlation_id}} if metadata else {}
        self.clients("s3").put_object(Bucket=bucket, Key=key, Body=body, **extra)

    def _send(self, queue: str, body: str, **attributes: str) -> str:
        sqs = self.clients("sqs")
        message_attributes = {
            **observability.sqs_attribute(self.correlation_id),
            **{k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
        }
        sent = sqs.send_message(
            QueueUrl=sqs.get_queue_url(QueueName=queue)["QueueUrl"],
            MessageBody=body,
            MessageAttributes=message_attributes,
        )
        return str(sent["MessageId"])

    def _api_json(self, method: str, path: str) -> Any:
        status, body = self.api.call(method, path)
        if status == 404:
            return None
        if status != 200:
            raise RuntimeError(f"{method} {path}: HTTP {status}: {body}")
        return body

    def _s3_json(self, bucket: str, key: str) -> Any:
        from chalicelib.storage import Bucket

        return Bucket(self.clients("s3"), bucket).read_json(key)

    def _until(self, probe: Callable[[], Any], timeout: float | None = None) -> Any:
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            value = probe()
            if value or time.monotonic() > deadline:
                return value
            time.sleep(self.poll)


def upload_example_plate(s3: Any, bucket: str, prefix: str) -> dict[str, str]:
    """The bundled ExampleVitra pipeline and two image sets, as a painting message's keys."""
    from devtools.local.painting import SAMPLE, upload_example

    upload_example(s3, bucket, SAMPLE, prefix)
    return {
        "pipeline": prefix + "ExampleVitra.cppipe",
        "input": prefix + "images/",
        "output": prefix + "output/",
    }


def report(steps: list[Step], correlation_id: str, dashboard: str, out: Any = sys.stdout) -> int:
    """Print each step's result; 0 when every step passed."""
    out.write(f"smoke run, correlation id {correlation_id}\n")
    for step in steps:
        mark = "ok  " if step.ok else "FAIL"
        problem = f": {step.problem}" if step.problem else ""
        out.write(f"{mark} {step.name} ({step.seconds:.1f} s){problem}\n")
        out.write("     " + json.dumps(summary(step.result), default=str)[:600] + "\n")
    out.write(f"dashboard: {dashboard}\n")
    failed = [s.name for s in steps if not s.ok]
    out.write(("FAILED: " + ", ".join(failed) if failed else "all passed") + "\n")
    out.flush()
    return 1 if failed else 0


def summary(result: Any) -> Any:
    """A result without its long lists (a count's cells): what a person reads."""
    if isinstance(result, dict):
        return {k: summary(v) for k, v in result.items() if not _long_list(v)}
    return result


def _long_list(value: Any) -> bool:
    return isinstance(value, list) and len(value) > 5


# -- against a deployed stage -------------------------------------------------------------------
def stage_api(target: Any, region: str, session: Any) -> Api:
    """The stage's REST API with the caller's credentials (API key, or SigV4 for IAM)."""
    from infra.deploy import chalice_deployed

    url = chalice_deployed(target).get("rest_api_url")
    if not url:
        raise SystemExit(f"no REST API recorded for {target.name}: deploy first (make deploy)")
    auth = target.settings.api_auth
    if auth == "api_key":
        keys = session.client("apigateway").get_api_keys(
            nameQuery=f"{target.prefix}-api-key", includeValues=True
        )["items"]
        if not keys:
            raise SystemExit(f"no API key {target.prefix}-api-key: was the API stack deployed?")
        return Api(url, headers={"x-api-key": keys[0]["value"]})
    if auth == "iam":
        return Api(url, sign=_sigv4(session, region))
    return Api(url)


def _sigv4(
    session: Any, region: str
) -> Callable[[str, str, bytes, dict[str, str]], dict[str, str]]:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    credentials = session.get_credentials()

    def sign(method: str, url: str, data: bytes, headers: dict[str, str]) -> dict[str, str]:
        request = AWSRequest(method=method, url=url, data=data, headers=headers)
        SigV4Auth(credentials, "execute-api", region).add_auth(request)
        return dict(request.headers.items())

    return sign


def main(argv: list[str] | None = None) -> int:
    import os

    import boto3

    from infra import deploy
    from infra.stages import stage

    parser = argparse.ArgumentParser(prog="python -m devtools.smoke", description=__doc__)
    parser.add_argument("--stage", required=True)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per result")
    args = parser.parse_args(argv)
    target = stage(args.stage)
    region = deploy.resolve_region(os.environ, deploy.profile_region)
    if not region:
        raise SystemExit("set AWS_REGION (or AWS_DEFAULT_REGION / a profile's region) first")
    runner = deploy.Runner(dry_run=False, python=sys.executable)
    runner.region = region
    deploy.fetch_state(runner, target)
    session = boto3.session.Session(region_name=region)
    smoke = Smoke(target.settings, session.client, stage_api(target, region, session), args.timeout)
    steps = smoke.run()
    return report(steps, smoke.correlation_id, deploy.dashboard_url(target, region))


if __name__ == "__main__":
    raise SystemExit(main())
