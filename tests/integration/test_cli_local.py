"""`lab local` starts, serves, and stops cleanly on Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from chalicelib import aws
from devtools.local.process import start_local
from tests.conftest import ROOT

pytestmark = pytest.mark.integration


def submit_count_cells(endpoint: str, env: dict[str, str]) -> None:
    """The reference client, as a user runs it, against the running emulator."""
    from tests.images import DISCS, discs, encode
    from tests.predict_data import SEED_MALIGNANT

    s3 = aws.emulator_client("s3", endpoint)
    s3.put_object(Bucket="lab-local-data", Key="cli/cells.png", Body=encode(discs(), ".png"))
    reply = submit(
        env, endpoint, "count-cells", "s3://lab-local-data/cli/cells.png", "--chat-id", "42"
    )
    assert reply["status"] == "ok" and reply["result"]["count"] == len(DISCS)
    assert reply["attributes"] == {"chat_id": "42"}
    reply = submit(env, endpoint, "predict", json.dumps(SEED_MALIGNANT))
    assert reply["result"]["label"] == "malignant" and reply["result"]["prediction"] == 0


def submit(env: dict[str, str], endpoint: str, *args: str) -> dict:
    """``lab submit … --wait`` as a user runs it; its reply."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "devtools",
            "submit",
            *args,
            "--wait",
            "--endpoint",
            endpoint,
            "--timeout",
            "30",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return dict(json.loads(done.stdout[done.stdout.index("{") :]))


def test_local_serves_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    # Started as a shell starts a background job (`lab local &` in a script, CI): with
    # SIGINT ignored, which the child inherits; Ctrl-C must still stop it.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        process, _addresses, lines = start_local(str(tmp_path / "kept"), env)
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        output = "".join(lines)
        http = re.search(r"HTTP API\s+(http://\S+)", output)
        assert http, output
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{http.group(1)}/counts?key=nothing.png", timeout=5)
        assert missing.value.code == 404
        missing.value.close()
        emulator = re.search(r"emulator\s+(http://\S+)", output)
        assert emulator, output
        submit_count_cells(emulator.group(1), env)
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=20)
        assert process.returncode == 0, rest
        assert "stopping" in rest and "Traceback" not in rest
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
