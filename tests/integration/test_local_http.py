"""Local HTTP servers (issue 13): `chalice local` itself does not stall keep-alive requests,
`lab local` has a real backlog and answers HEAD without a body."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.local.cloud import LocalCloud
from tests.conftest import ROOT, run_python

pytestmark = pytest.mark.integration


def test_app_py_tunes_chalice_local_only_when_chalice_local_serves_it() -> None:
    served = run_python(
        "import chalice.cli, app, chalice.local as l, json; print(json.dumps(["
        "l.ChaliceRequestHandler.disable_nagle_algorithm, "
        "l.ThreadedHTTPServer.request_queue_size]))"
    )
    assert json.loads(served) == [True, 128]
    alone = run_python("import app, sys; print('chalice.local' in sys.modules)")
    assert alone == "False"  # a Lambda's cold start imports nothing more


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def chalice_local() -> Iterator[int]:
    port = _free_port()
    chalice = str(Path(sys.executable).with_name("chalice"))
    command = [chalice, "local", "--stage", "local", "--no-autoreload", "--port", str(port)]
    env = {k: v for k, v in os.environ.items() if k not in ("STAGE", "API_AUTH")}
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_chalice_local_keep_alive_requests_do_not_stall(chalice_local: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", chalice_local, timeout=10)
    try:
        began = time.perf_counter()
        for _ in range(50):
            connection.request("GET", "/model")
            response = connection.getresponse()
            assert response.status == 200
            response.read()
        elapsed = time.perf_counter() - began
    finally:
        connection.close()
    assert elapsed < 1.5, f"50 keep-alive requests took {elapsed:.2f} s (~2.2 s with the stall)"


def test_lab_local_answers_head_without_a_body_and_queues_connections() -> None:
    with LocalCloud(port=0, http_port=0) as cloud:
        assert cloud.http_url is not None
        port = int(cloud.http_url.rsplit(":", 1)[1])
        assert cloud._http.server.request_queue_size >= 128  # type: ignore[union-attr]
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            connection.request("HEAD", "/model")
            head = connection.getresponse()
            assert head.read() == b""
            connection.request("GET", "/model")  # the same connection still works
            got = connection.getresponse()
            assert got.status == 200 and json.loads(got.read())
        finally:
            connection.close()
