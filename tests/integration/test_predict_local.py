"""The curl examples of docs/prediction-api.md, run against the local cloud and `chalice local`."""

from __future__ import annotations

import http.client
import io
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from chalicelib import aws
from devtools.local.cloud import LocalCloud
from tests.conftest import ROOT
from tests.predict_data import SEED_BENIGN

pytestmark = pytest.mark.integration

README_HTTP = "http://127.0.0.1:8000"
README_EMULATOR = "http://127.0.0.1:4566"


@dataclass(frozen=True)
class Example:
    command: str
    expected: str


def readme_examples() -> list[Example]:
    """Every ``$ command`` and the output shown under it, in the Prediction API's page."""
    section = (ROOT / "docs" / "prediction-api.md").read_text()
    examples = []
    for block in re.findall(r"```\n(.*?)```", section, re.DOTALL):
        lines = block.splitlines()
        index = 0
        while index < len(lines):
            if not lines[index].startswith("$ "):
                index += 1
                continue
            command = lines[index][2:]
            while command.endswith("\\") or command.count("'") % 2:  # continued
                index += 1
                command = command + "\n" + lines[index]
            index += 1
            output = []
            while index < len(lines) and not lines[index].startswith("$ "):
                output.append(lines[index])
                index += 1
            examples.append(Example(command, "\n".join(output).strip()))
    return examples


def run_example(example: Example, http_url: str, emulator: str, cwd: Path) -> str:
    command = example.command.replace(README_HTTP, http_url).replace(README_EMULATOR, emulator)
    done = subprocess.run(
        ["bash", "-c", command], cwd=cwd, capture_output=True, text=True, timeout=30, check=True
    )
    return done.stdout.strip()


def assert_matches(expected: str, actual: str) -> None:
    if expected.endswith("..."):
        assert actual.startswith(expected[:-3]), actual
        return
    status = re.search(r" HTTP (\d{3})$", expected)
    if status:
        assert actual.endswith(status.group(0)), actual
        expected, actual = expected[: status.start()], actual[: -len(status.group(0))]
    if expected.startswith("{"):
        want, got = json.loads(expected), json.loads(actual)
        want.pop("elapsed_ms", None)
        got.pop("elapsed_ms", None)
        assert got == want
    else:
        assert actual == expected


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(port=0, http_port=0) as running:
        yield running


@pytest.fixture(scope="module")
def chalice_cli(cloud: LocalCloud) -> Iterator[str]:
    """The stock `chalice local --stage local`, talking to the emulator for S3."""
    chalice = Path(sys.executable).with_name("chalice")
    if not chalice.exists():
        pytest.skip("the chalice CLI is not installed")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k.startswith(("AWS_", "PATH", "HOME"))}
    process = subprocess.Popen(
        [str(chalice), "local", "--stage", "local", "--no-autoreload", "--port", str(port)],
        cwd=ROOT,
        env={**env, "AWS_ENDPOINT_URL": cloud.endpoint, "STAGE": "local"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
@pytest.mark.parametrize("server", ["lab local", "chalice local"])
def test_readme_curl_examples(
    server: str, cloud: LocalCloud, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    http_url = (
        cloud.http_url if server.startswith("lab") else request.getfixturevalue("chalice_cli")
    )
    assert http_url is not None
    examples = readme_examples()
    assert len(examples) >= 8 and any("/predict/batch" in e.command for e in examples)
    for example in examples:
        assert_matches(example.expected, run_example(example, http_url, cloud.endpoint, tmp_path))


def test_batch_of_the_seeds_joblib_format(cloud: LocalCloud) -> None:
    np = pytest.importorskip("numpy")
    joblib = pytest.importorskip("joblib")
    assert cloud.settings is not None and cloud.http_url is not None
    rows = np.array([[SEED_BENIGN[k] for k in SEED_BENIGN]] * 3)
    buffer = io.BytesIO()
    joblib.dump(rows, buffer, compress=3)
    aws.client("s3").put_object(
        Bucket=cloud.settings.data_bucket, Key="X_test.joblib", Body=buffer.getvalue()
    )
    body = json.dumps({"bucket": cloud.settings.data_bucket, "key": "X_test.joblib"}).encode()
    answer = urllib.request.urlopen(
        urllib.request.Request(
            f"{cloud.http_url}/predict/batch",
            data=body,
            headers={"Content-Type": "application/json"},
        ),
        timeout=30,
    )
    with answer:
        summary = json.loads(answer.read())
    assert summary["rows"] == 3 and summary["counts"] == {"benign": 3}
    out = aws.client("s3").get_object(
        Bucket=cloud.settings.results_bucket, Key="predictions/X_test.joblib.csv"
    )
    assert out["Body"].read().decode().count("\n") == 4


def test_keep_alive_requests_do_not_stall(cloud: LocalCloud) -> None:
    # chalice's handler sends headers and body separately; without TCP_NODELAY each
    # keep-alive response waits ~40 ms for the client's delayed ACK.
    assert cloud.http_url is not None
    port = int(cloud.http_url.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    body = json.dumps(SEED_BENIGN).encode()
    latencies = []
    try:
        for _ in range(50):
            began = time.perf_counter()
            connection.request(
                "POST", "/predict", body=body, headers={"Content-Type": "application/json"}
            )
            response = connection.getresponse()
            assert response.status == 200 and json.loads(response.read())["label"] == "benign"
            latencies.append(time.perf_counter() - began)
    finally:
        connection.close()
    assert statistics.median(latencies) < 0.02, f"median {statistics.median(latencies):.3f} s"
